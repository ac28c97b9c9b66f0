import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Actor } from '../../src/domain/actor.js';
import { createLogger } from '../../src/logger.js';
import { type RunningRadius, startRadiusServer } from '../../src/radius/server.js';
import { tokenType } from '../../src/tokens/registry.js';
import { activate } from '../support/ctkip.js';
import { interopTest, runPeer } from '../support/peers.js';
import { papRequest, radclient, received, replyState } from '../support/radclient.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally, verifyOverRest } from '../support/tally.js';

const RADIUS_SECRET = 'radius-pin-modes-1';
const NEXT_PROMPT = 'Wait for the tokencode to change, then enter the new tokencode:';

const PROFILES = {
  pinpadCtf: {
    name: 'PINPad CTF',
    tokenType: 'securid',
    deviceType: 'android',
    appVersion: '1.3',
    delivery: 'ctf',
    digits: 8,
    period: 60,
    pinMode: 'pinpad',
  },
  pinpadFile: { name: 'PINPad sdtid', tokenType: 'securid', deviceType: 'windows', delivery: 'file', digits: 6, pinMode: 'pinpad' },
  pinpadCtkip: { name: 'PINPad CT-KIP', tokenType: 'securid', deviceType: 'ios', appVersion: '2.0', delivery: 'ctkip', pinMode: 'pinpad' },
  fobCtkip: { name: 'Fob CT-KIP', tokenType: 'securid', deviceType: 'ios', appVersion: '2.0', delivery: 'ctkip', pinMode: 'required' },
  fobAlphanumeric: {
    name: 'Fob alphanumeric',
    tokenType: 'securid',
    deviceType: 'android',
    appVersion: '1.3',
    delivery: 'ctf',
    digits: 6,
    period: 60,
    pinMode: 'required',
    pinMinLength: 6,
    pinCharset: 'alphanumeric',
  },
  fobGenerated: {
    name: 'Fob generated PIN',
    tokenType: 'securid',
    deviceType: 'android',
    appVersion: '1.3',
    delivery: 'ctf',
    digits: 6,
    period: 60,
    pinMode: 'required',
    pinMaxLength: 6,
    pinGenerated: true,
  },
} as const;

describeEachStore('PIN modes and the PIN policy', (getStore) => {
  let tally: TestTally;
  let radius: RunningRadius;
  const home = mkdtempSync(join(tmpdir(), 'tally-pin-'));
  const stokenEnv = { ...process.env, HOME: home };
  before(async () => {
    tally = await createTestTally(getStore());
    radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
    for (const username of ['pat', 'sam', 'fob', 'next', 'ct', 'gen'])
      assert.equal((await api('POST', '/api/v1/users', { username })).statusCode, 201);
    for (const profile of Object.values(PROFILES)) {
      const created = await api('POST', '/api/v1/profiles', profile);
      assert.equal(created.statusCode, 201, created.body);
    }
    assert.equal(
      (await api('POST', '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET })).statusCode,
      201,
    );
  });
  after(async () => {
    await radius.close();
    await tally.close();
  });

  const api = (method: 'POST' | 'GET', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
  const verify = (username: string, passcode: string, state?: string) => verifyOverRest(tally, username, passcode, state);
  const nowSeconds = () => Math.floor(tally.clock.now() / 1000);
  /** The tokencode `offset` steps from now, as Tally computes it. */
  const codeOf = async (serial: string, offset = 0) => {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    return tokenType(row.token_type).codeAt(tally.services.tokens.material(row), Math.floor(nowSeconds() / row.period) + offset);
  };
  /** What stoken shows for a token (`--token` CTF string or `--file` sdtid) once the PIN is typed into it. */
  const stoken = (source: string[], pin: string, at = nowSeconds()) =>
    runPeer('stoken', ['tokencode', ...source, `--use-time=${at}`, `--pin=${pin}`, '-b'], { env: stokenEnv }).trim();
  const setFailures = (serial: string, count: number) =>
    getStore().db.updateTable('tokens').set({ failed_count: count }).where('serial', '=', serial).execute();
  const holder = (name: string): Actor => ({ kind: 'user', name, role: 'user' });

  test('profiles: PINPad only for SecurID, its PIN digits no longer than the tokencode; the policy checked field by field', async () => {
    const base = { tokenType: 'securid', deviceType: 'android', appVersion: '1.3', delivery: 'ctf', digits: 6, period: 60 };
    const refusals: [object, string][] = [
      [{ name: 'p1', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', pinMode: 'pinpad' }, 'pinMode'],
      [{ ...base, name: 'p2', pinMode: 'pinpad', pinCharset: 'alphanumeric' }, 'pinCharset'],
      [{ ...base, name: 'p3', pinMode: 'pinpad', pinMaxLength: 8 }, 'pinMaxLength'],
      [{ ...base, name: 'p4', pinMode: 'required', pinMinLength: 3 }, 'pinMinLength'],
      [{ ...base, name: 'p5', pinMode: 'required', pinMinLength: 7, pinMaxLength: 6 }, 'pinMaxLength'],
    ];
    for (const [profile, field] of refusals) {
      const refused = await api('POST', '/api/v1/profiles', profile);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json().error.details.field, field, refused.body);
    }
    const pinpad = (await api('GET', `/api/v1/profiles/${encodeURIComponent('PINPad sdtid')}`)).json();
    assert.deepEqual(
      [pinpad.pinMode, pinpad.pinMinLength, pinpad.pinMaxLength, pinpad.pinCharset, pinpad.pinReuse],
      ['pinpad', 4, 6, 'digits', false],
      'a 6-digit PINPad profile takes PINs of at most 6 digits',
    );
  });

  test("CT-KIP: ServerFinished's PIN settings say AddPIN for a PINPad profile's token, and not for PIN + tokencode", async () => {
    for (const [profile, addPin] of [
      [PROFILES.pinpadCtkip.name, true],
      [PROFILES.fobCtkip.name, false],
    ] as const) {
      const { activationCode } = (await api('POST', '/api/v1/users/ct/tokens', { profile })).json();
      const { token, fault } = await activate(tally.public, activationCode);
      assert.equal(fault, undefined);
      assert.equal(token?.addPin, addPin, profile);
    }
  });

  interopTest(
    'PINPad (CTF): stoken mixes the PIN Tally set into the code, which REST and RADIUS accept; the bare code and PIN + code are refused',
    ['stoken', 'radclient'],
    async () => {
      const issued = (await api('POST', '/api/v1/users/pat/tokens', { profile: PROFILES.pinpadCtf.name })).json();
      assert.equal(issued.state, 'active');
      const ctf = ['--token', issued.ctf];
      // No PIN yet: the app's code with an empty (all-zero) PIN is the tokencode, and opens the new PIN chain.
      tally.clock.advance(60);
      const first = await verify('pat', stoken(ctf, '0000'));
      assert.equal(first.result, 'challenge');
      assert.equal(first.message, 'Enter a new PIN of 4 to 8 digits.');
      const letters = await verify('pat', '39a1', first.state);
      assert.match(letters.message, /^A PIN is 4 to 8 digits\. Enter a new PIN/);
      const again = await verify('pat', '3971', letters.state);
      assert.equal((await verify('pat', '3971', again.state)).result, 'accept');

      tally.clock.advance(60);
      const passcode = stoken(ctf, '3971');
      const bare = stoken(ctf, '0000');
      assert.notEqual(passcode, bare, 'stoken treats the delivered token as PINPad (AddPIN)');
      assert.equal((await verify('pat', bare)).result, 'reject', 'the code without the PIN mixed in');
      assert.equal((await verify('pat', `3971${bare}`)).result, 'reject', 'PIN + tokencode typed together');
      assert.deepEqual(await verify('pat', passcode), { result: 'accept' });

      tally.clock.advance(60);
      await setFailures(issued.serial, 0);
      const run = await radclient(radius.port, RADIUS_SECRET, papRequest('pat', stoken(ctf, '3971')));
      received(run, 'Access-Accept');
    },
  );

  interopTest(
    'PINPad (sdtid file): the file says AddPIN, so stoken mixes the PIN in; the new PIN chain runs over RADIUS',
    ['stoken', 'radclient'],
    async () => {
      const issued = (await api('POST', '/api/v1/users/sam/tokens', { profile: PROFILES.pinpadFile.name })).json();
      const download = await tally.public.inject({ method: 'POST', url: new URL(issued.downloadUrl).pathname });
      assert.equal(download.statusCode, 200);
      assert.match(download.body, /<AddPIN>1<\/AddPIN>|<DefAddPIN>1<\/DefAddPIN>/);
      const file = join(home, `${issued.serial}.sdtid`);
      writeFileSync(file, download.body);
      const source = ['--file', file];
      tally.clock.advance(60);
      const first = await radclient(radius.port, RADIUS_SECRET, papRequest('sam', stoken(source, '0000'), { expect: 'Access-Challenge' }));
      const challenge = received(first, 'Access-Challenge');
      assert.match(challenge, /Reply-Message = "Enter a new PIN of 4 to 6 digits\."/);
      const tooLong = await radclient(
        radius.port,
        RADIUS_SECRET,
        papRequest('sam', '3971528', { state: replyState(challenge), expect: 'Access-Challenge' }),
      );
      const refused = received(tooLong, 'Access-Challenge');
      assert.match(refused, /Reply-Message = "A PIN is 4 to 6 digits\. Enter a new PIN of 4 to 6 digits\."/);
      const confirm = received(
        await radclient(
          radius.port,
          RADIUS_SECRET,
          papRequest('sam', '397152', { state: replyState(refused), expect: 'Access-Challenge' }),
        ),
        'Access-Challenge',
      );
      received(await radclient(radius.port, RADIUS_SECRET, papRequest('sam', '397152', { state: replyState(confirm) })), 'Access-Accept');
      tally.clock.advance(60);
      assert.deepEqual(await verify('sam', stoken(source, '397152')), { result: 'accept' });
    },
  );

  test('the policy holds wherever a PIN is set: letters and digits of 6 to 8, and not one of the last two (new PIN chain, self-service, after a help desk reset)', async () => {
    const { serial } = (await api('POST', '/api/v1/users/fob/tokens', { profile: PROFILES.fobAlphanumeric.name })).json();
    tally.clock.advance(60);
    const first = await verify('fob', await codeOf(serial));
    assert.equal(first.message, 'Enter a new PIN of 6 to 8 letters or digits.');
    const short = await verify('fob', 'ab12', first.state);
    assert.equal(short.message, 'A PIN is 6 to 8 letters or digits. Enter a new PIN of 6 to 8 letters or digits.');
    const again = await verify('fob', 'ab12cd34', short.state);
    assert.equal((await verify('fob', 'ab12cd34', again.state)).result, 'accept');
    tally.clock.advance(60);
    assert.deepEqual(await verify('fob', `ab12cd34${await codeOf(serial)}`), { result: 'accept' }, 'letters in the PIN typed in front');

    const admin = tally.services.tokenAdmin;
    await assert.rejects(admin.setPin(holder('fob'), serial, 'ab12cd34', 'ab12cd34'), /other than your last two/);
    await assert.rejects(admin.setPin(holder('fob'), serial, 'x1-y2z3', 'ab12cd34'), /A PIN is 6 to 8 letters or digits/);
    await admin.setPin(holder('fob'), serial, 'zz99yy88', 'ab12cd34');
    await assert.rejects(
      admin.setPin(holder('fob'), serial, 'ab12cd34', 'zz99yy88'),
      /other than your last two/,
      'the one before the current',
    );

    const reset0 = await tally.admin.inject({
      method: 'POST',
      url: `/api/v1/tokens/${serial}/reset-pin`,
      headers: bearer(tally.tokens.helpdesk),
    });
    assert.equal(reset0.statusCode, 200, reset0.body);
    tally.clock.advance(60);
    const reset = await verify('fob', await codeOf(serial));
    assert.equal(reset.message, 'Enter a new PIN of 6 to 8 letters or digits. It may not be one of your last two.');
    const reused = await verify('fob', 'ab12cd34', reset.state);
    assert.match(reused.message, /^Choose a PIN other than your last two\./);
  });

  interopTest(
    'next tokencode mode as at RSA: the prompt over REST and RADIUS, the next tokencode alone (PIN + code refused), consecutive only',
    ['radclient', 'stoken'],
    async () => {
      const { serial } = (await api('POST', '/api/v1/users/next/tokens', { profile: PROFILES.fobAlphanumeric.name })).json();
      tally.clock.advance(60);
      const first = await verify('next', await codeOf(serial));
      const confirm = await verify('next', 'pin4next', first.state);
      assert.equal((await verify('next', 'pin4next', confirm.state)).result, 'accept');

      tally.clock.advance(60);
      await setFailures(serial, 3);
      const asked = await verify('next', `pin4next${await codeOf(serial)}`);
      assert.deepEqual([asked.result, asked.message, asked.prompt], ['challenge', NEXT_PROMPT, 'next-code']);
      assert.equal((await verify('next', `pin4next${await codeOf(serial, 1)}`, asked.state)).result, 'reject', 'PIN + next tokencode');

      tally.clock.advance(60);
      await setFailures(serial, 3);
      const skipped = await verify('next', `pin4next${await codeOf(serial)}`);
      assert.equal((await verify('next', await codeOf(serial, 2), skipped.state)).result, 'reject', 'not the code right after');

      tally.clock.advance(180);
      await setFailures(serial, 3);
      const over = await radclient(
        radius.port,
        RADIUS_SECRET,
        papRequest('next', `pin4next${await codeOf(serial)}`, { expect: 'Access-Challenge' }),
      );
      const challenge = received(over, 'Access-Challenge');
      assert.match(challenge, new RegExp(`Reply-Message = "${NEXT_PROMPT}"`));
      const answered = await radclient(
        radius.port,
        RADIUS_SECRET,
        papRequest('next', await codeOf(serial, 1), { state: replyState(challenge) }),
      );
      received(answered, 'Access-Accept');

      // A PINPad app always mixes the PIN in: its next code is the answer there.
      const ctfSerial = (await api('GET', '/api/v1/users/pat/tokens')).json().tokens[0].serial;
      await setFailures(ctfSerial, 3);
      tally.clock.advance(120);
      const issued = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', ctfSerial).executeTakeFirstOrThrow();
      assert.equal(issued.add_pin, 1);
      const material = tally.services.tokens.material(issued);
      const step = Math.floor(nowSeconds() / 60);
      const withPin = (offset: number) =>
        tokenType('securid').passcode(material, tokenType('securid').codeAt(material, step + offset), '3971');
      const pinpadAsked = await verify('pat', withPin(0));
      assert.equal(pinpadAsked.message, NEXT_PROMPT);
      assert.deepEqual(await verify('pat', withPin(1), pinpadAsked.state), { result: 'accept' });
    },
  );
  interopTest(
    "system-generated PIN: the profile's switch reaches its token; RADIUS shows the PIN in the Reply-Message and the holder enters it back",
    ['radclient'],
    async () => {
      const profile = (await api('GET', `/api/v1/profiles/${encodeURIComponent(PROFILES.fobGenerated.name)}`)).json();
      assert.equal(profile.pinGenerated, true);
      const { serial } = (await api('POST', '/api/v1/users/gen/tokens', { profile: PROFILES.fobGenerated.name })).json();
      const row = await getStore().db.selectFrom('tokens').select('pin_generated').where('serial', '=', serial).executeTakeFirstOrThrow();
      assert.equal(row.pin_generated, 1, 'the token keeps the policy it was made with');
      tally.clock.advance(60);
      const first = await radclient(radius.port, RADIUS_SECRET, papRequest('gen', await codeOf(serial), { expect: 'Access-Challenge' }));
      const challenge = received(first, 'Access-Challenge');
      const shown = /Reply-Message = "Your new PIN is (\d{6})\. Remember it, then enter it to continue:"/.exec(challenge);
      const pin = shown?.[1] ?? assert.fail(challenge);
      received(await radclient(radius.port, RADIUS_SECRET, papRequest('gen', pin, { state: replyState(challenge) })), 'Access-Accept');
      tally.clock.advance(60);
      assert.deepEqual(await verify('gen', `${pin}${await codeOf(serial)}`), { result: 'accept' });
    },
  );
});
