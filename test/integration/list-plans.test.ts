import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { CompiledQuery, type Insertable, type Kysely, type KyselyPlugin, type RootOperationNode, sql } from 'kysely';
import type { Store } from '../../src/store/connect.js';
import { AuditRepository } from '../../src/store/repositories/audit.js';
import { TokenRepository } from '../../src/store/repositories/tokens.js';
import { UserRepository } from '../../src/store/repositories/users.js';
import type { Database } from '../../src/store/schema.js';
import { describeEachStore } from '../support/store.js';

/**
 * Every list and search of the consoles and REST (users, tokens, audit) is planned on an index
 * range read in the list's order: no full scan and no sort of the table, whatever its size. The
 * tables hold a few thousand rows and are analysed, so SQLite's planner has its statistics; on
 * PostgreSQL `enable_seqscan` is off for the EXPLAIN, so a plan can only avoid the index by sorting,
 * and a Sort node fails the test.
 */
const USERS = 3000;
const TOKENS = 3000;
const EVENTS = 12000;
const NOW = 1_800_000_000_000;

/** The statement a repository call runs, captured and not run (the plugin hands back no rows). */
async function statementOf(db: Kysely<Database>, call: (db: Kysely<Database>) => Promise<unknown>): Promise<CompiledQuery> {
  let captured: RootOperationNode | undefined;
  const capture: KyselyPlugin = {
    transformQuery: (args) => {
      captured ??= args.node;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  await call(db.withPlugin(capture));
  if (!captured) throw new Error('the call ran no statement');
  return db.getExecutor().compileQuery(captured, { queryId: 'explain' });
}

interface Plan {
  /** One line per step, as the store prints it. */
  steps: string[];
  usesIndex: boolean;
  fullScan: boolean;
  sorts: boolean;
}

async function planOf(store: Store, statement: CompiledQuery): Promise<Plan> {
  if (store.dialect === 'sqlite') {
    const rows = (await store.db.executeQuery(CompiledQuery.raw(`explain query plan ${statement.sql}`, [...statement.parameters])))
      .rows as { detail: string }[];
    const steps = rows.map((row) => row.detail);
    return {
      steps,
      usesIndex: steps.some((step) => /^SEARCH \w+ USING (COVERING )?(INDEX|INTEGER PRIMARY KEY)/.test(step)),
      fullScan: steps.some((step) => /^SCAN \w+$/.test(step)),
      sorts: steps.some((step) => step.includes('TEMP B-TREE')),
    };
  }
  return store.db.transaction().execute(async (tx) => {
    await sql`set local enable_seqscan = off`.execute(tx);
    const rows = (await tx.executeQuery(CompiledQuery.raw(`explain (format json) ${statement.sql}`, [...statement.parameters]))).rows as {
      'QUERY PLAN': [{ Plan: PgNode }];
    }[];
    const nodes: PgNode[] = [];
    const walk = (node: PgNode) => {
      nodes.push(node);
      for (const child of node.Plans ?? []) walk(child);
    };
    const [explained] = rows;
    if (!explained) throw new Error('no plan');
    walk(explained['QUERY PLAN'][0].Plan);
    return {
      steps: nodes.map((node) => `${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`),
      usesIndex: nodes.some((node) => node['Index Name'] !== undefined),
      fullScan: nodes.some((node) => node['Node Type'] === 'Seq Scan'),
      sorts: nodes.some((node) => node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort'),
    };
  });
}

interface PgNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PgNode[];
}

/** Inserts the rows 500 to a statement, within every store's limit on a statement's parameters. */
async function insertInBatches<T extends keyof Database & string>(
  db: Kysely<Database>,
  table: T,
  rows: Insertable<Database[T]>[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += 500)
    await db
      .insertInto(table)
      .values(rows.slice(i, i + 500))
      .execute();
}

async function fill(store: Store): Promise<void> {
  const db = store.db;
  const users = Array.from({ length: USERS }, (_, i) => ({
    username: `${i % 2 ? 'User' : 'user'}${String(i).padStart(6, '0')}`,
    role: 'user' as const,
    disabled: 0,
    failed_logons: 0,
    created_at: NOW,
    updated_at: NOW,
  }));
  await insertInBatches(db, 'users', users);
  const ids = (await db.selectFrom('users').select('id').orderBy('id').execute()).map((row) => row.id);
  const tokens = Array.from({ length: TOKENS }, (_, i) => ({
    serial: `T${String(i).padStart(9, '0')}`,
    token_type: i % 3 ? ('totp' as const) : ('hotp' as const),
    state: i % 4 ? ('active' as const) : ('pending' as const),
    origin: 'generated' as const,
    user_id: ids[i % ids.length] ?? null,
    digits: 6,
    period: 30,
    algorithm: 'SHA1' as const,
    created_at: NOW,
    updated_at: NOW,
  }));
  await insertInBatches(db, 'tokens', tokens);
  const actions = ['auth.radius', 'auth.rest', 'token.assign', 'user.create', 'token.import'];
  const events = Array.from({ length: EVENTS }, (_, i) => ({
    at: NOW + i * 1000,
    actor_type: 'admin' as const,
    actor: `admin${i % 20}`,
    action: actions[i % actions.length] ?? 'user.create',
    target_type: i % 2 ? 'token' : 'user',
    target: i % 2 ? `T${String(i % TOKENS).padStart(9, '0')}` : `user${String(i % USERS).padStart(6, '0')}`,
    result: i % 7 ? ('success' as const) : ('failure' as const),
  }));
  await insertInBatches(db, 'audit_events', events);
  await sql`analyze`.execute(db);
}

/** The lists, each as the repository runs it for a page after the first (with its key) and for a first page. */
const LISTS: { name: string; run: (db: Kysely<Database>) => Promise<unknown> }[] = [
  { name: 'users, next page', run: (db) => new UserRepository(db).list({ after: 'user001000', limit: 51 }) },
  { name: 'users, first page', run: (db) => new UserRepository(db).list({ limit: 51 }) },
  { name: 'users, search by prefix', run: (db) => new UserRepository(db).list({ search: 'USER0012', limit: 51 }) },
  { name: 'users, search, next page', run: (db) => new UserRepository(db).list({ search: 'user00', after: 'User000101', limit: 51 }) },
  { name: 'tokens, next page', run: (db) => new TokenRepository(db).query({ after: 'T000001000', limit: 51 }) },
  { name: 'tokens, first page', run: (db) => new TokenRepository(db).query({ limit: 51 }) },
  { name: 'tokens, by serial prefix', run: (db) => new TokenRepository(db).query({ serialPrefix: 'T00000', limit: 51 }) },
  { name: 'tokens, by state', run: (db) => new TokenRepository(db).query({ state: 'pending', after: 'T000000100', limit: 51 }) },
  { name: 'tokens, by type', run: (db) => new TokenRepository(db).query({ tokenType: 'hotp', after: 'T000000100', limit: 51 }) },
  { name: "tokens, a user's", run: (db) => new TokenRepository(db).query({ userId: 7, limit: 51 }) },
  { name: 'audit, next page', run: (db) => new AuditRepository(db).query({ beforeId: 6000, limit: 51 }) },
  { name: 'audit, by actor', run: (db) => new AuditRepository(db).query({ actor: 'admin3', beforeId: 6000, limit: 51 }) },
  {
    name: 'audit, by target',
    run: (db) => new AuditRepository(db).query({ targetType: 'token', target: 'T000000011', beforeId: 6000, limit: 51 }),
  },
  { name: 'audit, by action', run: (db) => new AuditRepository(db).query({ action: 'token.assign', beforeId: 6000, limit: 51 }) },
  { name: 'audit, by action prefix', run: (db) => new AuditRepository(db).query({ action: 'token.*', beforeId: 6000, limit: 51 }) },
  { name: 'audit, by time', run: (db) => new AuditRepository(db).query({ since: NOW, until: NOW + 5_000_000, beforeId: 6000, limit: 51 }) },
];

describeEachStore('list plans', (getStore) => {
  before(async () => fill(getStore()));

  for (const list of LISTS) {
    test(`${list.name}: read from an index in the list's order (no full scan, no sort)`, async () => {
      const store = getStore();
      const plan = await planOf(store, await statementOf(store.db, list.run));
      const shown = plan.steps.join(' | ');
      if (process.env.SHOW_PLANS) console.log(`${store.dialect} ${list.name}: ${shown}`);
      assert.equal(plan.sorts, false, `sorts: ${shown}`);
      if (list.name.endsWith('first page')) {
        // A first page with no filter reads the table's order from its start and stops at the limit;
        // SQLite names that a SCAN of the table (or of an index), which is no full scan here.
        assert.ok(plan.usesIndex || store.dialect === 'sqlite', `no index: ${shown}`);
      } else {
        assert.equal(plan.fullScan, false, `full scan: ${shown}`);
        assert.ok(plan.usesIndex, `no index: ${shown}`);
      }
    });
  }

  test('the lists answer what their names say: key order, prefix in any case, next page after the key', async () => {
    const store = getStore();
    const users = new UserRepository(store.db);
    const found = await users.list({ search: 'USER00010', limit: 20 });
    assert.deepEqual(
      found.map((row) => row.username),
      Array.from({ length: 10 }, (_, i) => `${i % 2 ? 'User' : 'user'}${String(100 + i).padStart(6, '0')}`),
    );
    const next = await users.list({ search: 'user00010', after: found[4]?.username, limit: 3 });
    assert.deepEqual(
      next.map((row) => row.username),
      found.slice(5, 8).map((row) => row.username),
    );
    const tokens = new TokenRepository(store.db);
    const page = await tokens.query({ serialPrefix: 'T0000001', after: 'T000000105', limit: 3 });
    assert.deepEqual(
      page.map((row) => row.serial),
      ['T000000106', 'T000000107', 'T000000108'],
    );
    const byOffset = await tokens.query({ serialPrefix: 'T0000001', limit: 3, offset: 6 });
    assert.deepEqual(
      byOffset.map((row) => row.serial),
      ['T000000106', 'T000000107', 'T000000108'],
    );
  });
});
