import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Actor, systemActor } from '../../src/domain/actor.js';
import { createServices, DEFAULT_SERVICE_OPTIONS, type Services } from '../../src/domain/services.js';
import { isTallyError } from '../../src/errors.js';
import { openStore, type Store } from '../../src/store/connect.js';
import { consoleClient } from '../support/console.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, allowTokensPerUser, bearer, createTestTally, type TestTally } from '../support/tally.js';
import { pageText } from '../support/web.js';

const QR = { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true } as const;
const APPROVAL = { ...QR, name: 'Phone app (approved)', requiresApproval: true } as const;
const holder = (username: string): Actor => ({ kind: 'user', name: username, role: 'user' });

/** What a refusal was, by its code: a test asserts which refusal, not only that there was one. */
async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    return isTallyError(error) ? error.code : `not a TallyError: ${String(error)}`;
  }
  return 'no refusal';
}

describeEachStore('settings: the per-user token limit and the self-service switches', (getStore, getHandle) => {
  let tally: TestTally;
  let user = 0;
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  /** A user of their own for each test, so the tests' tokens never add up. */
  const newUser = async () => {
    const username = `user${++user}`;
    assert.equal((await api('POST', '/api/v1/users', { username, password: `${username}-password-1` })).statusCode, 201);
    return username;
  };
  const distribute = (username: string) => api('POST', `/api/v1/users/${username}/tokens`, { profile: QR.name });
  const held = async (username: string) => (await tally.services.tokens.list(systemActor, { username, limit: 100, offset: 0 })).length;

  before(async () => {
    tally = await createTestTally(getStore());
    for (const profile of [QR, APPROVAL]) assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201);
  });
  after(async () => tally.close());

  test("the defaults are RSA's limit of 3 and every self-service feature on; the help desk reads them, an agent does not", async () => {
    const read = await api('GET', '/api/v1/settings', undefined, tally.tokens.helpdesk);
    assert.equal(read.statusCode, 200);
    const values = Object.fromEntries(read.json().settings.map((s: { name: string; value: unknown }) => [s.name, s.value]));
    assert.deepEqual(values, {
      tokensPerUser: 3,
      selfServiceRequest: true,
      selfServiceReissue: true,
      selfServiceReportLost: true,
      selfServiceCtkipUrl: true,
    });
    assert.ok(read.json().settings.every((s: { updatedAt: unknown }) => s.updatedAt === null));
    assert.equal((await api('GET', '/api/v1/settings', undefined, tally.tokens.agent)).statusCode, 403);
  });

  test('only a super admin changes settings; each change is audited with the old and the new value', async () => {
    const helpdesk = await api('PUT', '/api/v1/settings', { tokensPerUser: 5 }, tally.tokens.helpdesk);
    assert.equal(helpdesk.statusCode, 403);
    assert.equal(helpdesk.json().error.code, 'FORBIDDEN');
    const changed = await api('PUT', '/api/v1/settings', { tokensPerUser: 5, selfServiceReissue: true });
    assert.equal(changed.statusCode, 200, changed.body);
    const limit = changed.json().settings.find((s: { name: string }) => s.name === 'tokensPerUser');
    assert.equal(limit.value, 5);
    assert.equal(limit.updatedBy, 'test-superadmin');
    const [event] = await tally.services.audit.list(systemActor, { action: 'settings.change', limit: 1 });
    assert.equal(event?.result, 'success');
    assert.equal(event?.target, 'tokensPerUser,selfServiceReissue');
    // The unchanged switch is named but has no old and new value.
    assert.deepEqual(event?.details, { tokensPerUser: '3 -> 5' });
    assert.equal((await api('PUT', '/api/v1/settings', { tokensPerUser: 3 })).statusCode, 200);
  });

  test('bad settings are refused, all or none: unknown names, values out of range, wrong types, nothing named', async () => {
    for (const body of [
      { tokensPerUser: 0 },
      { tokensPerUser: 101 },
      { tokensPerUser: 2.5 },
      { tokensPerUser: '4' },
      { selfServiceRequest: 'no' },
      { tokenLimit: 4 },
      {},
    ]) {
      const refused = await api('PUT', '/api/v1/settings', body);
      assert.equal(refused.statusCode, 400, JSON.stringify(body));
      assert.equal(refused.json().error.code, 'VALIDATION_FAILED');
    }
    // Past the REST schema, the domain checks the same for the console and the CLI, with the catalogue's messages.
    const settings = tally.services.settings;
    await assert.rejects(settings.change(systemActor, { tokensPerUser: 0, selfServiceRequest: false }), {
      code: 'VALIDATION_FAILED',
      message: 'tokensPerUser must be a whole number from 1 to 100.',
    });
    await assert.rejects(settings.change(systemActor, { selfServiceRequest: 'false' }), {
      message: 'selfServiceRequest must be true or false.',
    });
    await assert.rejects(settings.change(systemActor, { tokenLimit: 4 }), {
      message:
        'Unknown setting "tokenLimit"; the settings are tokensPerUser, selfServiceRequest, selfServiceReissue, selfServiceReportLost, selfServiceCtkipUrl.',
    });
    await assert.rejects(settings.change(holder('user1'), { tokensPerUser: 4 }), { code: 'FORBIDDEN' });
    assert.equal((await settings.current()).selfServiceRequest, true, 'a refused change changed nothing');
    assert.equal((await settings.current()).tokensPerUser, 3);
  });

  test('the Security Console form: a refused value is shown again with its message; unticked switches are off; all or none', async () => {
    const admin = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '10.1.0.1');
    await admin.get('/console/settings');
    const refused = await admin.post('/console/settings/values', { tokensPerUser: '0', selfServiceRequest: 'yes' });
    assert.equal(refused.statusCode, 400);
    assert.match(pageText(refused.body), /tokensPerUser must be a whole number from 1 to 100\./);
    assert.match(refused.body, /name="tokensPerUser"[^>]*value="0"/);
    assert.equal((await tally.services.settings.current()).selfServiceReissue, true, 'a refused form changes nothing');
    const saved = await admin.post('/console/settings/values', {
      tokensPerUser: '4',
      selfServiceRequest: 'yes',
      selfServiceReissue: 'yes',
      selfServiceCtkipUrl: 'yes',
    });
    assert.equal(saved.statusCode, 303);
    assert.equal(saved.headers.location, '/console/settings?notice=settings-saved');
    const current = await tally.services.settings.current();
    assert.equal(current.tokensPerUser, 4);
    assert.equal(current.selfServiceReportLost, false, 'the unticked box turned its switch off');
    await tally.services.settings.change(systemActor, { tokensPerUser: 3, selfServiceReportLost: true });
  });

  test('an administrator distributes up to the limit; the next is refused over REST with TOKEN_LIMIT_REACHED and no token made', async () => {
    const username = await newUser();
    for (let i = 0; i < 3; i++) assert.equal((await distribute(username)).statusCode, 201);
    const refused = await distribute(username);
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().error.code, 'TOKEN_LIMIT_REACHED');
    assert.match(refused.json().error.message, new RegExp(`^${username} has 3 token\\(s\\), and the limit is 3 per user`));
    assert.equal(await held(username), 3);
    const [event] = await tally.services.audit.list(systemActor, { action: 'token.distribute', limit: 1 });
    assert.equal(event?.result, 'failure');
    assert.equal(event?.details?.error, 'TOKEN_LIMIT_REACHED');
  });

  test('disabled and lost tokens count until unassigned; unassigning frees a slot; assigning an unassigned token is limited too', async () => {
    const username = await newUser();
    const serials: string[] = [];
    for (let i = 0; i < 3; i++) serials.push((await distribute(username)).json().serial);
    await getStore()
      .db.updateTable('tokens')
      .set({ state: 'active' })
      .where('serial', '=', serials[0] ?? '')
      .execute();
    await tally.services.tokenAdmin.reportLost(systemActor, serials[0] ?? '', { emergency: 'none' });
    assert.equal((await tally.services.tokens.get(systemActor, serials[0] ?? '')).state, 'disabled');
    const [spare] = await tally.services.distribution.createUnassigned(systemActor, QR.name, 1);
    const assign = () => api('POST', `/api/v1/tokens/${spare?.serial}/assign`, { username });
    const refused = await assign();
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().error.code, 'TOKEN_LIMIT_REACHED');
    assert.equal(
      (await tally.services.tokens.get(systemActor, spare?.serial ?? '')).state,
      'unassigned',
      'the token stays in the inventory',
    );
    assert.equal((await api('POST', `/api/v1/tokens/${serials[0]}/unassign`)).statusCode, 200);
    assert.equal((await assign()).statusCode, 200);
    assert.equal(await held(username), 3);
  });

  test('raising the limit lets an administrator give more; lowering it takes nothing away', async () => {
    const username = await newUser();
    await allowTokensPerUser(tally, 5);
    try {
      for (let i = 0; i < 5; i++) assert.equal((await distribute(username)).statusCode, 201);
      assert.equal((await distribute(username)).statusCode, 409);
    } finally {
      await allowTokensPerUser(tally, 3);
    }
    assert.equal(await held(username), 5);
    assert.equal((await distribute(username)).json().error.code, 'TOKEN_LIMIT_REACHED');
  });

  test('a bulk distribution reports the users at their limit and goes on with the others', async () => {
    const full = await newUser();
    const free = await newUser();
    for (let i = 0; i < 3; i++) await distribute(full);
    const run = await tally.services.bulk.start(systemActor, QR.name, [full, free]);
    await tally.services.bulk.idle();
    const items = await tally.services.bulk.items(systemActor, run.id, { limit: 10, offset: 0 });
    assert.deepEqual(
      items.map((item) => [item.username, item.result, item.error]),
      [
        [full, 'failed', 'TOKEN_LIMIT_REACHED'],
        [free, 'distributed', null],
      ],
    );
    assert.equal((await tally.services.bulk.get(systemActor, run.id)).state, 'finished');
  });

  test('a user at the limit cannot request a token; waiting requests count; an approval past the limit leaves the request waiting', async () => {
    const username = await newUser();
    const me = holder(username);
    await tally.services.requests.request(me, QR.name);
    await tally.services.requests.request(me, QR.name);
    const waiting = await tally.services.requests.request(me, APPROVAL.name);
    assert.equal(waiting.outcome, 'waiting');
    // Two tokens and one request waiting: the third slot is taken.
    const refused = await refusal(tally.services.requests.request(me, QR.name));
    assert.equal(refused, 'TOKEN_LIMIT_REACHED');
    await assert.rejects(tally.services.requests.request(me, QR.name), {
      message:
        'You have 2 token(s) and 1 request(s) waiting for approval, and a user may have 3: ask your IT helpdesk to take back a token you no longer use.',
    });
    // An administrator gives the user a third token meanwhile: the waiting request can no longer be approved.
    assert.equal((await distribute(username)).statusCode, 201);
    if (waiting.outcome !== 'waiting') throw new Error('unreachable');
    const approval = await api('POST', `/api/v1/requests/${waiting.request.id}/approve`);
    assert.equal(approval.statusCode, 409);
    assert.equal(approval.json().error.code, 'TOKEN_LIMIT_REACHED');
    const [mine] = await tally.services.requests.mine(me);
    assert.equal(mine?.state, 'pending', 'the request waits again');
    assert.equal(await held(username), 3);
  });

  test('a replacement takes the place of the token it replaces: a user at the limit may replace an expiring token', async () => {
    const username = await newUser();
    const me = holder(username);
    const serials: string[] = [];
    for (let i = 0; i < 3; i++) serials.push((await distribute(username)).json().serial);
    // The newest: a token of the same profile given after it would count as its replacement already.
    const expiring = serials[2] ?? '';
    const today = new Date(tally.clock.now()).toISOString().slice(0, 10);
    await getStore().db.updateTable('tokens').set({ state: 'active', expires_on: today }).where('serial', '=', expiring).execute();
    const replaced = await tally.services.requests.requestReplacement(me, expiring);
    assert.equal(replaced.outcome, 'distributed');
    assert.equal(await held(username), 4);
    // Not a way round the limit: a second token of its own is still refused.
    assert.equal(await refusal(tally.services.requests.request(me, QR.name)), 'TOKEN_LIMIT_REACHED');
  });

  test('with one slot left, parallel distributions and assignments give exactly one token (on PostgreSQL from two nodes)', async () => {
    const username = await newUser();
    for (let i = 0; i < 2; i++) assert.equal((await distribute(username)).statusCode, 201);
    // A second node: its own services over its own connection pool to the same store (SQLite: the same file).
    let second: Store | undefined;
    let other: Services = tally.services;
    if (getStore().dialect === 'postgres') {
      second = await openStore(getHandle().options);
      other = createServices(second, tally.keyring, tally.clock, DEFAULT_SERVICE_OPTIONS);
    }
    try {
      const spare = await tally.services.distribution.createUnassigned(systemActor, QR.name, 4);
      const attempts = [
        tally.services.distribution.distributeToUser(systemActor, username, QR.name),
        other.distribution.distributeToUser(systemActor, username, QR.name),
        tally.services.distribution.distributeToUser(systemActor, username, QR.name),
        other.distribution.distributeToUser(systemActor, username, QR.name),
        ...spare.map((token, i) => (i % 2 === 0 ? tally.services : other).distribution.assign(systemActor, token.serial, username)),
      ];
      const outcomes = await Promise.allSettled(attempts);
      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const lost = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
      assert.equal(won.length, 1, 'exactly one gets the last slot');
      assert.deepEqual(
        lost.map((error) => (isTallyError(error) ? error.code : String(error))),
        Array(attempts.length - 1).fill('TOKEN_LIMIT_REACHED'),
      );
      assert.equal(await held(username), 3);
    } finally {
      await second?.close();
    }
  });
});
