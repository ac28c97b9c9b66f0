import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { writePskc } from '../../src/core/pskc/write.js';
import type { Actor } from '../../src/domain/actor.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/connect.js';
import { AuthenticationRepository } from '../../src/store/repositories/authentication.js';
import { tokenType } from '../../src/tokens/registry.js';
import { interopRequired } from '../support/peers.js';
import { describeEachStore, freshStoreOptions } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

const agent: Actor = { kind: 'apitoken', name: 'statements-agent', role: 'agent' };

/** Imports a TOTP token and assigns it to a new user; returns the token's serial. */
async function userWithToken(tally: TestTally, username: string): Promise<string> {
  const api = (url: string, payload: object) =>
    tally.admin.inject({ method: 'POST', url, headers: bearer(tally.tokens.superadmin), payload });
  assert.equal((await api('/api/v1/users', { username })).statusCode, 201);
  const serial = `STMT-${username}`;
  const key = { kind: 'totp' as const, id: serial, serial, secret: randomBytes(20), digits: 6, algorithm: 'SHA1' as const, period: 30 };
  assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writePskc([key])).toString('base64') })).json().imported, 1);
  assert.equal((await api(`/api/v1/tokens/${serial}/assign`, { username })).json().state, 'active');
  return serial;
}

/** The token's current code, from the test clock's one instant. */
async function currentCode(tally: TestTally, serial: string): Promise<string> {
  const row = await tally.store.db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  const type = tokenType(row.token_type);
  return type.codeAt(tally.services.tokens.material(row), type.stepAt({ period: row.period, counter: row.counter }, tally.clock.now()));
}

/**
 * On PostgreSQL each statement is a round trip and a backend's work, which is where a lone
 * request's time went: these hold a one-request batch to its statements so they cannot grow back.
 */
const postgresUrl = process.env.TALLY_TEST_DATABASE_URL;
describe('the statements of a one-request authentication batch on PostgreSQL', {
  skip: postgresUrl === undefined && !interopRequired() ? 'TALLY_TEST_DATABASE_URL is not set' : false,
}, () => {
  const place = freshStoreOptions('postgres');
  let store: Store;
  let tally: TestTally;
  let sent: string[] | undefined;

  before(async () => {
    if (postgresUrl === undefined) throw new Error('REQUIRE_INTEROP=1 but TALLY_TEST_DATABASE_URL is not set');
    store = await openStore({ ...place.options, onStatement: (text) => sent?.push(text) });
    await migrateToLatest(store);
    tally = await createTestTally(store);
  });
  after(async () => {
    await tally?.close();
    await store?.close();
    await place.cleanup();
  });

  /** The statements sent while one request is verified, with its answer. */
  async function statementsOf(username: string, passcode: string): Promise<{ result: string; statements: string[] }> {
    // The secret hash key is loaded once per process, before the first batch: not the batch's work.
    await tally.services.authentication.verify(agent, { username: 'nobody-warms-up', passcode: '000000', channel: 'radius' });
    sent = [];
    try {
      const { result } = await tally.services.authentication.verify(agent, { username, passcode, channel: 'radius' });
      return { result, statements: sent };
    } finally {
      sent = undefined;
    }
  }

  test('an accept sends two statements: the user and tokens in one read, the step and the audit event in one write', async () => {
    const serial = await userWithToken(tally, 'stmt-accept');
    const { result, statements } = await statementsOf('stmt-accept', await currentCode(tally, serial));
    assert.equal(result, 'accept');
    assert.equal(statements.length, 2, statements.join('\n---\n'));
    assert.ok(!statements.some((text) => /^\s*(begin|commit)\b/i.test(text)), 'one statement needs no transaction around it');
  });

  test('an unknown user sends two statements: the read, and the audit event', async () => {
    const { result, statements } = await statementsOf('stmt-nobody', '123456');
    assert.equal(result, 'reject');
    assert.equal(statements.length, 2, statements.join('\n---\n'));
  });

  test('an accept and its audit event commit together: the step is used and the event is there', async () => {
    const serial = await userWithToken(tally, 'stmt-audit');
    const code = await currentCode(tally, serial);
    assert.equal((await statementsOf('stmt-audit', code)).result, 'accept');
    const events = await store.db
      .selectFrom('audit_events')
      .select(['result', 'details'])
      .where('target', '=', serial)
      .where('action', '=', 'auth.radius')
      .execute();
    assert.deepEqual(
      events.map((event) => [event.result, JSON.parse(event.details ?? '{}').reason]),
      [['success', 'tokencode accepted']],
    );
    assert.equal((await statementsOf('stmt-audit', code)).result, 'reject', 'the step is used');
  });

  test('the two statements are prepared once per connection and planned generically, not parsed and planned per batch', async () => {
    const serial = await userWithToken(tally, 'stmt-prepared');
    // One batch after another: the pool of generic-plan connections hands out the one it made each time.
    for (let i = 0; i < 8; i++) assert.equal((await statementsOf(`stmt-prepared-nobody-${i}`, '000000')).result, 'reject');
    assert.equal((await statementsOf('stmt-prepared', await currentCode(tally, serial))).result, 'accept');
    const genericPlans = store.genericPlans;
    assert.ok(genericPlans, 'a PostgreSQL store has connections for generic plans');
    const { rows } = await sql<{ statement: string; generic_plans: number; custom_plans: number }>`
      select statement, generic_plans, custom_plans from pg_prepared_statements`.execute(genericPlans);
    const read = rows.find((row) => row.statement.includes('row_to_json(u) as holder'));
    const write = rows.find((row) => row.statement.startsWith('with used as'));
    assert.ok(read && write, JSON.stringify(rows));
    for (const statement of [read, write]) {
      assert.equal(Number(statement.custom_plans), 0, statement.statement);
      assert.ok(Number(statement.generic_plans) >= 1, statement.statement);
    }
    assert.ok(Number(read.generic_plans) >= 9, 'every batch ran the prepared read');
  });
});

/**
 * A batch that only uses steps and records events writes both at once; an accept's event needs its
 * step, so an accept that lost its step to a racing request (another node) leaves no success behind.
 */
describeEachStore('steps used and events recorded at once', (getStore) => {
  let tally: TestTally;

  before(async () => {
    tally = await createTestTally(getStore());
  });
  after(() => tally.close());

  test('an event that needs a step already taken is not recorded, and the others are', async () => {
    const serial = await userWithToken(tally, 'stmt-race');
    const db = getStore().db;
    const repository = new AuthenticationRepository(db);
    const row = await db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    const at = tally.clock.now();
    const use = { row: { ...row }, step: 100, at, driftSteps: 0, counter: 0 };
    const event = (target: string) => ({
      at,
      actor_type: 'system' as const,
      actor: 'test',
      action: 'auth.radius',
      target_type: 'token',
      target,
      result: 'success' as const,
    });
    // Another node took step 100 first.
    assert.deepEqual([...(await repository.useSteps([{ ...use, row: { ...row } }]))], [row.id]);
    const taken = await repository.useStepsAndRecord(
      [use],
      [{ row: event('needs-the-step'), needsStepOf: row.id }, { row: event('needs-nothing') }],
    );
    assert.equal(taken.size, 0);
    const recorded = await db
      .selectFrom('audit_events')
      .select('target')
      .where('target', 'in', ['needs-the-step', 'needs-nothing'])
      .execute();
    assert.deepEqual(
      recorded.map((r) => r.target),
      ['needs-nothing'],
    );
    const next = await repository.useStepsAndRecord([{ ...use, step: 101 }], [{ row: event('took-101'), needsStepOf: row.id }]);
    assert.deepEqual([...next], [row.id]);
    assert.equal(use.row.last_step, 101, 'the row taken is updated to match the store');
    const took = await db.selectFrom('audit_events').select('target').where('target', '=', 'took-101').execute();
    assert.equal(took.length, 1);
  });
});
