import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { clientHello } from '../../src/core/ctkip/exchange.js';
import { writeSdtid } from '../../src/core/securid/index.js';
import { tokenType } from '../../src/tokens/registry.js';
import { activate, CTKIP_URL, faultReason, finishExchange, postCtkip, startExchange } from '../support/ctkip.js';
import { interopTest, runPeer } from '../support/peers.js';
import { describeEachStore } from '../support/store.js';
import { allowTokensPerUser, bearer, createTestTally, type TestTally } from '../support/tally.js';

const INVALID = 'Invalid authorization code.';

describeEachStore('CT-KIP service', (getStore) => {
  let tally: TestTally;
  before(async () => {
    tally = await createTestTally(getStore());
    // Each case gives dana a token of her own, more than the default limit of 3.
    await allowTokensPerUser(tally, 20);
    for (const username of ['dana', 'erin']) {
      await tally.admin.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(tally.tokens.superadmin), payload: { username } });
    }
    const profile = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/profiles',
      headers: bearer(tally.tokens.superadmin),
      payload: { name: 'ctkip', tokenType: 'securid', deviceType: 'android', appVersion: '2.1', delivery: 'ctkip', digits: 8, period: 60 },
    });
    assert.equal(profile.statusCode, 201, profile.body);
  });
  after(async () => tally.close());

  const distribute = async (username = 'dana') => {
    const response = await tally.admin.inject({
      method: 'POST',
      url: `/api/v1/users/${username}/tokens`,
      headers: bearer(tally.tokens.superadmin),
      payload: { profile: 'ctkip' },
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as { serial: string; activationCode: string };
  };
  const tokenRow = (serial: string) =>
    getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();

  test('a distributed code provisions a token: both ends derive the same seed, which never travels', async () => {
    const { serial, activationCode } = await distribute();
    const { token, fault } = await activate(tally.public, activationCode);
    assert.equal(fault, undefined);
    assert.ok(token);
    assert.equal(token.serial, serial);
    assert.equal(token.digits, 8);
    assert.equal(token.period, 60);
    assert.equal(token.userId, 'dana');
    const row = await tokenRow(serial);
    assert.equal(row.state, 'active');
    const material = tally.services.tokens.material(row);
    assert.deepEqual(material.seed, token.seed);
    const step = Math.floor(tally.clock.now() / 60_000);
    assert.equal(tokenType('securid').codeAt(material, step).length, 8);
    const audit = (
      await tally.admin.inject({ url: `/api/v1/audit?serial=${serial}&action=ctkip.activate`, headers: bearer(tally.tokens.superadmin) })
    ).json();
    assert.equal(audit.events[0].source, '127.0.0.1');
    assert.equal(audit.events[0].details.clientVersion, '5.0.2.440');
    assert.doesNotMatch(JSON.stringify(audit), new RegExp(activationCode));
  });

  interopTest("the derived token, written as sdtid, gives stoken the server's codes", ['stoken'], async () => {
    const { serial, activationCode } = await distribute();
    const { token } = await activate(tally.public, activationCode);
    assert.ok(token);
    const home = mkdtempSync(join(tmpdir(), 'tally-ctkip-'));
    const file = join(home, 'client.sdtid');
    writeFileSync(
      file,
      writeSdtid({
        serial: token.serial,
        seed: token.seed,
        digits: token.digits,
        period: token.period,
        addPin: false,
        localPin: false,
        expiresOn: token.expiresOn,
      }),
    );
    const material = tally.services.tokens.material(await tokenRow(serial));
    for (const at of [Math.floor(tally.clock.now() / 1000), 1800000000]) {
      const expected = runPeer('stoken', ['tokencode', '--file', file, `--use-time=${at}`, '--pin=0000', '-b'], {
        env: { ...process.env, HOME: home },
      }).trim();
      assert.equal(tokenType('securid').codeAt(material, Math.floor(at / 60)), expected);
    }
  });

  test("the same code a second time, a reissued token's old code, and an expired code are refused", async () => {
    const { serial, activationCode } = await distribute();
    assert.ok((await activate(tally.public, activationCode)).token);
    assert.equal((await activate(tally.public, activationCode)).fault, INVALID);

    const second = await distribute('erin');
    const reissued = (
      await tally.admin.inject({ method: 'POST', url: `/api/v1/tokens/${second.serial}/reissue`, headers: bearer(tally.tokens.superadmin) })
    ).json();
    assert.equal((await activate(tally.public, second.activationCode)).fault, INVALID);
    assert.ok((await activate(tally.public, reissued.activationCode)).token);

    const third = await distribute('erin');
    tally.clock.advance(15 * 86_400);
    const expired = await activate(tally.public, third.activationCode);
    tally.clock.advance(-15 * 86_400);
    assert.equal(expired.fault, INVALID);
    assert.equal((await tokenRow(third.serial)).state, 'pending');
    void serial;
  });

  test('wrong codes count against the token: locked after 5, until an admin resets it', async () => {
    const { serial, activationCode } = await distribute();
    const locator = activationCode.slice(0, 5);
    for (let i = 0; i < 5; i++) {
      const wrong = locator + String((Number(activationCode.slice(5)) + 1 + i) % 10_000_000).padStart(7, '0');
      assert.equal((await activate(tally.public, wrong)).fault, INVALID);
    }
    assert.equal((await activate(tally.public, activationCode)).fault, INVALID, 'locked: even the right code is refused');
    const reset = await tally.admin.inject({
      method: 'POST',
      url: `/api/v1/tokens/${serial}/reset-activation`,
      headers: bearer(tally.tokens.superadmin),
    });
    assert.equal(reset.statusCode, 204, reset.body);
    assert.ok((await activate(tally.public, activationCode)).token);
  });

  test('a tampered ClientNonce, a truncated body, garbage, a DOCTYPE and a huge body: HTTP 200 faults, nothing changes', async () => {
    const { serial, activationCode } = await distribute();
    const started = await startExchange(tally.public, activationCode);
    assert.ok(started.requestXml && started.session);
    const tampered = started.requestXml.replace(
      /(<EncryptedNonce[^>]*>)(.)/,
      (_, tag: string, c: string) => `${tag}${c === 'A' ? 'B' : 'A'}`,
    );
    assert.notEqual(tampered, started.requestXml);
    const result = await finishExchange(tally.public, activationCode, started.session, tampered);
    assert.match(result.fault ?? '', /could not be decrypted/);
    assert.equal((await tokenRow(serial)).state, 'pending');
    const bodies = [
      '<soapenv:Envelope',
      'garbage',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
      `<x>${'A'.repeat(100_000)}</x>`,
      '',
    ];
    for (const payload of bodies) {
      const response = await tally.public.inject({
        method: 'POST',
        url: CTKIP_URL,
        headers: { 'content-type': 'application/vnd.otps.ct-kip' },
        payload,
      });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /^text\/xml/);
      assert.ok(faultReason(response.body), payload.slice(0, 30));
      assert.doesNotMatch(response.body, /\bat \w+ \(|node_modules/);
    }
    const badHello = await postCtkip(tally.public, activationCode, clientHello().replace('SecurID-AES', 'Other-AES'), 'StartService');
    assert.ok(faultReason(badHello.body));
    assert.equal((await tokenRow(serial)).state, 'pending');
    assert.ok((await activate(tally.public, activationCode)).token, 'the code still works after the failed attempts');
  });

  test('two clients racing with one code: exactly one gets a token', async () => {
    const { serial, activationCode } = await distribute();
    const [a, b] = await Promise.all([startExchange(tally.public, activationCode), startExchange(tally.public, activationCode)]);
    assert.ok(a.session && b.session && a.requestXml && b.requestXml);
    const results = await Promise.all([
      finishExchange(tally.public, activationCode, a.session, a.requestXml),
      finishExchange(tally.public, activationCode, b.session, b.requestXml),
    ]);
    assert.equal(results.filter((r) => r.token).length, 1);
    assert.equal(results.filter((r) => r.fault === INVALID).length, 1);
    const winner = results.find((r) => r.token)!.token!;
    assert.deepEqual(tally.services.tokens.material(await tokenRow(serial)).seed, winner.seed);
  });

  test('the server key is kept sealed in the store and survives a rotation mid-exchange', async () => {
    const { activationCode } = await distribute();
    const started = await startExchange(tally.public, activationCode);
    const rotated = await tally.admin.inject({ method: 'POST', url: '/api/v1/ctkip/rotate-key', headers: bearer(tally.tokens.superadmin) });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const finished = await finishExchange(tally.public, activationCode, started.session!, started.requestXml!);
    assert.ok(finished.token, finished.fault);
    const keys = await getStore().db.selectFrom('ctkip_server_keys').selectAll().execute();
    assert.ok(keys.length >= 2);
    for (const key of keys) assert.match(key.private_key_sealed, /^v1\./);
  });
});
