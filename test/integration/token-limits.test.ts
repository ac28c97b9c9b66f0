import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/logger.js';
import { type RunningRadius, startRadiusServer } from '../../src/radius/server.js';
import { openStore } from '../../src/store/connect.js';
import { AuthenticationRepository } from '../../src/store/repositories/authentication.js';
import { connectionOf } from '../../src/store/unit-of-work.js';
import { firstItem, item } from '../support/items.js';
import { interopTest, runPeer } from '../support/peers.js';
import { papRequest, radclient, received } from '../support/radclient.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

const RADIUS_SECRET = 'radius-limits-secret-1';
const PSKC = 'urn:ietf:params:xml:ns:keyprov:pskc';

interface KeySpec {
  id: string;
  serial: string;
  kind: 'totp' | 'hotp';
  secret: Buffer;
  /** The inner XML of the key's Policy, or none. */
  policy?: string;
}

/** A plain PSKC file written the way RFC 6030's figures are: one KeyPackage per key, its Policy after Data. */
function pskcFile(keys: KeySpec[]): string {
  const packages = keys.map(
    (key) => `<KeyPackage><DeviceInfo><Manufacturer>Tally test</Manufacturer><SerialNo>${key.serial}</SerialNo></DeviceInfo>
  <Key Id="${key.id}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:${key.kind}">
    <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
    <Data><Secret><PlainValue>${key.secret.toString('base64')}</PlainValue></Secret>${key.kind === 'hotp' ? '<Counter><PlainValue>0</PlainValue></Counter>' : '<TimeInterval><PlainValue>30</PlainValue></TimeInterval>'}</Data>
    ${key.policy === undefined ? '' : `<Policy>${key.policy}</Policy>`}
  </Key></KeyPackage>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?><KeyContainer xmlns="${PSKC}" Version="1.0">${packages.join('\n')}</KeyContainer>`;
}

describeEachStore('imported keys keep their PSKC Policy limits', (getStore, getHandle) => {
  let tally: TestTally;
  let radius: RunningRadius;
  let report: { tokens: { serial: string; keyId?: string; result: string; reason?: string }[] };
  const seeds = new Map<string, Buffer>();
  const secret = (serial: string) => {
    const value = randomBytes(20);
    seeds.set(serial, value);
    return value;
  };
  const api = (url: string, payload?: object) =>
    tally.admin.inject({
      method: payload ? 'POST' : 'GET',
      url,
      headers: bearer(tally.tokens.superadmin),
      ...(payload ? { payload } : {}),
    });
  const verify = async (username: string, passcode: string) =>
    (
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(tally.tokens.agent),
        payload: { username, passcode },
      })
    ).json();
  const nowSeconds = () => Math.floor(tally.clock.now() / 1000);
  const totpNow = (serial: string) => runPeer('oathtool', ['--totp', '-N', `@${nowSeconds()}`, seeds.get(serial)!.toString('hex')]).trim();
  const hotpCodes = (serial: string, count: number) =>
    runPeer('oathtool', ['--hotp', '-c', '0', '-w', String(count - 1), seeds.get(serial)!.toString('hex')])
      .trim()
      .split('\n');

  before(async () => {
    tally = await createTestTally(getStore());
    radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
    // The test clock starts at 2026-11-29T12:00:00Z.
    const file = pskcFile([
      {
        id: 'key-expired',
        serial: 'LIM-EXPIRED',
        kind: 'totp',
        secret: secret('LIM-EXPIRED'),
        policy: '<StartDate>2025-01-01T00:00:00Z</StartDate><ExpiryDate>2026-06-01T00:00:00Z</ExpiryDate><KeyUsage>OTP</KeyUsage>',
      },
      {
        id: 'key-future',
        serial: 'LIM-FUTURE',
        kind: 'totp',
        secret: secret('LIM-FUTURE'),
        policy: '<StartDate>2026-12-01T00:00:00Z</StartDate><KeyUsage>OTP</KeyUsage>',
      },
      {
        id: 'key-twice',
        serial: 'LIM-TWICE',
        kind: 'hotp',
        secret: secret('LIM-TWICE'),
        policy: '<KeyUsage>OTP</KeyUsage><NumberOfTransactions>2</NumberOfTransactions>',
      },
      {
        id: 'key-once',
        serial: 'LIM-ONCE',
        kind: 'hotp',
        secret: secret('LIM-ONCE'),
        policy: '<NumberOfTransactions>1</NumberOfTransactions>',
      },
      { id: 'key-encrypt', serial: 'LIM-ENCRYPT', kind: 'totp', secret: secret('LIM-ENCRYPT'), policy: '<KeyUsage>Encrypt</KeyUsage>' },
      {
        id: 'key-server-pin',
        serial: 'LIM-PIN',
        kind: 'totp',
        secret: secret('LIM-PIN'),
        policy: '<PINPolicy PINKeyId="p1" PINUsageMode="Prepend"/><KeyUsage>OTP</KeyUsage>',
      },
      { id: 'key-first', serial: 'LIM-DUP', kind: 'totp', secret: secret('LIM-DUP') },
      { id: 'key-second', serial: 'LIM-DUP', kind: 'totp', secret: randomBytes(20) },
    ]);
    const imported = await api('/api/v1/tokens/import', { file: Buffer.from(file).toString('base64'), fileName: 'limits.pskc' });
    assert.equal(imported.statusCode, 200, imported.body);
    report = imported.json();
    for (const [serial, username] of [
      ['LIM-EXPIRED', 'lim-expired'],
      ['LIM-FUTURE', 'lim-future'],
      ['LIM-TWICE', 'lim-twice'],
      ['LIM-ONCE', 'lim-once'],
    ]) {
      assert.equal((await api('/api/v1/users', { username })).statusCode, 201);
      assert.equal((await api(`/api/v1/tokens/${serial}/assign`, { username })).json().state, 'active');
    }
    assert.equal((await api('/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET })).statusCode, 201);
  });
  after(async () => {
    await radius.close();
    await tally.close();
  });

  test("the import report refuses keys whose Policy forbids OTP or asks what Tally cannot enforce, and names a repeated serial's key by its Id", () => {
    const bySerialAndId = (serial: string, keyId: string) => report.tokens.find((t) => t.serial === serial && t.keyId === keyId);
    assert.equal(bySerialAndId('LIM-ENCRYPT', 'key-encrypt')?.result, 'refused');
    assert.match(bySerialAndId('LIM-ENCRYPT', 'key-encrypt')?.reason ?? '', /not OTP/);
    assert.equal(bySerialAndId('LIM-PIN', 'key-server-pin')?.result, 'refused');
    assert.match(bySerialAndId('LIM-PIN', 'key-server-pin')?.reason ?? '', /PINUsageMode "Prepend"/);
    assert.equal(bySerialAndId('LIM-DUP', 'key-first')?.result, 'imported');
    const second = bySerialAndId('LIM-DUP', 'key-second');
    assert.equal(second?.result, 'refused');
    assert.match(second?.reason ?? '', /Key Id "key-second" repeats serial LIM-DUP, which key Id "key-first"/);
    for (const serial of ['LIM-EXPIRED', 'LIM-FUTURE', 'LIM-TWICE', 'LIM-ONCE']) {
      assert.equal(report.tokens.find((t) => t.serial === serial)?.result, 'imported', serial);
    }
  });

  test('the token view shows the limits', async () => {
    const expired = (await api('/api/v1/tokens/LIM-EXPIRED')).json();
    assert.equal(expired.validFrom, '2025-01-01T00:00:00.000Z');
    assert.equal(expired.validUntil, '2026-06-01T00:00:00.000Z');
    assert.equal(expired.expiresOn, '2026-05-31');
    assert.equal(expired.usesLeft, null);
    assert.equal((await api('/api/v1/tokens/LIM-TWICE')).json().usesLeft, 2);
    assert.equal((await api('/api/v1/tokens/LIM-DUP')).json().usesLeft, null);
  });

  interopTest(
    "a key whose ExpiryDate has passed refuses oathtool's right code, over REST and RADIUS",
    ['oathtool', 'radclient'],
    async () => {
      assert.deepEqual(await verify('lim-expired', totpNow('LIM-EXPIRED')), {
        result: 'reject',
        message: 'The token has expired.',
        code: 'TOKEN_EXPIRED',
      });
      tally.clock.advance(30);
      const run = await radclient(
        radius.port,
        RADIUS_SECRET,
        papRequest('lim-expired', totpNow('LIM-EXPIRED'), { expect: 'Access-Reject' }),
      );
      assert.equal(run.status, 0, run.stdout + run.stderr);
      assert.match(received(run, 'Access-Reject'), /Reply-Message = "The token has expired."/);
      // A wrong code gets the ordinary answer: only a right code learns why.
      assert.deepEqual(await verify('lim-expired', '000000'), { result: 'reject', message: 'Access denied.' });
    },
  );

  interopTest('a key whose StartDate is ahead refuses a right code until then', ['oathtool'], async () => {
    assert.deepEqual(await verify('lim-future', totpNow('LIM-FUTURE')), {
      result: 'reject',
      message: 'The token may not be used yet (its start date is in the future).',
      code: 'TOKEN_NOT_YET_VALID',
    });
    const saved = tally.clock.ms;
    tally.clock.ms = Date.UTC(2026, 11, 1, 0, 0, 30);
    try {
      assert.deepEqual(await verify('lim-future', totpNow('LIM-FUTURE')), { result: 'accept' });
    } finally {
      tally.clock.ms = saved + 60_000;
    }
  });

  interopTest("NumberOfTransactions 2: two of oathtool's HOTP codes are accepted, the third is refused", ['oathtool'], async () => {
    const codes = hotpCodes('LIM-TWICE', 3);
    assert.deepEqual(await verify('lim-twice', firstItem(codes)), { result: 'accept' });
    assert.deepEqual(await verify('lim-twice', item(codes, 1)), { result: 'accept' });
    assert.deepEqual(await verify('lim-twice', item(codes, 2)), {
      result: 'reject',
      message: 'The token has been used as many times as it may be.',
      code: 'TOKEN_USES_EXHAUSTED',
    });
    assert.equal((await api('/api/v1/tokens/LIM-TWICE')).json().usesLeft, 0);
  });

  test('the last use is taken once, even by a node that read the token before another used it', async (t) => {
    const otherNode = await openStore(getHandle().options);
    t.after(() => otherNode.close());
    const stale = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', 'LIM-ONCE').executeTakeFirstOrThrow();
    assert.equal(stale.transactions_left, 1);
    const here = new AuthenticationRepository(getStore().db);
    const there = new AuthenticationRepository(otherNode.db);
    const at = tally.clock.now();
    // Both nodes decided on the same row (one use left), for two different, fresh counters.
    const first = await here.useSteps([{ row: { ...stale }, step: 0, at, driftSteps: 0, counter: 1 }], connectionOf(getStore().db));
    const second = await there.useSteps([{ row: { ...stale }, step: 1, at, driftSteps: 0, counter: 2 }], connectionOf(otherNode.db));
    assert.deepEqual([first.size, second.size], [1, 0]);
    const row = await getStore()
      .db.selectFrom('tokens')
      .select(['transactions_left', 'last_step'])
      .where('serial', '=', 'LIM-ONCE')
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { transactions_left: 0, last_step: 0 });
  });
});
