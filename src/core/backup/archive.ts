import { createHash, type Hash } from 'node:crypto';
import { TallyError } from '../../errors.js';

/**
 * Tally's backup archive, store-neutral so that a SQLite store restores into PostgreSQL and back.
 * One JSON document per line (the file around it is gzip'd by the caller):
 *
 *   {"format":"tally-backup","version":1,"tally":"0.1.0","schema":"0012_...","createdAt":"...","dialect":"sqlite",
 *    "tables":[{"name":"users","columns":["id","username",...],"rows":2},...]}
 *   {"t":"users","r":[1,"admin",...]}                 one per row, tables in the header's order
 *   {"end":{"rows":N,"sha256":"hex"}}                  the SHA-256 of every byte before this line
 *
 * The header carries each table's row count, read in the same snapshot as the rows, so a reader
 * knows the archive is whole (and one point in time) before anything is written. Values are what
 * both dialects store the same way: integers (epoch milliseconds, 0/1 flags, ids), text and null;
 * bytes, should a column ever hold them, as {"base64": "..."}.
 */
export const ARCHIVE_FORMAT = 'tally-backup';
export const ARCHIVE_VERSION = 1;

export type CellValue = string | number | null | Buffer;

export interface ArchiveTable {
  name: string;
  /** Column names, in the order of each row's values. */
  columns: string[];
  rows: number;
}

export interface ArchiveHeader {
  format: typeof ARCHIVE_FORMAT;
  version: number;
  /** The Tally version that wrote it. */
  tally: string;
  /** The name of the store's latest applied migration. */
  schema: string;
  createdAt: string;
  dialect: string;
  /** In an order that inserts referenced rows before the rows that reference them. */
  tables: ArchiveTable[];
}

export type ArchiveRecord =
  | { kind: 'header'; header: ArchiveHeader }
  | { kind: 'row'; table: ArchiveTable; values: CellValue[] }
  | { kind: 'end'; rows: number };

function invalid(message: string): TallyError {
  return new TallyError('BACKUP_INVALID', message);
}

function encodeCell(value: unknown, where: () => string): unknown {
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${where()} holds ${value}, which an archive cannot keep.`);
    return value;
  }
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
      throw new TypeError(`${where()} holds an integer beyond 2^53.`);
    return Number(value);
  }
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  throw new TypeError(`${where()} holds a value of type ${typeof value}, which an archive cannot keep.`);
}

function decodeCell(value: unknown): CellValue {
  if (value === null || typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const base64 = (value as { base64?: unknown }).base64;
    if (typeof base64 === 'string' && Object.keys(value).length === 1) return Buffer.from(base64, 'base64');
  }
  throw invalid('The archive holds a value of an unknown kind.');
}

/** Counts each table's rows against the header's and moves through the tables in order. */
class TableCursor {
  private index = 0;
  private seen = 0;
  total = 0;

  constructor(private readonly tables: readonly ArchiveTable[]) {}

  /** The table a row of `name` belongs to, or undefined when it is out of order or one too many. */
  advance(name: string): ArchiveTable | undefined {
    for (;;) {
      const table = this.tables[this.index];
      if (table === undefined) return undefined;
      if (table.name === name && this.seen < table.rows) {
        this.seen++;
        this.total++;
        return table;
      }
      if (this.seen !== table.rows) return undefined;
      this.index++;
      this.seen = 0;
    }
  }

  /** Whether every table has had exactly its rows. */
  complete(): boolean {
    const remaining = this.tables.slice(this.index);
    const [current, ...later] = remaining;
    return (current === undefined || current.rows === this.seen) && later.every((table) => table.rows === 0);
  }
}

/** Writes an archive line by line; the caller compresses and stores the lines. */
export class ArchiveEncoder {
  private readonly hash: Hash = createHash('sha256');
  private readonly cursor: TableCursor;

  constructor(private readonly header: ArchiveHeader) {
    this.cursor = new TableCursor(header.tables);
  }

  private hashed(document: unknown): string {
    const line = `${JSON.stringify(document)}\n`;
    this.hash.update(line, 'utf8');
    return line;
  }

  start(): string {
    return this.hashed(this.header);
  }

  /** One row, its values by the header's column order. Refuses rows beyond the header's counts. */
  row(tableName: string, row: Readonly<Record<string, unknown>>): string {
    const table = this.cursor.advance(tableName);
    if (!table) throw new Error(`Row of ${tableName} beyond the counts of the archive's header.`);
    return this.hashed({ t: table.name, r: table.columns.map((column) => encodeCell(row[column], () => `${table.name}.${column}`)) });
  }

  /** The closing line; refuses when a table had fewer rows than its header promised. */
  end(): string {
    if (!this.cursor.complete()) throw new Error("The rows read do not match the counts of the archive's header.");
    return `${JSON.stringify({ end: { rows: this.cursor.total, sha256: this.hash.digest('hex') } })}\n`;
  }
}

function isTable(value: unknown): value is ArchiveTable {
  const table = value as ArchiveTable;
  return (
    typeof table === 'object' &&
    table !== null &&
    typeof table.name === 'string' &&
    Array.isArray(table.columns) &&
    table.columns.every((column) => typeof column === 'string') &&
    Number.isSafeInteger(table.rows) &&
    table.rows >= 0
  );
}

function readHeader(document: unknown): ArchiveHeader {
  const header = document as Partial<ArchiveHeader>;
  if (typeof header !== 'object' || header === null || header.format !== ARCHIVE_FORMAT)
    throw invalid('This is not a Tally backup archive.');
  if (typeof header.version !== 'number' || header.version > ARCHIVE_VERSION) {
    throw invalid(
      `The archive is in format version ${String(header.version)}; this Tally reads version ${ARCHIVE_VERSION}: use a newer Tally.`,
    );
  }
  if (
    typeof header.tally !== 'string' ||
    typeof header.schema !== 'string' ||
    typeof header.createdAt !== 'string' ||
    typeof header.dialect !== 'string' ||
    !Array.isArray(header.tables) ||
    !header.tables.every(isTable)
  ) {
    throw invalid("The archive's header is incomplete.");
  }
  if (new Set(header.tables.map((table) => table.name)).size !== header.tables.length)
    throw invalid("The archive's header lists a table twice.");
  return header as ArchiveHeader;
}

/**
 * Reads an archive line by line and refuses, with BACKUP_INVALID, anything that is not exactly what
 * the encoder writes: a missing or foreign header, rows out of order or beyond their table's count,
 * a checksum that does not match, a missing end (a truncated file) or anything after it.
 */
export class ArchiveDecoder {
  private readonly hash: Hash = createHash('sha256');
  private cursor: TableCursor | undefined;
  private ended = false;
  private lineNumber = 0;

  line(text: string): ArchiveRecord {
    this.lineNumber++;
    if (this.ended) throw invalid('The archive goes on after its end.');
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      throw invalid(`Line ${this.lineNumber} of the archive is not JSON: the file is damaged.`);
    }
    if (!this.cursor) {
      const header = readHeader(document);
      this.hash.update(`${text}\n`, 'utf8');
      this.cursor = new TableCursor(header.tables);
      return { kind: 'header', header };
    }
    const end = (document as { end?: { rows?: unknown; sha256?: unknown } }).end;
    if (end !== undefined) return this.end(end);
    const { t: tableName, r: values } = document as { t?: unknown; r?: unknown };
    if (typeof tableName !== 'string' || !Array.isArray(values)) throw invalid(`Line ${this.lineNumber} of the archive is not a row.`);
    const table = this.cursor.advance(tableName);
    if (!table) throw invalid(`Line ${this.lineNumber}: a row of ${tableName} the header does not account for.`);
    if (values.length !== table.columns.length)
      throw invalid(`Line ${this.lineNumber}: a row of ${tableName} with the wrong number of values.`);
    this.hash.update(`${text}\n`, 'utf8');
    return { kind: 'row', table, values: values.map(decodeCell) };
  }

  private end(end: { rows?: unknown; sha256?: unknown }): ArchiveRecord {
    const cursor = this.cursor;
    if (!cursor?.complete() || end.rows !== cursor.total)
      throw invalid('The archive has fewer rows than its header says: it is incomplete.');
    if (end.sha256 !== this.hash.digest('hex')) throw invalid("The archive's checksum does not match its content: the file is damaged.");
    this.ended = true;
    return { kind: 'end', rows: cursor.total };
  }

  /** Call after the last line: refuses an archive that stopped before its end. */
  finish(): void {
    if (!this.ended) throw invalid('The archive stops before its end: the file is truncated.');
  }
}
