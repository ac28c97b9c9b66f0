import { TallyError } from '../../errors.js';

/**
 * CSV as RFC 4180 describes it (quoted fields, doubled quotes, CRLF or LF), plus what spreadsheets
 * expect of files people open: a field that starts like a formula is written with a leading
 * apostrophe, so a username such as `=HYPERLINK(...)` stays text.
 */

/** Rows of fields; blank lines are dropped. A semicolon or tab separator is detected from the first line. */
export function parseCsv(text: string): string[][] {
  return parseCsvRecords(text).map((record) => record.fields);
}

/** A row of fields and the line of the file it starts on (1 for the first). */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * The same rows, each with the line of the file it starts on (1 for the first), so a report can
 * point at the line a person sees in an editor even past blank lines and quoted line breaks.
 */
export function parseCsvRecords(text: string): CsvRecord[] {
  const reader = new CsvReader();
  return [...reader.push(text), ...reader.end()];
}

/** A streamed file's longest record: a file with no line ends, or a quote never closed, must not fill memory. */
export const STREAMED_RECORD_MAX_CHARS = 65_536;

/** The records of a CSV file read in pieces of any size (a file read as it streams), one at a time. */
export async function* streamCsvRecords(pieces: AsyncIterable<string>): AsyncGenerator<CsvRecord> {
  const reader = new CsvReader(STREAMED_RECORD_MAX_CHARS);
  for await (const piece of pieces) yield* reader.push(piece);
  yield* reader.end();
}

/**
 * CSV read piece by piece: `push` returns the records a piece completed, `end` the last one. The
 * separator is chosen once the first line is complete; a piece's last character waits for the
 * next piece when it may be half of a pair (`""` in a quoted field, CRLF).
 */
class CsvReader {
  private separator: string | undefined;
  private unread = '';
  private row: string[] = [];
  private field = '';
  private quoted = false;
  private line = 1;
  private rowLine = 1;
  /** Characters read of the record being read (its separators, quotes and line end included). */
  private recordChars = 0;

  constructor(private readonly maxRecordChars = Number.POSITIVE_INFINITY) {}

  push(piece: string): CsvRecord[] {
    return this.read(this.unread + piece, false);
  }

  end(): CsvRecord[] {
    const records = this.read(this.unread, true);
    if (this.quoted) throw new TallyError('FORMAT_INVALID', 'The CSV has a quoted field that never ends.');
    if (this.field !== '' || this.row.length > 0) this.endRow(records);
    return records;
  }

  private read(text: string, final: boolean): CsvRecord[] {
    let source = text;
    if (this.separator === undefined) {
      const lineEnd = source.search(/\r?\n/);
      if (lineEnd < 0 && !final) {
        if (source.length > this.maxRecordChars) this.tooLong();
        this.unread = source;
        return [];
      }
      if (source.startsWith('\uFEFF')) source = source.slice(1);
      const firstLine = source.slice(0, source.search(/\r?\n|$/));
      this.separator = firstLine.includes(',') ? ',' : firstLine.includes(';') ? ';' : firstLine.includes('\t') ? '\t' : ',';
    }
    const separator = this.separator;
    const records: CsvRecord[] = [];
    const stop = final ? source.length : source.length - 1;
    let i = 0;
    while (i < stop) {
      const c = source[i];
      if (++this.recordChars > this.maxRecordChars) this.tooLong();
      if (this.quoted) {
        if (c === '"' && source[i + 1] === '"') {
          this.field += '"';
          i += 2;
          continue;
        }
        if (c === '"') this.quoted = false;
        else this.field += c;
        if (c === '\n') this.line++;
        i++;
        continue;
      }
      if (c === '"' && this.field.trim() === '') {
        this.quoted = true;
        this.field = '';
      } else if (c === separator) {
        this.row.push(this.field);
        this.field = '';
      } else if (c === '\n' || c === '\r') {
        this.endRow(records);
        if (c === '\r' && source[i + 1] === '\n') i++;
        this.line++;
        this.rowLine = this.line;
      } else {
        this.field += c;
      }
      i++;
    }
    this.unread = source.slice(i);
    return records;
  }

  private tooLong(): never {
    throw new TallyError('FORMAT_INVALID', `The CSV's record at line ${this.rowLine} is longer than ${this.maxRecordChars} characters.`);
  }

  private endRow(records: CsvRecord[]): void {
    this.recordChars = 0;
    this.row.push(this.field);
    if (this.row.length > 1 || this.field.trim() !== '') records.push({ line: this.rowLine, fields: this.row });
    this.row = [];
    this.field = '';
  }
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** Whether a field starts as spreadsheets start a formula (`=`, `+`, `-`, `@`, a tab or CR): read as data, it may have been meant as code. */
export function looksLikeFormula(field: string): boolean {
  return FORMULA_START.test(field);
}

function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line (CRLF-terminated, as RFC 4180 has it). */
export function csvLine(fields: readonly (string | number | boolean | null | undefined)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}
