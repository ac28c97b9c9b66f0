import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { storeOptions, storeSettings } from '../../src/cli/store.js';
import { resolveConfig } from '../../src/config.js';
import { isStoreUnreachable, isTallyError } from '../../src/errors.js';
import { migrateToLatest, offLoopCommits, openStore, type StoreOptions, sharedSyncs } from '../../src/store/connect.js';
import { RateLimitRepository } from '../../src/store/repositories/rate-limits.js';
import type { Database } from '../../src/store/schema.js';
import { UnitOfWork } from '../../src/store/unit-of-work.js';
import { firstItem } from '../support/items.js';

/** SQLite's own codes for `pragma synchronous`. */
const SYNCHRONOUS = { normal: 1, full: 2 } as const;

/** The commit settings in effect on the store's connection, read back from SQLite itself. */
async function commitSettings(options: Omit<StoreOptions, 'dataDir'>): Promise<{ synchronous: number; journalMode: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-durability-'));
  const store = await openStore({ ...options, dataDir });
  try {
    const synchronous = firstItem((await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db)).rows).synchronous;
    const journalMode = firstItem((await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db)).rows).journal_mode;
    return { synchronous, journalMode };
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('SQLite commits durably by default: WAL with synchronous = FULL on the connection', async () => {
  assert.deepEqual(await commitSettings({}), { synchronous: SYNCHRONOUS.full, journalMode: 'wal' });
  assert.deepEqual(await commitSettings({ sqliteSynchronous: 'full' }), { synchronous: SYNCHRONOUS.full, journalMode: 'wal' });
});

test('sqliteSynchronous normal is the weaker mode asked for: WAL with synchronous = NORMAL on the connection', async () => {
  assert.deepEqual(await commitSettings({ sqliteSynchronous: 'normal' }), { synchronous: SYNCHRONOUS.normal, journalMode: 'wal' });
});

test('--sqlite-synchronous reaches the store every command opens; full unless normal is asked for', async () => {
  const fromCli = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) =>
    storeOptions(resolveConfig(storeSettings, flags, env)).sqliteSynchronous;
  assert.equal(fromCli({}), 'full');
  assert.equal(fromCli({ sqliteSynchronous: 'normal' }), 'normal');
  assert.equal(fromCli({}, { TALLY_SQLITE_SYNCHRONOUS: 'normal' }), 'normal');
  assert.equal(fromCli({ sqliteSynchronous: 'full' }, { TALLY_SQLITE_SYNCHRONOUS: 'normal' }), 'full', 'the flag wins');
  const { dataDir: _, ...rest } = storeOptions(resolveConfig(storeSettings, { sqliteSynchronous: 'normal' }, {}));
  assert.equal((await commitSettings(rest)).synchronous, SYNCHRONOUS.normal);
});

test('--sqlite-synchronous refuses anything but full and normal, naming the flag', () => {
  for (const raw of ['off', 'FULL', 'Normal', 'extra', '0', '2', 'true', ' full']) {
    assert.throws(
      () => resolveConfig(['sqliteSynchronous'], { sqliteSynchronous: raw }, {}),
      (error: unknown) =>
        isTallyError(error) &&
        error.code === 'CONFIG_INVALID' &&
        error.message.startsWith('--sqlite-synchronous must be one of full, normal'),
      raw,
    );
  }
  assert.throws(
    () => resolveConfig(['sqliteSynchronous'], {}, { TALLY_SQLITE_SYNCHRONOUS: 'off' }),
    (error: unknown) => isTallyError(error) && error.message.startsWith('TALLY_SQLITE_SYNCHRONOUS must be one of full, normal'),
  );
});

test("a transaction SQLite rolls back by itself (SQLITE_FULL) fails with SQLite's own error, a store fault, and keeps none of its writes", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-full-'));
  const store = await openStore({ dataDir });
  try {
    await sql`create table filler (text text)`.execute(store.db);
    // The database may grow by two pages only: as on a full disk, SQLite answers SQLITE_FULL and rolls back.
    const pages = firstItem((await sql<{ page_count: number }>`pragma page_count`.execute(store.db)).rows).page_count;
    await sql.raw(`pragma max_page_count = ${pages + 2}`).execute(store.db);
    const failed = await store.db
      .transaction()
      .execute(async (trx) => {
        await sql`insert into filler values ('small')`.execute(trx);
        await sql`insert into filler values (${'x'.repeat(100_000)})`.execute(trx);
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.equal((failed as { code?: string }).code, 'SQLITE_FULL', String(failed));
    assert.ok(isStoreUnreachable(failed), 'answered STORE_UNAVAILABLE, not INTERNAL');
    const left = firstItem((await sql<{ count: number }>`select count(*) as count from filler`.execute(store.db)).rows).count;
    assert.equal(left, 0);
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('durable commits leave the fsync to a libuv thread: only synchronous FULL stores get off-loop commits', async () => {
  for (const [options, expected] of [
    [{}, true],
    [{ sqliteSynchronous: 'full' }, true],
    [{ sqliteSynchronous: 'normal' }, false],
  ] as const) {
    const dataDir = mkdtempSync(join(tmpdir(), 'tally-durability-'));
    const store = await openStore({ ...options, dataDir });
    try {
      assert.equal(store.offLoopCommits !== undefined, expected, JSON.stringify(options));
    } finally {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
});

test('an off-loop commit resolves only once the log is synced, its work committing with NORMAL and every other commit with FULL', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-durability-'));
  const store = await openStore({ dataDir });
  const synchronous = async (db: Kysely<Database>) =>
    firstItem((await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows).synchronous;
  try {
    const synced: string[] = [];
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const commits = offLoopCommits(join(dataDir, 'tally.db-wal'), async (path) => {
      await gate;
      synced.push(path);
    });
    let during: number | undefined;
    let resolved = false;
    const committing = commits
      .commit(store.db, async (connection) => {
        during = await synchronous(connection);
        return connection.transaction().execute((trx) => sql`create table durable_probe (id integer)`.execute(trx));
      })
      .then(() => {
        resolved = true;
      });
    // The transaction is committed and the connection free (another statement runs), yet the caller waits for the sync.
    assert.equal(await synchronous(store.db), SYNCHRONOUS.full, 'other commits keep FULL');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(resolved, false, 'not answered before the log is synced');
    assert.deepEqual(synced, []);
    openGate();
    await committing;
    assert.equal(during, SYNCHRONOUS.normal, 'the work commits without syncing on the main thread');
    assert.deepEqual(synced, [join(dataDir, 'tally.db-wal')], 'the log file is synced');
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/** How many of this process's file descriptors are open on `path`. */
function descriptorsOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // closed between the listing and the look
    }
  }).length;
}

test('a durable store syncs its log through one handle it keeps open for all commits, and lets go of it when closed', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-durability-'));
  const log = join(dataDir, 'tally.db-wal');
  const store = await openStore({ dataDir });
  try {
    await migrateToLatest(store);
    const commits = store.offLoopCommits;
    assert.ok(commits);
    const sqlitesOwn = descriptorsOn(log);
    await commits.commit(store.db, (connection) => sql`create table kept_open (id integer)`.execute(connection));
    assert.equal(descriptorsOn(log), sqlitesOwn + 1, 'the first sync opens the log once');
    for (let i = 0; i < 10; i++)
      await commits.commit(store.db, (connection) => sql`insert into kept_open values (${i})`.execute(connection));
    assert.equal(descriptorsOn(log), sqlitesOwn + 1, 'later syncs use the same handle');
  } finally {
    await store.close();
  }
  assert.equal(descriptorsOn(log), 0, 'closing the store closes the handle');
  rmSync(dataDir, { recursive: true, force: true });
});

test('syncs are shared: callers who ask while a sync runs wait for one next sync, which starts after the running one ends', async () => {
  const started: Array<() => void> = [];
  const syncs = sharedSyncs(
    () =>
      new Promise<void>((resolve) => {
        started.push(resolve);
      }),
  );
  const settled: string[] = [];
  const first = syncs.afterNow().then(() => settled.push('first'));
  assert.equal(started.length, 1, 'the first caller starts a sync at once');
  const waiting = [1, 2, 3].map((n) => syncs.afterNow().then(() => settled.push(`later ${n}`)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started.length, 1, 'no second sync while one runs: the later callers wait for it to end');
  firstItem(started)();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started.length, 2, 'one sync for the three who asked meanwhile, not three');
  assert.deepEqual(settled, ['first'], 'a sync that began before they asked does not answer them');
  started[1]?.();
  await Promise.all(waiting);
  assert.deepEqual(settled, ['first', 'later 1', 'later 2', 'later 3']);
  const alone = syncs.afterNow();
  assert.equal(started.length, 3, 'with none running, a caller starts a sync of its own at once');
  started[2]?.();
  await alone;
});

test('a failed sync fails its callers, and the next caller gets a sync of its own', async () => {
  let calls = 0;
  const syncs = sharedSyncs(async () => {
    calls++;
    if (calls === 1) throw new Error('EIO');
  });
  await assert.rejects(syncs.afterNow(), /EIO/);
  await syncs.afterNow();
  assert.equal(calls, 2);
});

test('an unsynced commit waits for no sync, commits with NORMAL, and leaves FULL on the connection', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-durability-'));
  const store = await openStore({ dataDir });
  const synchronous = async (db: Kysely<Database>) =>
    firstItem((await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows).synchronous;
  try {
    let syncs = 0;
    const commits = offLoopCommits(join(dataDir, 'tally.db-wal'), async () => {
      syncs++;
    });
    const during = await commits.commitUnsynced(store.db, async (connection) => {
      await sql`create table counted (id integer)`.execute(connection);
      return synchronous(connection);
    });
    assert.equal(during, SYNCHRONOUS.normal);
    assert.equal(syncs, 0, 'no sync asked for');
    assert.equal(await synchronous(store.db), SYNCHRONOUS.full);
    await commits.commit(store.db, (connection) => sql`insert into counted values (1)`.execute(connection));
    assert.equal(syncs, 1, 'a durable commit still syncs');
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a unit of work's transaction on a durable store answers after the shared sync; a rate-limit hit waits for none", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-durability-'));
  const store = await openStore({ dataDir });
  try {
    await migrateToLatest(store);
    const synced: number[] = [];
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const commits = offLoopCommits(join(dataDir, 'tally.db-wal'), async () => {
      await gate;
      synced.push(synced.length);
    });
    const hits = await new RateLimitRepository(store.db, commits).hit('logon:192.0.2.1', 1_000, 60_000);
    assert.equal(hits.hits, 1);
    let answered = false;
    const change = new UnitOfWork(store.db, commits)
      .transaction((repos) => repos.meta.set('durability-probe', 'on'))
      .then(() => {
        answered = true;
      });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, false, 'the change waits for the log to be synced');
    openGate();
    await change;
    assert.deepEqual(synced, [0], 'one sync, for the change only');
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
