import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import { buildAccessRequest } from '../../src/core/radius/authenticators.js';
import { addPinToTokencode, writeSdtid } from '../../src/core/securid/index.js';
import { createLogger } from '../../src/logger.js';
import { type RunningRadius, startRadiusServer } from '../../src/radius/server.js';
import { openStore } from '../../src/store/connect.js';
import { tokenType } from '../../src/tokens/registry.js';
import { firstItem, item } from '../support/items.js';
import { interopTest, runPeer } from '../support/peers.js';
import { papRequest, radclient, received, replyState } from '../support/radclient.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';
import { securIdTestToken } from '../support/tokens.js';

const RADIUS_SECRET = 'radius-test-secret-1';

describeEachStore('authentication (REST and RADIUS)', (getStore, handle) => {
  let tally: TestTally;
  let radius: RunningRadius;
  const seeds = new Map<string, Buffer>();
  before(async () => {
    tally = await createTestTally(getStore());
    radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
    const api = (url: string, payload: object) =>
      tally.admin.inject({ method: 'POST', url, headers: bearer(tally.tokens.superadmin), payload });
    for (const username of [
      'totp-user',
      'hotp-user',
      'securid-user',
      'pin-user',
      'lock-user',
      'lost-user',
      'race-user',
      'drift-user',
      'radius-user',
      'radius-pin',
      'radius-locked',
      'next-user',
    ]) {
      assert.equal((await api('/api/v1/users', { username })).statusCode, 201);
    }
    const totpSeed = randomBytes(20);
    const hotpSeed = randomBytes(20);
    seeds.set('TOTP-A', totpSeed);
    seeds.set('HOTP-A', hotpSeed);
    const oath = [
      { kind: 'totp' as const, serial: 'TOTP-A', secret: totpSeed },
      { kind: 'hotp' as const, serial: 'HOTP-A', secret: hotpSeed },
      ...['TOTP-LOCK', 'TOTP-LOST', 'TOTP-RACE', 'TOTP-DRIFT', 'TOTP-RADIUS', 'TOTP-RLOCK', 'TOTP-NEXT'].map((serial) => {
        const secret = randomBytes(20);
        seeds.set(serial, secret);
        return { kind: 'totp' as const, serial, secret };
      }),
    ].map((k) =>
      k.kind === 'totp'
        ? {
            kind: 'totp' as const,
            id: k.serial,
            serial: k.serial,
            secret: k.secret,
            digits: 6,
            algorithm: 'SHA1' as const,
            period: 30,
          }
        : { kind: 'hotp' as const, id: k.serial, serial: k.serial, secret: k.secret, digits: 6, algorithm: 'SHA1' as const, counter: 0 },
    );
    assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writePskc(oath)).toString('base64') })).json().imported, 9);
    const tokens = [
      securIdTestToken('111111111111', false),
      securIdTestToken('222222222222', true),
      securIdTestToken('333333333333', true),
    ];
    for (const t of tokens) seeds.set(t.serial, t.seed);
    assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writeSdtid(tokens)).toString('base64') })).json().imported, 3);
    const assignments: [string, string][] = [
      ['TOTP-A', 'totp-user'],
      ['HOTP-A', 'hotp-user'],
      ['111111111111', 'securid-user'],
      ['222222222222', 'pin-user'],
      ['TOTP-LOCK', 'lock-user'],
      ['TOTP-LOST', 'lost-user'],
      ['TOTP-RACE', 'race-user'],
      ['TOTP-DRIFT', 'drift-user'],
      ['TOTP-RADIUS', 'radius-user'],
      ['333333333333', 'radius-pin'],
      ['TOTP-RLOCK', 'radius-locked'],
      ['TOTP-NEXT', 'next-user'],
    ];
    for (const [serial, username] of assignments)
      assert.equal((await api(`/api/v1/tokens/${serial}/assign`, { username })).json().state, 'active');
    assert.equal((await api('/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET })).statusCode, 201);
  });
  after(async () => {
    await radius.close();
    await tally.close();
  });

  const nowSeconds = () => Math.floor(tally.clock.now() / 1000);
  async function code(serial: string, offsetSteps = 0): Promise<string> {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    const material = tally.services.tokens.material(row);
    const type = tokenType(row.token_type);
    const step = type.movingFactor === 'counter' ? row.counter + offsetSteps : Math.floor(nowSeconds() / row.period) + offsetSteps;
    return type.codeAt(material, step);
  }
  const verify = async (username: string, passcode: string, state?: string, token = tally.tokens.agent) =>
    (
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(token),
        payload: { username, passcode, ...(state ? { state } : {}) },
      })
    ).json();

  interopTest(
    "TOTP: oathtool's code is accepted once; the replay, a wrong code and an unknown user are rejected alike",
    ['oathtool'],
    async () => {
      tally.clock.advance(30);
      const fromOathtool = runPeer('oathtool', ['--totp', '-N', `@${nowSeconds()}`, seeds.get('TOTP-A')!.toString('hex')]).trim();
      assert.deepEqual(await verify('totp-user', fromOathtool), { result: 'accept' });
      assert.deepEqual(await verify('totp-user', fromOathtool), { result: 'reject', message: 'Access denied.' });
      assert.deepEqual(await verify('totp-user', fromOathtool === '123456' ? '654321' : '123456'), {
        result: 'reject',
        message: 'Access denied.',
      });
      assert.deepEqual(await verify('nobody-at-all', fromOathtool), { result: 'reject', message: 'Access denied.' });
      tally.clock.advance(30);
      assert.deepEqual(
        await verify('totp-user', await code('TOTP-A', -1)),
        { result: 'reject', message: 'Access denied.' },
        'a step before the last accepted one is a replay',
      );
      assert.deepEqual(
        await verify('totp-user', await code('TOTP-A', 1)),
        { result: 'accept' },
        'one step ahead is inside the small window',
      );
    },
  );

  interopTest('HOTP: look-ahead accepts, counters only move forward, a far counter needs the next code', ['oathtool'], async () => {
    const hex = seeds.get('HOTP-A')!.toString('hex');
    const codes = runPeer('oathtool', ['--hotp', '-c', '0', '-w', '12', hex]).trim().split('\n');
    assert.deepEqual(await verify('hotp-user', firstItem(codes)), { result: 'accept' });
    assert.deepEqual(await verify('hotp-user', item(codes, 3)), { result: 'accept' });
    assert.equal((await verify('hotp-user', item(codes, 2))).result, 'reject');
    const far = await verify('hotp-user', item(codes, 10));
    assert.equal(far.result, 'challenge');
    assert.equal(far.message, 'Wait for the tokencode to change, then enter the new tokencode:');
    assert.equal((await verify('hotp-user', item(codes, 11), far.state)).result, 'accept');
  });

  interopTest("SecurID: stoken's tokencode is accepted", ['stoken'], async () => {
    tally.clock.advance(60);
    const file = writeSdtid({
      serial: '111111111111',
      seed: seeds.get('111111111111')!,
      digits: 8,
      period: 60,
      addPin: false,
      localPin: false,
      expiresOn: '2035-12-31',
    });
    const dir = (await import('node:fs')).mkdtempSync('/tmp/tally-auth-');
    (await import('node:fs')).writeFileSync(`${dir}/t.sdtid`, file);
    const tokencode = runPeer('stoken', ['tokencode', '--file', `${dir}/t.sdtid`, `--use-time=${nowSeconds()}`, '--pin=0000', '-b'], {
      env: { ...process.env, HOME: dir },
    }).trim();
    assert.deepEqual(await verify('securid-user', tokencode), { result: 'accept' });
    assert.equal((await verify('securid-user', tokencode)).result, 'reject');
  });

  test('new PIN mode (AddPIN token): tokencode → new PIN → again → PIN added into the code by the app', async () => {
    tally.clock.advance(60);
    const first = await verify('pin-user', await code('222222222222'));
    assert.equal(first.result, 'challenge');
    assert.match(first.message, /new PIN of 4 to 8 digits/);
    const weak = await verify('pin-user', '1111', first.state);
    assert.equal(weak.result, 'challenge');
    assert.match(weak.message, /too easy/);
    const again = await verify('pin-user', '2580', weak.state);
    assert.equal(again.result, 'challenge');
    assert.match(again.message, /again/);
    assert.equal((await verify('pin-user', '2580', again.state)).result, 'accept');
    assert.equal((await verify('pin-user', '2580', again.state)).result, 'reject', 'a state answers once');
    tally.clock.advance(60);
    const tokencode = await code('222222222222');
    assert.equal((await verify('pin-user', tokencode)).result, 'reject', 'the bare tokencode no longer works');
    assert.deepEqual(await verify('pin-user', addPinToTokencode(tokencode, '2580')), { result: 'accept' });
  });

  test('drift: a code 5 steps off needs the next code; then the offset is remembered', async () => {
    const off = await verify('drift-user', await code('TOTP-DRIFT', 5));
    assert.equal(off.result, 'challenge');
    assert.equal((await verify('drift-user', await code('TOTP-DRIFT', 7), off.state)).result, 'reject', 'not the next code');
    const again = await verify('drift-user', await code('TOTP-DRIFT', 8));
    assert.equal(again.result, 'challenge');
    assert.equal((await verify('drift-user', await code('TOTP-DRIFT', 9), again.state)).result, 'accept');
    tally.clock.advance(30);
    assert.equal((await verify('drift-user', await code('TOTP-DRIFT', 10))).result, 'accept', 'the clock offset is applied now');
    assert.equal((await verify('drift-user', await code('TOTP-DRIFT', 40))).result, 'reject', 'beyond the large window');
  });

  test('lockout: 10 wrong passcodes lock the user; the right code is then rejected until an admin unlocks', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await verify('lock-user', '000000')).result, 'reject');
    tally.clock.advance(30);
    assert.equal((await verify('lock-user', await code('TOTP-LOCK'))).result, 'reject');
    const unlock = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/users/lock-user/unlock',
      headers: bearer(tally.tokens.helpdesk),
    });
    assert.equal(unlock.statusCode, 200, unlock.body);
    await tally.admin.inject({ method: 'POST', url: '/api/v1/tokens/TOTP-LOCK/unlock', headers: bearer(tally.tokens.helpdesk) });
    tally.clock.advance(30);
    const passcode = await code('TOTP-LOCK');
    assert.equal((await verify('lock-user', passcode)).result, 'accept');
    const audit = (
      await tally.admin.inject({ url: '/api/v1/audit?serial=TOTP-LOCK&action=auth.rest', headers: bearer(tally.tokens.superadmin) })
    ).json();
    assert.equal(audit.events[0].result, 'success');
    const all = (await tally.admin.inject({ url: '/api/v1/audit?limit=1000', headers: bearer(tally.tokens.superadmin) })).body;
    assert.ok(!all.includes(passcode), 'no passcode in the audit trail');
  });

  test('three wrong passcodes in a row: the right code then needs the next one too, and an accept clears the failures', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await verify('next-user', '000000')).result, 'reject');
    const user = () =>
      getStore().db.selectFrom('users').select('failed_logons').where('username', '=', 'next-user').executeTakeFirstOrThrow();
    assert.equal((await user()).failed_logons, 3);
    const asked = await verify('next-user', await code('TOTP-NEXT'));
    assert.equal(asked.result, 'challenge', 'next tokencode mode after the wrong ones');
    assert.equal((await verify('next-user', await code('TOTP-NEXT', 1), asked.state)).result, 'accept');
    assert.equal((await user()).failed_logons, 0);
    tally.clock.advance(60);
    assert.equal((await verify('next-user', await code('TOTP-NEXT'))).result, 'accept', 'back to a single code');
  });

  test('lost token: an emergency code works once while the token is disabled; enabling ends it', async () => {
    const lost = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/tokens/TOTP-LOST/lost',
      headers: bearer(tally.tokens.superadmin),
      payload: { emergency: 'one-time', days: 3 },
    });
    assert.equal(lost.statusCode, 200, lost.body);
    const { emergencyCode } = lost.json();
    assert.match(emergencyCode, /^\d{8}$/);
    tally.clock.advance(30);
    assert.equal((await verify('lost-user', await code('TOTP-LOST'))).result, 'reject', 'the lost token no longer authenticates');
    assert.equal((await verify('lost-user', emergencyCode)).result, 'accept');
    assert.equal((await verify('lost-user', emergencyCode)).result, 'reject', 'one-time');
    const enabled = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/tokens/TOTP-LOST/enable',
      headers: bearer(tally.tokens.helpdesk),
    });
    assert.equal(enabled.json().state, 'active');
    tally.clock.advance(30);
    assert.equal((await verify('lost-user', await code('TOTP-LOST'))).result, 'accept');
  });

  test('the same code sent concurrently is accepted exactly once', async () => {
    tally.clock.advance(30);
    const passcode = await code('TOTP-RACE');
    const results = await Promise.all(Array.from({ length: 10 }, () => verify('race-user', passcode)));
    assert.equal(results.filter((r) => r.result === 'accept').length, 1);
  });

  test('bad input on the REST adapter: empty, overlong, non-digit passcodes, wrong roles', async () => {
    for (const passcode of ['', 'x'.repeat(200), 'abcdef', '12 34 56', '١٢٣٤٥٦']) {
      const reply = await verify('totp-user', passcode);
      assert.equal(reply.result, 'reject', passcode);
    }
    const tooLong = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/auth/verify',
      headers: bearer(tally.tokens.agent),
      payload: { username: 'x', passcode: '1'.repeat(300) },
    });
    assert.equal(tooLong.json().error.code, 'VALIDATION_FAILED');
    const helpdesk = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/auth/verify',
      headers: bearer(tally.tokens.helpdesk),
      payload: { username: 'x', passcode: '1' },
    });
    assert.equal(helpdesk.statusCode, 403);
    const agentElsewhere = await tally.admin.inject({ url: '/api/v1/users', headers: bearer(tally.tokens.agent) });
    assert.equal(agentElsewhere.statusCode, 403);
  });

  interopTest('RADIUS with radclient: accept, replay, wrong code, unknown user', ['radclient'], async () => {
    tally.clock.advance(30);
    const passcode = await code('TOTP-RADIUS');
    const accepted = await radclient(radius.port, RADIUS_SECRET, papRequest('radius-user', passcode));
    assert.equal(accepted.status, 0, accepted.stdout + accepted.stderr);
    assert.match(received(accepted, 'Access-Accept'), /Message-Authenticator = 0x[0-9a-f]{32}/);
    for (const [user, pass] of [
      ['radius-user', passcode],
      ['radius-user', '000000'],
      ['no-such-user', passcode],
    ] as const) {
      const run = await radclient(radius.port, RADIUS_SECRET, papRequest(user, pass, { expect: 'Access-Reject' }));
      assert.equal(run.status, 0, run.stdout + run.stderr);
      assert.match(received(run, 'Access-Reject'), /Reply-Message = "Access denied."/);
    }
  });

  interopTest('RADIUS: a locked user gets Access-Reject even with the right code', ['radclient'], async () => {
    for (let i = 0; i < 10; i++)
      await radclient(radius.port, RADIUS_SECRET, papRequest('radius-locked', '000000', { expect: 'Access-Reject' }));
    tally.clock.advance(30);
    const run = await radclient(
      radius.port,
      RADIUS_SECRET,
      papRequest('radius-locked', await code('TOTP-RLOCK'), { expect: 'Access-Reject' }),
    );
    assert.match(received(run, 'Access-Reject'), /Access denied/);
  });

  interopTest('RADIUS new PIN challenge with State through radclient', ['radclient'], async () => {
    tally.clock.advance(60);
    const first = await radclient(
      radius.port,
      RADIUS_SECRET,
      papRequest('radius-pin', await code('333333333333'), { expect: 'Access-Challenge' }),
    );
    const challenge = received(first, 'Access-Challenge');
    assert.match(challenge, /Reply-Message = "Enter a new PIN/);
    const second = await radclient(
      radius.port,
      RADIUS_SECRET,
      papRequest('radius-pin', '4826', { state: replyState(challenge), expect: 'Access-Challenge' }),
    );
    const confirm = received(second, 'Access-Challenge');
    const third = await radclient(radius.port, RADIUS_SECRET, papRequest('radius-pin', '4826', { state: replyState(confirm) }));
    assert.match(received(third, 'Access-Accept'), /New PIN accepted/);
  });

  interopTest('RADIUS drops unknown clients, unsigned requests and garbage, and keeps answering', ['radclient'], async () => {
    const wrongSecret = await radclient(radius.port, 'not-the-secret', papRequest('radius-user', '123456'), { timeoutSeconds: 1 });
    assert.match(wrongSecret.stdout, /No reply from server/);
    const unsigned = await radclient(radius.port, RADIUS_SECRET, ['User-Name = "radius-user"', 'User-Password = "123456"'], {
      timeoutSeconds: 1,
    });
    assert.match(unsigned.stdout, /No reply from server/);
    const stranger = dgram.createSocket('udp4');
    stranger.bind(0, '127.0.0.9');
    await once(stranger, 'listening');
    const answers: Buffer[] = [];
    stranger.on('message', (m) => answers.push(m));
    stranger.send(
      buildAccessRequest({ identifier: 1, authenticator: randomBytes(16), userName: 'radius-user', password: '123456' }, RADIUS_SECRET),
      radius.port,
      '127.0.0.1',
    );
    for (const garbage of [Buffer.alloc(0), randomBytes(19), randomBytes(5000), Buffer.from([1, 1, 0, 200, ...randomBytes(16)])])
      stranger.send(garbage, radius.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 300));
    stranger.close();
    assert.equal(answers.length, 0, 'a client that is not registered gets no answer');
    tally.clock.advance(30);
    const still = await radclient(radius.port, RADIUS_SECRET, papRequest('radius-user', await code('TOTP-RADIUS')));
    received(still, 'Access-Accept');
  });

  interopTest(
    'RADIUS: requests dropped for their Message-Authenticator are named in a warning, once per client and minute',
    ['radclient'],
    async () => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const watched = await startRadiusServer(tally.services, {
        host: '127.0.0.1',
        port: 0,
        logger: createLogger('info', sink),
        clock: tally.clock,
      });
      const unsigned = (user: string) => [`User-Name = "${user}"`, 'User-Password = "123456"'];
      const warnings = () => lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40);
      try {
        const three = await Promise.all(
          ['radius-user', 'lock-user', 'totp-user'].map((user) =>
            radclient(watched.port, RADIUS_SECRET, unsigned(user), { timeoutSeconds: 1 }),
          ),
        );
        for (const run of three) assert.match(run.stdout, /No reply from server/);
        assert.equal(warnings().length, 1, lines.join(''));
        const [first] = warnings();
        assert.equal(first.client, 'vpn');
        assert.equal(first.address, '127.0.0.1');
        assert.equal(first.code, 'RADIUS_MESSAGE_AUTHENTICATOR_MISSING');
        assert.match(first.msg, /client vpn dropped unanswered: it has no Message-Authenticator.*requireMessageAuthenticator: false/);
        assert.doesNotMatch(lines.join(''), /123456/, 'nothing of the request is logged');
        tally.clock.advance(59);
        await radclient(watched.port, 'not-the-secret', papRequest('radius-user', '123456'), { timeoutSeconds: 1 });
        assert.equal(warnings().length, 1, 'still within the minute');
        tally.clock.advance(2);
        await radclient(watched.port, 'not-the-secret', papRequest('radius-user', '123456'), { timeoutSeconds: 1 });
        assert.equal(warnings().length, 2, 'a minute on, the next drop is named again');
        const second = warnings()[1];
        assert.equal(second.code, 'RADIUS_BAD_AUTHENTICATOR');
        assert.equal(second.droppedSinceLastWarning, 3);
        assert.match(second.msg, /shared secret configured on the client differs/);
      } finally {
        await watched.close();
      }
    },
  );

  test('a change written by another connection (a tally command, another node) counts at the next authentication', async () => {
    // Straight to the service, as the RADIUS adapter calls it: nothing else writes in between.
    const nas = { kind: 'radius-client' as const, name: 'vpn', role: 'agent' as const, source: '127.0.0.1' };
    const check = async (passcode: string) =>
      (await tally.services.authentication.verify(nas, { username: 'totp-user', passcode, channel: 'radius' })).result;
    for (let i = 0; i < 2; i++) {
      tally.clock.advance(30);
      assert.equal(await check(await code('TOTP-A')), 'accept');
    }
    const other = await openStore(handle().options);
    try {
      await other.db.updateTable('tokens').set({ state: 'disabled' }).where('serial', '=', 'TOTP-A').execute();
      tally.clock.advance(30);
      assert.equal(await check(await code('TOTP-A')), 'reject', 'a token disabled elsewhere no longer authenticates');
      await other.db.updateTable('tokens').set({ state: 'active', last_step: null }).where('serial', '=', 'TOTP-A').execute();
      assert.equal(await check(await code('TOTP-A')), 'accept', 'enabled again elsewhere, it does');
      assert.equal(await check(await code('TOTP-A')), 'reject', 'and a code accepted here is still not accepted twice');
    } finally {
      await other.close();
    }
  });

  test('a User-Name no user can have (a NUL, overlong) is rejected and audited without spoiling its batch', async () => {
    const nas = { kind: 'radius-client' as const, name: 'vpn', role: 'agent' as const, source: '127.0.0.1' };
    tally.clock.advance(30);
    const [odd, long, good] = await Promise.all([
      tally.services.authentication.verify(nas, { username: 'radius\u0000user', passcode: '123456', channel: 'radius' }),
      tally.services.authentication.verify(nas, { username: 'u'.repeat(300), passcode: '123456', channel: 'radius' }),
      tally.services.authentication.verify(nas, { username: 'radius-user', passcode: await code('TOTP-RADIUS'), channel: 'radius' }),
    ]);
    assert.equal(odd.result, 'reject');
    assert.equal(long.result, 'reject');
    assert.equal(good.result, 'accept', 'the request settled with them is answered as if they were not there');
    const audit = (
      await tally.admin.inject({
        url: '/api/v1/audit?action=auth.radius&result=failure&limit=20',
        headers: bearer(tally.tokens.superadmin),
      })
    ).json();
    assert.ok(
      audit.events.some((e: { target: string }) => e.target === 'radius\\u0000user'),
      'recorded, with the NUL written as an escape',
    );
  });

  test('more authentications waiting than the limit: the extra one is refused at once, the others answered', async () => {
    const nas = { kind: 'radius-client' as const, name: 'vpn', role: 'agent' as const, source: '127.0.0.1' };
    const waiting = Array.from({ length: 10_001 }, (_, i) =>
      tally.services.authentication.verify(nas, { username: `flood-${i}`, passcode: '123456', channel: 'radius' }),
    );
    const settled = await Promise.allSettled(waiting);
    const refused = settled.filter((s) => s.status === 'rejected');
    assert.equal(refused.length, 1);
    assert.equal(((refused[0] as PromiseRejectedResult).reason as { code: string }).code, 'RATE_LIMITED');
    assert.ok(settled.slice(0, 10_000).every((s) => s.status === 'fulfilled' && s.value.result === 'reject'));
    assert.equal(
      (await tally.services.authentication.verify(nas, { username: 'flood-after', passcode: '123456', channel: 'radius' })).result,
      'reject',
      'answered again once the queue drained',
    );
  });
});
