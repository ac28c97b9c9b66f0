import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import { createLogger } from '../../src/logger.js';
import { type RunningRadius, startRadiusServer } from '../../src/radius/server.js';
import { tokenType } from '../../src/tokens/registry.js';
import { interopTest } from '../support/peers.js';
import { papRequest, radclient, received } from '../support/radclient.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';
import { pageText, WebClient } from '../support/web.js';

const RADIUS_SECRET = 'radius-test-secret-1';
const password = (username: string) => `${username}-password-1`;

/**
 * Log-on failures slow the next attempts down instead of locking the user, are counted per console,
 * and never touch passcode authentication: a stranger at the public Self-Service form cannot lock
 * anyone out of the VPN or the Security Console, and a guesser still gets only a few tries a minute.
 */
describeEachStore('log-on delays', (getStore) => {
  let tally: TestTally;
  let radius: RunningRadius;
  let address = 0;
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
  /** Each attempt from an address of its own: the per-address rate limit is not what is tested here. */
  const selfService = (username: string, pass: string) =>
    new WebClient(tally.public, `10.2.${address >> 8}.${++address & 255}`).logOn(username, pass);
  const securityConsole = async (username: string, pass: string) => {
    const client = new WebClient(tally.admin, `10.3.${address >> 8}.${++address & 255}`);
    await client.get('/console');
    return client.post('/console/logon', { username, password: pass });
  };
  const code = async (serial: string) => {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    return tokenType(row.token_type).codeAt(tally.services.tokens.material(row), Math.floor(tally.clock.now() / 1000 / row.period));
  };
  const userRow = (username: string) =>
    getStore().db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirstOrThrow();

  before(async () => {
    tally = await createTestTally(getStore(), { logonRateLimit: 10_000 });
    radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
    assert.equal(
      (await api('POST', '/api/v1/users', { username: 'root', password: password('root'), role: 'superadmin' })).statusCode,
      201,
    );
    for (const username of ['alice', 'bob'])
      assert.equal((await api('POST', '/api/v1/users', { username, password: password(username) })).statusCode, 201);
    const keys = ['ROOT-1'].map((serial) => ({
      kind: 'totp' as const,
      id: serial,
      serial,
      secret: randomBytes(20),
      digits: 6,
      algorithm: 'SHA1' as const,
      period: 30,
    }));
    assert.equal(
      (await api('POST', '/api/v1/tokens/import', { file: Buffer.from(writePskc(keys)).toString('base64') })).json().imported,
      1,
    );
    assert.equal((await api('POST', '/api/v1/tokens/ROOT-1/assign', { username: 'root' })).json().state, 'active');
    assert.equal(
      (await api('POST', '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET })).statusCode,
      201,
    );
  });
  after(async () => {
    await radius.close();
    await tally.close();
  });

  interopTest(
    '50 wrong Self-Service passwords for a super admin lock nothing: the Security Console, REST and RADIUS (radclient) still take the right credentials',
    ['radclient'],
    async () => {
      for (let i = 0; i < 50; i++) {
        // Each guess after its wait, so that every one is checked and counted: the attacker's best case.
        tally.clock.advance(30);
        const guess = await selfService('root', `wrong-guess-${i}`);
        assert.equal(guess.statusCode, 401, `guess ${i}`);
      }
      const early = await selfService('root', 'another-guess');
      assert.equal(early.statusCode, 429, 'the guesser is slowed at the Self-Service form');
      assert.equal((await userRow('root')).failed_logons, 0, 'no passcode failure was counted');
      assert.equal((await userRow('root')).locked_until, null);

      const consoleLogOn = await securityConsole('root', password('root'));
      assert.equal(consoleLogOn.statusCode, 303, pageText(consoleLogOn.body));
      const rest = await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(tally.tokens.agent),
        payload: { username: 'root', passcode: await code('ROOT-1') },
      });
      assert.deepEqual(rest.json(), { result: 'accept' });
      tally.clock.advance(30);
      const run = await radclient(radius.port, RADIUS_SECRET, papRequest('root', await code('ROOT-1')));
      assert.equal(run.status, 0, run.stdout + run.stderr);
      received(run, 'Access-Accept');
    },
  );

  interopTest(
    'made-up challenge answers at the public Self-Service form count against nobody: the user still authenticates over RADIUS',
    ['radclient'],
    async () => {
      for (let i = 0; i < 30; i++) {
        const stranger = new WebClient(tally.public, `10.4.0.${i + 1}`);
        await stranger.get('/');
        const answer = await stranger.post('/logon/challenge', { username: 'root', state: `made-up-state-${i}`, answer: '000000' });
        assert.equal(answer.statusCode, 401);
      }
      assert.equal((await userRow('root')).failed_logons, 0, 'no passcode failure was counted against the user');
      tally.clock.advance(30);
      const run = await radclient(radius.port, RADIUS_SECRET, papRequest('root', await code('ROOT-1')));
      assert.equal(run.status, 0, run.stdout + run.stderr);
      received(run, 'Access-Accept');
    },
  );

  test('a guesser is slowed: after 5 failures an early attempt is refused with LOGON_DELAYED, Retry-After, its password unchecked; the right one after the wait logs on', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await selfService('alice', 'not-the-password')).statusCode, 401);
    const early = await selfService('alice', password('alice'));
    assert.equal(early.statusCode, 429, 'refused before the password is checked, even the right one');
    assert.equal(early.headers['retry-after'], '1');
    assert.match(pageText(early.body), /wait a few seconds/);
    tally.clock.advance(1);
    assert.equal((await selfService('alice', 'not-the-password')).statusCode, 401, 'checked once the wait is over');
    const doubled = await selfService('alice', password('alice'));
    assert.equal(doubled.statusCode, 429);
    assert.equal(doubled.headers['retry-after'], '2', 'each further failure doubles the wait');
    const audit = (await api('GET', '/api/v1/audit?action=logon.self-service&actor=alice')).json().events as {
      result: string;
      details?: { reason?: string };
    }[];
    assert.ok(
      audit.some((e) => e.details?.reason === 'delayed'),
      'a delayed attempt is audited as one',
    );
    tally.clock.advance(2);
    assert.equal((await selfService('alice', password('alice'))).statusCode, 303, 'the right password after the wait');
    for (let i = 0; i < 5; i++)
      assert.equal((await selfService('alice', 'not-the-password')).statusCode, 401, 'a success starts the count over');
  });

  test('a guesser gets at most a few checked attempts a minute per user, however fast they send', async () => {
    for (let i = 0; i < 10; i++) {
      tally.clock.advance(60);
      await selfService('bob', 'not-the-password');
    }
    let checked = 0;
    for (let second = 0; second < 60; second++) {
      if ((await selfService('bob', 'not-the-password')).statusCode === 401) checked++;
      tally.clock.advance(1);
    }
    assert.ok(checked >= 1 && checked <= 3, `${checked} attempts checked in a minute`);
  });

  test('each console counts its own failures: the Security Console delays its own guesser, not the Self-Service log-on; an unlock clears both', async () => {
    tally.clock.advance(3600);
    for (let i = 0; i < 5; i++) assert.equal((await securityConsole('root', 'not-the-password')).statusCode, 401);
    const delayed = await securityConsole('root', password('root'));
    assert.equal(delayed.statusCode, 429);
    assert.ok(Number(delayed.headers['retry-after']) >= 1);
    assert.equal((await selfService('root', password('root'))).statusCode, 303, 'the Self-Service count is another one');
    assert.equal((await api('POST', '/api/v1/users/root/unlock')).statusCode, 200);
    assert.equal((await securityConsole('root', password('root'))).statusCode, 303, "an admin's unlock ends the wait");
  });

  test('unknown usernames are delayed alike, so the answers tell nothing about which exist', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await selfService('nobody-here', 'not-the-password')).statusCode, 401);
    const delayed = await selfService('nobody-here', 'not-the-password');
    assert.equal(delayed.statusCode, 429);
    assert.equal(delayed.headers['retry-after'], '1');
  });
});
