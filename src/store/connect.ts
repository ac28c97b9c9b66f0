import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type LogConfig, PostgresAdapter, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { isStoreUnreachable, TallyError } from '../errors.js';
import type { SqliteSynchronous } from '../model/vocabulary.js';
import { failoverPool, NoUsableServerError } from './failover-pool.js';
import { migrations } from './migrations/index.js';
import { parsePostgresAddress } from './postgres-address.js';
import { preparesMarkedStatements } from './prepared-statements.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** The dialect behind a Kysely instance (or a transaction of one), for the few statements written per dialect. */
export function dialectOf(db: Kysely<Database>): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * Rows as the parameters of a set-based statement, so that one statement serves any number of
 * them: one JSON array for SQLite (`json_each(?)`, `value ->> N`), one array per column for
 * PostgreSQL (`unnest($1, $2, ...)`): `width` of them, so that no rows still fill the statement's parameters.
 */
export function rowsParameters(dialect: Dialect, rows: ReadonlyArray<readonly unknown[]>, width = rows[0]?.length ?? 0): unknown[] {
  if (dialect === 'sqlite') return [JSON.stringify(rows)];
  return Array.from({ length: width }, (_, column) => rows.map((row) => row[column]));
}

/** A list of values as the one parameter of `in (select value from json_each(?))` (SQLite) or `= any($1)` (PostgreSQL). */
export function listParameter(dialect: Dialect, values: readonly unknown[]): unknown {
  return dialect === 'sqlite' ? JSON.stringify(values) : values;
}

export interface StoreOptions {
  dataDir: string;
  /** postgres://... (or libpq keyword/value pairs, a failover list of hosts) selects PostgreSQL; otherwise SQLite at DATA_DIR/tally.db. */
  databaseUrl?: string;
  /** PostgreSQL only: use (and create) this schema, so test runs never collide. */
  schema?: string;
  /** SQLite only: `full` (the default) makes every commit durable before it returns; `normal` syncs at checkpoints only. */
  sqliteSynchronous?: SqliteSynchronous;
  /** Told of every statement that fails, by kind (for the metrics); the caller still gets the error. */
  onError?: (kind: StoreErrorKind) => void;
  /**
   * PostgreSQL only: told of every statement sent to the server, BEGIN and COMMIT included (each
   * is a round trip), so that a test can hold the statements of a code path to a number.
   */
  onStatement?: (text: string) => void;
}

/**
 * `constraint`: a unique or foreign key refused a row; `conflict`: a lock or serialisation conflict;
 * `unavailable`: the database could not be reached or written (down, restarting, disk full); `other`: anything else.
 */
export type StoreErrorKind = 'constraint' | 'conflict' | 'unavailable' | 'other';

/** What kind of failure a driver's error is, by its code (PostgreSQL's SQLSTATE, better-sqlite3's SQLITE_*). */
export function storeErrorKind(error: unknown): StoreErrorKind {
  const code = String((error as { code?: unknown }).code ?? '');
  if (code.startsWith('23') || code.startsWith('SQLITE_CONSTRAINT')) return 'constraint';
  if (code === '40001' || code === '40P01' || code === '55P03' || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return 'conflict';
  if (isStoreUnreachable(error)) return 'unavailable';
  return 'other';
}

/** Kysely's log hook, reporting failed statements only. */
function errorLog(onError: StoreOptions['onError']): LogConfig | undefined {
  if (!onError) return undefined;
  return (event) => {
    if (event.level === 'error') onError(storeErrorKind(event.error));
  };
}

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where the data is, for messages (never a password). */
  description: string;
  /**
   * Throws STORE_UNAVAILABLE when a write would fail for want of space or a writable file system
   * (SQLite: a page written beside the database; PostgreSQL's server owns its disk and reports it).
   */
  checkWritable(): void;
  /** SQLite with durable commits only: commits whose log sync waits off the event loop (see `OffLoopCommits`). */
  offLoopCommits?: OffLoopCommits;
  /**
   * PostgreSQL only: a few connections of their own whose prepared statements are always planned
   * generically (`plan_cache_mode = force_generic_plan`), for the fixed-text statements marked
   * with `preparedOnPostgres` that run on their own (no transaction around them). On the main
   * connections PostgreSQL plans each statement for its values, as the console's queries need (a
   * `like` prefix, a range); for the authentication batch's statements it planned every batch anew,
   * which cost more than running them.
   */
  genericPlans?: Kysely<Database>;
  close(): Promise<void>;
}

/**
 * Durable commits that leave the event loop free while the disk syncs. better-sqlite3 runs on the
 * main thread, so with synchronous = FULL every commit blocks it for an fsync of the write-ahead
 * log. Here `work` runs on the connection alone with synchronous = NORMAL, so its commit writes the
 * log's frames without syncing them; then the log file is fdatasync'ed on a libuv thread, and only
 * then does `commit` resolve. What the caller answers after that is on disk, as with FULL: the
 * frames are in the one log file (SQLite deletes or replaces it only when its last connection
 * closes, and this one is open), and a checkpoint syncs the log before copying it. Every other
 * commit on the connection keeps FULL.
 *
 * Syncs are shared (group commit): one sync makes every commit before it durable, so commits that
 * end while a sync runs all wait for the one next sync, not one each. `commitUnsynced` is for
 * counts a power cut may forget harmlessly (rate limits): it waits for no sync, and the next
 * durable commit's sync carries it to disk.
 */
export interface OffLoopCommits {
  commit<T>(db: Kysely<Database>, work: (connection: Kysely<Database>) => Promise<T>): Promise<T>;
  commitUnsynced<T>(db: Kysely<Database>, work: (connection: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Lets go of the log file (after the database is closed). */
  close(): Promise<void>;
}

/**
 * Off-loop commits for the SQLite database whose log is `logFile`. `syncFile` makes a file's data
 * durable; by default the log is opened once and kept open, so that each sync is one call on a
 * libuv thread (fdatasync), not three (open, fdatasync, close). The file stays the same while the
 * database is open: SQLite removes or replaces the log only when its last connection closes.
 */
export function offLoopCommits(logFile: string, syncFile?: (path: string) => Promise<void>): OffLoopCommits {
  // Opened only at its first sync: unused when `syncFile` is given.
  const log = keptOpen(logFile);
  const syncs = sharedSyncs(syncFile ? () => syncFile(logFile) : log.datasync);
  const withoutSync = <T>(db: Kysely<Database>, work: (connection: Kysely<Database>) => Promise<T>) =>
    db.connection().execute(async (connection) => {
      await sql`pragma synchronous = NORMAL`.execute(connection);
      try {
        return await work(connection);
      } finally {
        await sql`pragma synchronous = FULL`.execute(connection);
      }
    });
  return {
    async commit(db, work) {
      const result = await withoutSync(db, work);
      await syncs.afterNow();
      return result;
    },
    commitUnsynced: withoutSync,
    close: log.close,
  };
}

/**
 * Runs `sync` for callers that need a sync that starts after they ask: one runs at a time, and all
 * who ask while it runs share the next one.
 */
export function sharedSyncs(sync: () => Promise<void>): { afterNow(): Promise<void> } {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const started = sync().finally(() => {
      running = undefined;
    });
    running = started;
    return started;
  };
  return {
    afterNow() {
      if (next) return next;
      if (!running) return start();
      next = running
        .catch(() => undefined)
        .then(() => {
          next = undefined;
          return start();
        });
      return next;
    },
  };
}

/** A file opened at its first fdatasync (on a libuv thread) and kept open; opened again after a failed open. */
function keptOpen(path: string): { datasync(): Promise<void>; close(): Promise<void> } {
  let file: Promise<FileHandle> | undefined;
  return {
    async datasync() {
      file ??= open(path, 'r');
      let handle: FileHandle;
      try {
        handle = await file;
      } catch (error) {
        file = undefined;
        throw error;
      }
      await handle.datasync();
    },
    async close() {
      const closing = file;
      file = undefined;
      await (await closing?.catch(() => undefined))?.close();
    },
  };
}

const INT8_OID = 20;

/** Opens the store and checks that it answers; an unreachable database is STORE_UNAVAILABLE. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const log = errorLog(options.onError);
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.schema, log, options.onStatement);
  return openSqlite(options.dataDir, options.sqliteSynchronous ?? 'full', log);
}

async function openSqlite(dataDir: string, synchronous: SqliteSynchronous, log: LogConfig | undefined): Promise<Store> {
  const file = join(dataDir, 'tally.db');
  let database: BetterSqlite3.Database;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    database = new BetterSqlite3(file);
    // The database holds password hashes and sealed seeds: readable by the owner only.
    chmodSync(file, 0o600);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    // In WAL mode FULL syncs the log at each commit, so an accept answered (its step used up)
    // survives a power cut; the authentication batches make that one sync per batch of
    // concurrent requests. NORMAL syncs at checkpoints only: the last commits can be lost.
    database.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    // Authentication touches a random token page and audit index page per accept: a 64 MiB page
    // cache keeps them in memory, and checkpointing every 10,000 WAL pages (40 MB) instead of
    // every 1,000 writes a page rewritten by many commits back to the database once.
    database.pragma('cache_size = -65536');
    database.pragma('wal_autocheckpoint = 10000');
  } catch (error) {
    throw new TallyError('STORE_UNAVAILABLE', `Cannot open the SQLite database ${file}: ${(error as Error).message}`);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }), log });
  const commits = synchronous === 'full' ? offLoopCommits(`${file}-wal`) : undefined;
  return {
    db,
    dialect: 'sqlite',
    description: `SQLite at ${file}`,
    checkWritable: () => probeWrite(dataDir),
    ...(commits ? { offLoopCommits: commits } : {}),
    async close() {
      await db.destroy();
      await commits?.close();
    },
  };
}

/** One page, what the next commit needs at least. */
const PROBE_BYTES = Buffer.alloc(4096);

/**
 * Writes (without syncing) and removes a page-sized file in the data directory: ENOSPC on a full
 * disk, EROFS on a file system the kernel made read-only, as the next commit would meet them.
 * (A commit may still fit in the space the write-ahead log holds already; this probe does not.)
 */
function probeWrite(dataDir: string): void {
  const probe = join(dataDir, '.write-probe');
  try {
    writeFileSync(probe, PROBE_BYTES);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TallyError('STORE_UNAVAILABLE', `Cannot write in ${dataDir} (${reason}): the disk is full or read-only.`);
  } finally {
    rmSync(probe, { force: true });
  }
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * SQLite rolls a transaction back by itself on some errors (SQLITE_FULL on a full disk, an I/O
 * error): Kysely's ROLLBACK after it would fail with "no transaction is active" and hide the error
 * that says what happened (and makes the request STORE_UNAVAILABLE). So it does nothing then.
 */
const alreadyRolledBack = {
  reader: false,
  run: () => ({ changes: 0, lastInsertRowid: 0 }),
} as unknown as BetterSqlite3.Statement;

/**
 * Kysely prepares every query anew, and preparing costs better-sqlite3 more than running: keep
 * the most recent statements. Safe because Kysely runs one query at a time per connection.
 */
function withStatementCache(database: BetterSqlite3.Database) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string): BetterSqlite3.Statement {
      if (text === 'rollback' && !database.inTransaction) return alreadyRolledBack;
      let statement = cache.get(text);
      if (statement) {
        cache.delete(text);
      } else {
        statement = database.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

async function openPostgres(
  url: string,
  schema: string | undefined,
  log: LogConfig | undefined,
  onStatement: StoreOptions['onStatement'],
): Promise<Store> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TallyError('CONFIG_INVALID', 'The PostgreSQL schema name must be lower-case letters, digits and underscores.');
  }
  let address: ReturnType<typeof parsePostgresAddress>;
  try {
    address = parsePostgresAddress(url);
  } catch (error) {
    throw new TallyError('CONFIG_INVALID', `The PostgreSQL URL ${(error as Error).message}.`);
  }
  const description = `PostgreSQL at ${address.description}`;
  const kysely = (max: number, settings: string[]) => {
    const pool = failoverPool(
      address,
      {
        max,
        connectionTimeoutMillis: 5000,
        options: [...(schema ? [`-c search_path=${schema}`] : []), ...settings].join(' ') || undefined,
        types: {
          getTypeParser: ((oid: number, format?: string) =>
            oid === INT8_OID
              ? (value: string) => Number(value)
              : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
        },
      },
      (client) => {
        preparesMarkedStatements(client);
        if (onStatement) countStatements(client, onStatement);
      },
    );
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log });
  };
  const db = kysely(10, []);
  try {
    if (schema) {
      // Two processes creating the schema at once: IF NOT EXISTS can still fail for the loser.
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db).catch(async (error: unknown) => {
        const found = await sql`select 1 from information_schema.schemata where schema_name = ${schema}`.execute(db);
        if (found.rows.length === 0) throw error;
      });
    }
    await sql`select 1`.execute(db);
  } catch (error) {
    await db.destroy().catch(() => {});
    const reason =
      error instanceof NoUsableServerError ? error.message : ((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    throw new TallyError('STORE_UNAVAILABLE', `Cannot reach ${description} (${reason}).`);
  }
  const genericPlans = kysely(4, ['-c plan_cache_mode=force_generic_plan']);
  return {
    db,
    genericPlans,
    dialect: 'postgres',
    description,
    checkWritable: () => {},
    close: async () => {
      await genericPlans.destroy();
      await db.destroy();
    },
  };
}

/** Tells `onStatement` of each statement a pooled client sends (Kysely sends all of them through `query`). */
function countStatements(client: pg.PoolClient, onStatement: (text: string) => void): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const [statement] = args;
    onStatement(typeof statement === 'string' ? statement : String((statement as { text?: unknown }).text));
    return query(...args);
  }) as typeof client.query;
}

/**
 * Brings the schema to the latest version (or only up to the migration `upTo`, for a restore);
 * safe to run from several processes at once. One
 * transaction holds the lock (PostgreSQL: an advisory lock per schema; SQLite: BEGIN IMMEDIATE),
 * reads what was applied and applies the rest, so a crash leaves the store at the last version.
 * (Kysely's own migrator scans the whole catalogue to find its tables, which races with other
 * schemas being created and dropped in the same PostgreSQL database.)
 */
export async function migrateToLatest(store: Store, upTo?: string): Promise<string[]> {
  const all = Object.entries(migrations(store.dialect));
  const last = upTo === undefined ? all.length : all.findIndex(([name]) => name === upTo) + 1;
  if (last === 0) throw new TallyError('STORE_UNAVAILABLE', `This Tally has no migration ${upTo}.`);
  try {
    return await store.db.connection().execute(async (connection) => {
      await sql.raw(store.dialect === 'sqlite' ? 'begin immediate' : 'begin').execute(connection);
      try {
        if (store.dialect === 'postgres') {
          await sql`select pg_advisory_xact_lock(hashtext(current_schema() || ':tally_migrations'))`.execute(connection);
        }
        // The same shape Kysely's migrator gave this table, so stores it migrated carry on.
        await sql`create table if not exists tally_migrations (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(
          connection,
        );
        const applied = new Set(
          (await sql<{ name: string }>`select name from tally_migrations`.execute(connection)).rows.map((row) => row.name),
        );
        const done: string[] = [];
        for (const [name, migration] of all.slice(0, last)) {
          if (applied.has(name)) continue;
          await migration.up(connection);
          await sql`insert into tally_migrations (name, timestamp) values (${name}, ${new Date().toISOString()})`.execute(connection);
          done.push(name);
        }
        await sql`commit`.execute(connection);
        return done;
      } catch (error) {
        await sql`rollback`.execute(connection).catch(() => {});
        throw error;
      }
    });
  } catch (error) {
    throw new TallyError('STORE_UNAVAILABLE', `Migrating ${store.description} failed: ${(error as Error).message}`);
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
