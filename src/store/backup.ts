import { once } from 'node:events';
import { createReadStream, createWriteStream, openSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip } from 'node:zlib';
import { type Kysely, sql } from 'kysely';
import {
  ARCHIVE_FORMAT,
  ARCHIVE_VERSION,
  ArchiveDecoder,
  ArchiveEncoder,
  type ArchiveHeader,
  type ArchiveRecord,
  type CellValue,
} from '../core/backup/archive.js';
import { TallyError } from '../errors.js';
import { type Dialect, migrateToLatest, type Store } from './connect.js';
import { migrationNames } from './migrations/index.js';
import type { Database } from './schema.js';

/**
 * Backup and restore of a whole store through the store-neutral archive of core/backup/archive.ts.
 * Nothing here names a table: the tables, their columns and the foreign keys that order them are
 * read from the store's own catalogue, so a migration that adds a table or renames a column is
 * backed up without a change here. `tally_migrations` is the one table left out: the archive
 * records its level (the latest migration's name) instead, and restore migrates to that level.
 */

const MIGRATIONS_TABLE = 'tally_migrations';
const PROGRESS_EVERY = 50_000;
const FETCH_ROWS = 1000;
/** Bound parameters per insert statement, well under SQLite's 32,766 and PostgreSQL's 65,535. */
const INSERT_PARAMETERS = 10_000;

type AnyDatabase = Kysely<Record<string, Record<string, unknown>>>;

interface StoreTable {
  name: string;
  columns: string[];
  references: string[];
}

export interface BackupOptions {
  tallyVersion: string;
  now: Date;
  progress: (message: string) => void;
}

/** Tables in an order that puts every table after the tables it references (by name where free to choose). */
function orderByReferences(tables: StoreTable[]): StoreTable[] {
  const ordered: StoreTable[] = [];
  const placed = new Set<string>();
  let waiting = [...tables].sort((a, b) => a.name.localeCompare(b.name));
  while (waiting.length > 0) {
    const ready = waiting.filter((table) => table.references.every((name) => name === table.name || placed.has(name)));
    // A cycle of references cannot be ordered; insert it as it comes (no Tally migration makes one).
    const next = ready.length > 0 ? ready : waiting.slice(0, 1);
    for (const table of next) {
      ordered.push(table);
      placed.add(table.name);
    }
    waiting = waiting.filter((table) => !placed.has(table.name));
  }
  return ordered;
}

async function listTables(db: Kysely<Database>, dialect: Dialect): Promise<StoreTable[]> {
  const tables: StoreTable[] = [];
  if (dialect === 'sqlite') {
    const names = await sql<{
      name: string;
    }>`select name from sqlite_schema where type = 'table' and name not like 'sqlite\\_%' escape '\\'`.execute(db);
    for (const { name } of names.rows) {
      if (name === MIGRATIONS_TABLE) continue;
      const columns = await sql<{ name: string }>`select name from pragma_table_info(${name}) order by cid`.execute(db);
      const references = await sql<{ table: string }>`select "table" from pragma_foreign_key_list(${name})`.execute(db);
      tables.push({ name, columns: columns.rows.map((c) => c.name), references: references.rows.map((r) => r.table) });
    }
  } else {
    const columns = await sql<{ table_name: string; column_name: string }>`
      select c.table_name, c.column_name from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
      order by c.table_name, c.ordinal_position`.execute(db);
    const references = await sql<{ table_name: string; referenced: string }>`
      select c.relname as table_name, r.relname as referenced from pg_constraint k
      join pg_class c on c.oid = k.conrelid join pg_class r on r.oid = k.confrelid
      join pg_namespace n on n.oid = k.connamespace
      where k.contype = 'f' and n.nspname = current_schema()`.execute(db);
    const byName = new Map<string, StoreTable>();
    for (const { table_name: name, column_name: column } of columns.rows) {
      if (name === MIGRATIONS_TABLE) continue;
      const table = byName.get(name) ?? { name, columns: [], references: [] };
      byName.set(name, table);
      table.columns.push(column);
    }
    for (const { table_name: name, referenced } of references.rows) byName.get(name)?.references.push(referenced);
    tables.push(...byName.values());
  }
  return orderByReferences(tables);
}

/** The name of the store's latest applied migration; undefined for a store no Tally has migrated. */
async function schemaLevel(db: Kysely<Database>, dialect: Dialect): Promise<string | undefined> {
  const exists =
    dialect === 'sqlite'
      ? sql`select 1 from sqlite_schema where type = 'table' and name = ${MIGRATIONS_TABLE}`
      : sql`select 1 from information_schema.tables where table_schema = current_schema() and table_name = ${MIGRATIONS_TABLE}`;
  if ((await exists.execute(db)).rows.length === 0) return undefined;
  const latest = await sql<{ name: string }>`select max(name) as name from ${sql.table(MIGRATIONS_TABLE)}`.execute(db);
  return latest.rows[0]?.name ?? undefined;
}

async function countRows(db: Kysely<Database>, table: string): Promise<number> {
  const result = await sql<{ count: number | string }>`select count(*) as count from ${sql.table(table)}`.execute(db);
  return Number(result.rows[0]?.count ?? 0);
}

/** Every row of a table, a few at a time: better-sqlite3 iterates its statement, PostgreSQL fetches from a cursor. */
async function* tableRows(db: Kysely<Database>, dialect: Dialect, table: string): AsyncGenerator<Record<string, unknown>> {
  if (dialect === 'sqlite') {
    yield* (db as unknown as AnyDatabase).selectFrom(table).selectAll().stream();
    return;
  }
  await sql`declare tally_backup no scroll cursor for select * from ${sql.table(table)}`.execute(db);
  for (;;) {
    const batch = await sql<Record<string, unknown>>`fetch forward ${sql.raw(String(FETCH_ROWS))} from tally_backup`.execute(db);
    yield* batch.rows;
    if (batch.rows.length < FETCH_ROWS) break;
  }
  await sql`close tally_backup`.execute(db);
}

/**
 * Writes the whole store as archive lines to `write`, from one snapshot: one read transaction on a
 * connection of its own (SQLite in WAL mode reads the database as it was at the transaction's first
 * read; PostgreSQL in REPEATABLE READ READ ONLY), so the counts in the header and the rows after it
 * are one point in time while others keep writing. Returns the header.
 */
export async function writeBackup(store: Store, write: (line: string) => Promise<void>, options: BackupOptions): Promise<ArchiveHeader> {
  return store.db.connection().execute(async (connection) => {
    await sql.raw(store.dialect === 'sqlite' ? 'begin' : 'begin isolation level repeatable read, read only').execute(connection);
    try {
      const schema = await schemaLevel(connection, store.dialect);
      if (schema === undefined) throw new TallyError('STORE_NOT_INITIALISED', `${store.description} holds no Tally store to back up.`);
      const tables = await listTables(connection, store.dialect);
      const header: ArchiveHeader = {
        format: ARCHIVE_FORMAT,
        version: ARCHIVE_VERSION,
        tally: options.tallyVersion,
        schema,
        createdAt: options.now.toISOString(),
        dialect: store.dialect,
        tables: [],
      };
      for (const table of tables)
        header.tables.push({ name: table.name, columns: table.columns, rows: await countRows(connection, table.name) });
      const encoder = new ArchiveEncoder(header);
      await write(encoder.start());
      for (const table of header.tables) {
        let count = 0;
        for await (const row of tableRows(connection, store.dialect, table.name)) {
          await write(encoder.row(table.name, row));
          if (++count % PROGRESS_EVERY === 0) options.progress(`${table.name}: ${count} of ${table.rows} row(s)`);
        }
        options.progress(`${table.name}: ${count} row(s)`);
      }
      await write(encoder.end());
      return header;
    } finally {
      await sql`rollback`.execute(connection);
    }
  });
}

/**
 * The backup as a gzip'd file, mode 0600 (it holds password hashes and sealed seeds), written
 * under a temporary name and renamed when complete, so a failed backup leaves no file that looks
 * like an archive.
 */
export async function backupToFile(store: Store, path: string, options: BackupOptions): Promise<ArchiveHeader> {
  const temp = `${path}.partial-${process.pid}`;
  let fd: number;
  try {
    // Opened before the store is read, so a path that cannot be written fails at once.
    fd = openSync(temp, 'w', 0o600);
  } catch (error) {
    throw new TallyError('CONFIG_INVALID', `Cannot write the archive ${path} (${(error as NodeJS.ErrnoException).code ?? 'unwritable'}).`);
  }
  const gzip = createGzip();
  const written = pipeline(gzip, createWriteStream('', { fd }));
  try {
    const header = await writeBackup(
      store,
      async (line) => {
        if (!gzip.write(line)) await once(gzip, 'drain');
      },
      options,
    );
    gzip.end();
    await written;
    renameSync(temp, path);
    return header;
  } catch (error) {
    gzip.destroy();
    await written.catch(() => {});
    rmSync(temp, { force: true });
    throw error;
  }
}

/** The lines of a gzip'd file, as they come. */
async function* fileLines(path: string): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const input = createReadStream(path);
  const gunzip = createGunzip();
  input.on('error', (error) => gunzip.destroy(error));
  try {
    for await (const chunk of input.pipe(gunzip)) {
      const lines = (pending + decoder.write(chunk as Buffer)).split('\n');
      pending = lines.pop() ?? '';
      yield* lines;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      throw new TallyError('BACKUP_INVALID', `Cannot read ${path} (${code}).`);
    throw new TallyError('BACKUP_INVALID', `${path} is not a complete gzip file: it is truncated, damaged or not a Tally backup archive.`);
  }
  pending += decoder.end();
  if (pending !== '') yield pending;
}

/** Reads an archive through, checking it as it goes; `use` sees each record. */
async function readArchive(path: string, use: (record: ArchiveRecord) => Promise<void> | void): Promise<void> {
  const decoder = new ArchiveDecoder();
  for await (const line of fileLines(path)) await use(decoder.line(line));
  decoder.finish();
}

export interface VerifiedArchive {
  header: ArchiveHeader;
  /** The archive's `tally_meta` entries (the master key's check value among them). */
  meta: Map<string, string>;
}

/**
 * Reads the whole archive once before anything is written: its format, counts and checksum, and
 * that this Tally knows its schema level (a store from a newer Tally would lose what it does not know).
 */
export async function verifyArchive(path: string): Promise<VerifiedArchive> {
  let header: ArchiveHeader | undefined;
  const meta = new Map<string, string>();
  await readArchive(path, (record) => {
    if (record.kind === 'header') header = record.header;
    if (record.kind === 'row' && record.table.name === 'tally_meta') {
      const key = record.values[record.table.columns.indexOf('key')];
      const value = record.values[record.table.columns.indexOf('value')];
      if (typeof key === 'string' && typeof value === 'string') meta.set(key, value);
    }
  });
  if (!header) throw new TallyError('BACKUP_INVALID', `${path} is empty.`);
  const known = migrationNames();
  if (!known.includes(header.schema)) {
    throw new TallyError(
      'BACKUP_SCHEMA_NEWER',
      `The archive is at schema ${header.schema} (made by Tally ${header.tally}); this Tally knows up to ${known.at(-1)}: restore it with Tally ${header.tally} or newer.`,
    );
  }
  return { header, meta };
}

/** Refuses a target that holds any row, or that a newer Tally has migrated past the archive's level. */
async function checkTargetIsEmpty(store: Store, header: ArchiveHeader): Promise<void> {
  const filled: string[] = [];
  for (const table of await listTables(store.db, store.dialect)) if ((await countRows(store.db, table.name)) > 0) filled.push(table.name);
  if (filled.length > 0) {
    throw new TallyError(
      'RESTORE_TARGET_NOT_EMPTY',
      `${store.description} is not empty (${filled.join(', ')} hold rows); nothing was written. Restore into a new data directory, database or schema.`,
    );
  }
  const level = await schemaLevel(store.db, store.dialect);
  const known = migrationNames();
  if (level !== undefined && known.indexOf(level) > known.indexOf(header.schema)) {
    throw new TallyError(
      'RESTORE_TARGET_NOT_EMPTY',
      `${store.description} is empty but already at schema ${level}, past the archive's ${header.schema}; nothing was written. Restore into a store no Tally has migrated yet.`,
    );
  }
}

/** Refuses an archive whose tables or columns the target, at the archive's level, does not have. */
async function checkTargetFits(store: Store, header: ArchiveHeader): Promise<void> {
  const target = new Map((await listTables(store.db, store.dialect)).map((table) => [table.name, new Set(table.columns)]));
  for (const table of header.tables) {
    const columns = target.get(table.name);
    const missing = columns ? table.columns.filter((column) => !columns.has(column)) : ['(the table)'];
    if (missing.length > 0) {
      throw new TallyError(
        'BACKUP_INVALID',
        `The archive's ${table.name} does not fit this Tally's schema ${header.schema} (${missing.join(', ')} unknown); nothing was restored.`,
      );
    }
  }
}

/** PostgreSQL hands out ids from sequences the inserted ids did not move: set each past its column's largest id. */
async function resetSequences(db: Kysely<Database>): Promise<void> {
  const serials = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = current_schema() and column_default like 'nextval(%'`.execute(db);
  for (const { table_name: table, column_name: column } of serials.rows) {
    await sql`select setval(pg_get_serial_sequence(${table}, ${column}), coalesce(max(${sql.ref(column)}), 0) + 1, false) from ${sql.table(table)}`.execute(
      db,
    );
  }
}

/**
 * Restores a verified archive into an empty store: migrates it to the archive's level, inserts
 * every row in one transaction (all or nothing; the archive is checked again as it is read, so a
 * file changed since `verifyArchive` rolls back), then migrates to this Tally's latest level.
 * Returns how many rows were restored.
 */
export async function restoreArchive(
  store: Store,
  path: string,
  header: ArchiveHeader,
  progress: (message: string) => void,
): Promise<number> {
  await checkTargetIsEmpty(store, header);
  await migrateToLatest(store, header.schema);
  await checkTargetFits(store, header);
  let restored = 0;
  await store.db.transaction().execute(async (trx) => {
    const db = trx as unknown as AnyDatabase;
    let batch: Record<string, CellValue>[] = [];
    let batchTable = '';
    let tableRows = 0;
    const flush = async () => {
      if (batch.length > 0) await db.insertInto(batchTable).values(batch).execute();
      batch = [];
    };
    const finishTable = async () => {
      await flush();
      if (batchTable !== '') progress(`${batchTable}: ${tableRows} row(s)`);
      tableRows = 0;
    };
    await readArchive(path, async (record) => {
      if (record.kind === 'end') return finishTable();
      if (record.kind !== 'row') return;
      const { table, values } = record;
      if (table.name !== batchTable) {
        await finishTable();
        batchTable = table.name;
      }
      batch.push(Object.fromEntries(table.columns.map((column, index) => [column, values[index] ?? null])));
      restored++;
      tableRows++;
      if (batch.length * table.columns.length >= INSERT_PARAMETERS) await flush();
    });
    if (store.dialect === 'postgres') await resetSequences(trx);
  });
  await migrateToLatest(store);
  return restored;
}
