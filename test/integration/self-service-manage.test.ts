import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Actor } from '../../src/domain/actor.js';
import type { SelfServiceSettings } from '../../src/domain/self-service.js';
import { tokenType } from '../../src/tokens/registry.js';
import { firstItem } from '../support/items.js';
import { describeEachStore } from '../support/store.js';
import { allowTokensPerUser, bearer, createTestTally, type TestTally } from '../support/tally.js';
import { pageText, WebClient } from '../support/web.js';

const PROFILES = {
  phone: { name: 'Phone', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true },
  pinned: {
    name: 'Phone with PIN',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    pinMode: 'required',
  },
  generatedPin: {
    name: 'Phone with generated PIN',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    pinMode: 'required',
    pinGenerated: true,
  },
  shortLived: {
    name: 'Short-lived',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    tokenLifetimeDays: 20,
  },
  longLived: {
    name: 'Long-lived',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    tokenLifetimeDays: 365,
  },
  shortApproval: {
    name: 'Short-lived (approved)',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
    tokenLifetimeDays: 20,
  },
  shortClosed: { name: 'Short-lived (admins only)', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', tokenLifetimeDays: 20 },
} as const;
type ProfileKey = keyof typeof PROFILES;

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'peggy'];
const password = (username: string) => `${username}-password-1`;
const holder = (username: string): Actor => ({ kind: 'user', name: username, role: 'user' });

describeEachStore('Self-Service Console: managing a token, and the log-on policy', (getStore) => {
  let tally: TestTally;
  let address = 0;
  const policy: SelfServiceSettings = { logOn: 'password', emergencyAccess: 'one-time' };
  const browser = () => new WebClient(tally.public, `10.7.0.${++address}`);
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
  const verify = async (username: string, passcode: string, state?: string) =>
    (
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(tally.tokens.agent),
        payload: { username, passcode, ...(state ? { state } : {}) },
      })
    ).json() as { result: string; state?: string; message?: string };
  const loggedOn = async (username: string) => {
    const client = browser();
    const response = await client.logOn(username, password(username));
    assert.equal(response.statusCode, 303, response.body);
    return client;
  };
  const tokenRow = (serial: string) =>
    getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  const userRow = (username: string) =>
    getStore().db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirstOrThrow();
  /** The code of a token `offset` steps from now, as an app whose clock is that far off shows it. */
  const codeAt = async (serial: string, offset = 0) => {
    const row = await tokenRow(serial);
    return tokenType(row.token_type).codeAt(
      tally.services.tokens.material(row),
      Math.floor(tally.clock.now() / 1000 / row.period) + offset,
    );
  };
  /** A code no step has used yet: the clock moves on to the next step first. */
  const freshCode = async (serial: string, offset = 0) => {
    tally.clock.advance(30);
    return codeAt(serial, offset);
  };
  const wrong = (code: string) => code.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
  /** A token of the profile, distributed by an admin and activated by its first code. */
  const activeToken = async (username: string, profile: ProfileKey) => {
    const distributed = await api('POST', `/api/v1/users/${username}/tokens`, { profile: PROFILES[profile].name });
    assert.equal(distributed.statusCode, 201, distributed.body);
    const serial = distributed.json().serial as string;
    await tally.services.selfService.confirm(holder(username), serial, await codeAt(serial));
    return serial;
  };
  const notice = async (client: WebClient, location: string | undefined) => pageText((await client.get(location!)).body);

  before(async () => {
    tally = await createTestTally(getStore(), { services: { selfService: policy } });
    // More than RSA's default of 3 tokens per user: each test gives its holder a token or two more.
    await allowTokensPerUser(tally, 20);
    for (const username of USERS)
      assert.equal((await api('POST', '/api/v1/users', { username, password: password(username) })).statusCode, 201);
    for (const profile of Object.values(PROFILES)) assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201);
  });
  after(async () => tally.close());

  test('test a code: a right code is accepted and used up, so it cannot then be replayed at the VPN; a wrong one counts as at the VPN', async () => {
    const serial = await activeToken('alice', 'phone');
    const alice = await loggedOn('alice');
    const page = await alice.get(`/tokens/${serial}`);
    assert.match(page.body, new RegExp(`<form method="post" action="/tokens/${serial}/test"[^>]*>\\s*<input type="hidden" name="_csrf"`));
    assert.match(page.body, /<label for="test-passcode">Tokencode<\/label>/);
    assert.doesNotMatch(page.body, /Change PIN|Set a PIN/, 'the profile has no PIN');

    const code = await freshCode(serial);
    const tested = await alice.post(`/tokens/${serial}/test`, { passcode: `${code.slice(0, 3)} ${code.slice(3)}` });
    assert.equal(tested.statusCode, 303);
    assert.equal(tested.headers.location, `/tokens/${serial}?notice=code-accepted`);
    assert.doesNotMatch(String(tested.headers.location), new RegExp(code));
    assert.match(await notice(alice, tested.headers.location), /That code is right: your token works/);
    assert.equal((await verify('alice', code)).result, 'reject', 'the tested code is used up');
    assert.equal((await tokenRow(serial)).last_used_at, tally.clock.now());
    assert.equal((await userRow('alice')).failed_logons, 1, 'a replay counts at the VPN');

    const refused = await alice.post(`/tokens/${serial}/test`, { passcode: wrong(await freshCode(serial)) });
    assert.equal(refused.statusCode, 400);
    assert.match(pageText(refused.body), /That code was not accepted\. Type the code your token shows now\./);
    assert.match(refused.body, /id="test-passcode"[^>]*aria-invalid="true"/);
    assert.equal((await userRow('alice')).failed_logons, 2, 'counted toward the lockout');
    assert.equal((await tokenRow(serial)).failed_count, 1);
    assert.equal((await alice.post(`/tokens/${serial}/test`, { passcode: 'not-digits' })).statusCode, 400);
    assert.equal((await userRow('alice')).failed_logons, 3);

    const right = await freshCode(serial);
    assert.equal(
      (await alice.post(`/tokens/${serial}/test`, { passcode: right })).headers.location,
      `/tokens/${serial}?notice=code-accepted`,
    );
    assert.equal((await userRow('alice')).failed_logons, 0, 'a right code clears the count, as at the VPN');
    const replayed = await alice.post(`/tokens/${serial}/test`, { passcode: right });
    assert.equal(replayed.statusCode, 400, 'nor can a tested code be tested again');

    const events = (await api('GET', `/api/v1/audit?action=token.test&serial=${serial}`)).json().events as {
      result: string;
      details: Record<string, unknown>;
    }[];
    assert.deepEqual(events.map((e) => e.result).reverse(), ['success', 'failure', 'failure', 'success', 'failure']);
    assert.doesNotMatch(JSON.stringify(events), new RegExp(`${code}|${right}`));
  });

  test('a PIN token: the passcode is PIN + code, a wrong PIN and a wrong code get the same answer, wrong ones lock the user as at the VPN', async () => {
    const serial = await activeToken('bob', 'pinned');
    const bob = await loggedOn('bob');
    await bob.get(`/tokens/${serial}`);
    const noPin = await bob.post(`/tokens/${serial}/test`, { passcode: await freshCode(serial) });
    assert.equal(noPin.headers.location, `/tokens/${serial}?notice=code-pin-needed`, 'new PIN mode: the tokencode alone, and a reminder');
    assert.match(await notice(bob, noPin.headers.location), /no PIN yet: set one below/);
    assert.equal((await bob.post(`/tokens/${serial}/pin`, { pin: '2468', again: '2468' })).statusCode, 303);

    const page = await bob.get(`/tokens/${serial}`);
    assert.match(page.body, /<label for="test-passcode">Passcode<\/label>\s*<input id="test-passcode" name="passcode" type="password"/);
    const code = await freshCode(serial);
    assert.equal(
      (await bob.post(`/tokens/${serial}/test`, { passcode: `2468${code}` })).headers.location,
      `/tokens/${serial}?notice=code-accepted`,
    );
    assert.equal((await verify('bob', `2468${code}`)).result, 'reject', 'used up');

    const wrongPin = await bob.post(`/tokens/${serial}/test`, { passcode: `1357${await freshCode(serial)}` });
    const wrongCode = await bob.post(`/tokens/${serial}/test`, { passcode: `2468${wrong(await freshCode(serial))}` });
    assert.equal(wrongPin.statusCode, 400);
    assert.equal(wrongCode.statusCode, 400);
    assert.equal(pageText(wrongPin.body), pageText(wrongCode.body), 'which part was wrong is not told');
    assert.match(pageText(wrongPin.body), /That passcode was not accepted/);

    // Three wrong passcodes in a row: as at the VPN, a right one now needs the next tokencode as well.
    await bob.post(`/tokens/${serial}/test`, { passcode: '24680000000' });
    const nextCode = await bob.post(`/tokens/${serial}/test`, { passcode: `2468${await freshCode(serial)}` });
    assert.equal(nextCode.headers.location, `/tokens/${serial}?notice=code-next`);
    assert.match(await notice(bob, nextCode.headers.location), /next log-on will ask for a second code/);
    assert.equal((await tokenRow(serial)).failed_count, 3, 'a test does not clear next tokencode mode');

    for (let failures = (await userRow('bob')).failed_logons; failures < 10; failures++) {
      assert.equal((await bob.post(`/tokens/${serial}/test`, { passcode: `1357${await freshCode(serial)}` })).statusCode, 400);
    }
    const locked = await bob.post(`/tokens/${serial}/test`, { passcode: `2468${await freshCode(serial)}` });
    assert.equal(locked.statusCode, 423);
    assert.match(pageText(locked.body), /account is locked/);
    assert.equal((await verify('bob', `2468${await freshCode(serial)}`)).result, 'reject', 'locked at the VPN too');
    assert.equal((await api('POST', '/api/v1/users/bob/unlock')).statusCode, 200);
  });

  test('resync: two consecutive codes put a drifted token back in step; codes that are not consecutive are refused and counted', async () => {
    const serial = await activeToken('carol', 'phone');
    const carol = await loggedOn('carol');
    await carol.get(`/tokens/${serial}`);
    // The app's clock runs six steps (three minutes) ahead: its codes fall in the large window only.
    const drifted = await carol.post(`/tokens/${serial}/test`, { passcode: await freshCode(serial, 6) });
    assert.equal(drifted.headers.location, `/tokens/${serial}?notice=code-next`);

    const apart = await carol.post(`/tokens/${serial}/resync`, { first: await freshCode(serial, 6), second: await codeAt(serial, 8) });
    assert.equal(apart.statusCode, 400);
    assert.match(pageText(apart.body), /not consecutive codes of this token/);
    assert.match(apart.body, /id="resync-first"[^>]*aria-invalid="true"/);
    assert.equal((await userRow('carol')).failed_logons, 1, "a holder's failed resync counts");
    assert.equal((await carol.post(`/tokens/${serial}/resync`, { first: 'abc', second: '' })).statusCode, 400);

    const first = await freshCode(serial, 6);
    const second = await codeAt(serial, 7);
    const resynced = await carol.post(`/tokens/${serial}/resync`, { first, second: ` ${second} ` });
    assert.equal(resynced.headers.location, `/tokens/${serial}?notice=resynced`);
    assert.match(await notice(carol, resynced.headers.location), /in step again/);
    assert.equal((await tokenRow(serial)).drift_steps, 7);
    assert.equal((await verify('carol', second)).result, 'reject', 'the resync codes are used up');
    const now = await freshCode(serial, 7);
    assert.equal(
      (await carol.post(`/tokens/${serial}/test`, { passcode: now })).headers.location,
      `/tokens/${serial}?notice=code-accepted`,
      'in step: accepted at once',
    );
    assert.equal((await carol.post(`/tokens/${serial}/resync`, { first, second })).statusCode, 400, 'used codes do not resync again');
    // That was one wrong pair since the last right one; four more use up the holder's five.
    for (let i = 0; i < 4; i++)
      assert.equal((await carol.post(`/tokens/${serial}/resync`, { first: '123456', second: '654321' })).statusCode, 400);
    const stopped = await carol.post(`/tokens/${serial}/resync`, { first: await freshCode(serial, 9), second: await codeAt(serial, 10) });
    assert.equal(stopped.statusCode, 423);
    assert.match(pageText(stopped.body), /ask your help desk to do it/);
    assert.match(stopped.body, /id="resync-first"/, "said on the token's page, beside the form");
  });

  test('set and change a PIN: new PIN mode sets it directly; a change takes the current PIN; weak PINs and mismatches are refused', async () => {
    const serial = await activeToken('dave', 'pinned');
    const plain = await activeToken('dave', 'phone');
    const dave = await loggedOn('dave');
    const first = await dave.get(`/tokens/${serial}`);
    assert.match(pageText(first.body), /Set a PIN/);
    assert.doesNotMatch(first.body, /Current PIN/);
    for (const pin of ['1234', '1111', '12', 'abcd', '123456789']) {
      const weak = await dave.post(`/tokens/${serial}/pin`, { pin, again: pin });
      assert.equal(weak.statusCode, 400, pin);
      assert.match(pageText(weak.body), /too easy to guess|4 to 8 digits/);
    }
    const mismatch = await dave.post(`/tokens/${serial}/pin`, { pin: '2580', again: '2581' });
    assert.equal(mismatch.statusCode, 400);
    assert.match(pageText(mismatch.body), /differ; type the same new PIN twice/);
    const set = await dave.post(`/tokens/${serial}/pin`, { pin: '2580', again: '2580' });
    assert.equal(set.headers.location, `/tokens/${serial}?notice=pin-set`);
    assert.match(await notice(dave, set.headers.location), /Your new PIN is set/);
    assert.equal((await verify('dave', `2580${await freshCode(serial)}`)).result, 'accept');

    const change = await dave.get(`/tokens/${serial}`);
    assert.match(pageText(change.body), /Change PIN/);
    assert.match(change.body, /<label for="pin-current">Current PIN<\/label>\s*<input id="pin-current" name="current" type="password"/);
    const wrongCurrent = await dave.post(`/tokens/${serial}/pin`, { current: '9999', pin: '7319', again: '7319' });
    assert.equal(wrongCurrent.statusCode, 400);
    assert.match(pageText(wrongCurrent.body), /The current PIN is not right/);
    assert.match(wrongCurrent.body, /id="pin-current"[^>]*aria-invalid="true"/);
    assert.equal((await userRow('dave')).failed_logons, 1, 'a wrong PIN counts like a wrong passcode');
    const noCurrent = await dave.post(`/tokens/${serial}/pin`, { pin: '7319', again: '7319' });
    assert.equal(noCurrent.statusCode, 400, 'no current PIN, no change');
    assert.match(pageText(noCurrent.body), /Type your current PIN/);
    assert.equal((await userRow('dave')).failed_logons, 1, 'nothing was guessed, so nothing counts');
    const same = await dave.post(`/tokens/${serial}/pin`, { current: '2580', pin: '2580', again: '2580' });
    assert.match(pageText(same.body), /Choose a PIN other than your last two/);
    assert.equal(
      (await dave.post(`/tokens/${serial}/pin`, { current: '2580', pin: '7319', again: '7319' })).headers.location,
      `/tokens/${serial}?notice=pin-set`,
    );
    assert.equal((await verify('dave', `2580${await freshCode(serial)}`)).result, 'reject');
    assert.equal((await verify('dave', `7319${await freshCode(serial)}`)).result, 'accept');

    const noPin = await dave.post(`/tokens/${plain}/pin`, { pin: '7319', again: '7319' });
    assert.equal(noPin.statusCode, 409);
    assert.match(pageText(noPin.body), /has no PIN/);
    const audit = JSON.stringify((await api('GET', `/api/v1/audit?action=token.pin.set&serial=${serial}`)).json().events);
    assert.doesNotMatch(audit, /2580|7319/);
  });

  test('a generated-PIN token: the holder cannot choose a PIN, Tally generates one to the policy, shown once; a change takes the current PIN', async () => {
    const serial = await activeToken('peggy', 'generatedPin');
    const peggy = await loggedOn('peggy');
    const first = await peggy.get(`/tokens/${serial}`);
    assert.match(pageText(first.body), /Get a PIN Tally chooses this token's PIN/);
    assert.doesNotMatch(first.body, /name="pin"/, 'no field to choose one');
    const chosen = await peggy.post(`/tokens/${serial}/pin`, { pin: '2580', again: '2580' });
    assert.equal(chosen.statusCode, 409);
    assert.match(pageText(chosen.body), /Tally generates the PIN of token/);
    assert.equal((await tokenRow(serial)).pin_hash, null, 'a forged choice sets nothing');

    const generated = await peggy.post(`/tokens/${serial}/pin/generate`, {});
    assert.equal(
      generated.headers.location,
      `/tokens/${serial}?notice=pin-generated`,
      `${generated.statusCode} ${pageText(generated.body)}`,
    );
    const shown = await peggy.get(generated.headers.location as string);
    const pin = /id="generated-pin" class="secret secret-large">(\d+)</.exec(shown.body)?.[1];
    assert.ok(pin, pageText(shown.body));
    assert.match(pin, /^\d{4,8}$/, 'to the policy: 4 to 8 digits');
    assert.doesNotMatch((await peggy.get(`/tokens/${serial}`)).body, new RegExp(`>${pin}<`), 'shown this once');
    assert.equal((await verify('peggy', `${pin}${await freshCode(serial)}`)).result, 'accept');

    const change = await peggy.get(`/tokens/${serial}`);
    assert.match(pageText(change.body), /Change PIN/);
    const noCurrent = await peggy.post(`/tokens/${serial}/pin/generate`, {});
    assert.equal(noCurrent.statusCode, 400);
    assert.match(pageText(noCurrent.body), /Type your current PIN/);
    const wrongCurrent = await peggy.post(`/tokens/${serial}/pin/generate`, { current: pin === '9999' ? '8888' : '9999' });
    assert.equal(wrongCurrent.statusCode, 400);
    assert.equal((await userRow('peggy')).failed_logons, 1, 'a wrong current PIN counts like a wrong passcode');
    const again = await peggy.post(`/tokens/${serial}/pin/generate`, { current: pin });
    const next = /id="generated-pin" class="secret secret-large">(\d+)</.exec(
      (await peggy.get(again.headers.location as string)).body,
    )?.[1];
    assert.ok(next && next !== pin);
    assert.equal((await verify('peggy', `${pin}${await freshCode(serial)}`)).result, 'reject');
    assert.equal((await verify('peggy', `${next}${await freshCode(serial)}`)).result, 'accept');
    const audit = JSON.stringify((await api('GET', `/api/v1/audit?action=token.pin.set&serial=${serial}`)).json().events);
    assert.doesNotMatch(audit, new RegExp(`${pin}|${next}`));
  });

  test('report lost (one-time code): the token stops at once; the emergency code is shown once, after the redirect, and works once', async () => {
    const serial = await activeToken('erin', 'phone');
    const erin = await loggedOn('erin');
    const page = await erin.get(`/tokens/${serial}`);
    assert.match(pageText(page.body), /an emergency access code, to log on once in its place within 7 days/);
    assert.equal((await erin.post(`/tokens/${serial}/lost`, {})).statusCode, 400, 'the box must be ticked');
    assert.equal((await tokenRow(serial)).state, 'active');

    const reported = await erin.post(`/tokens/${serial}/lost`, { confirm: 'yes' });
    assert.equal(reported.statusCode, 303);
    assert.equal(reported.headers.location, `/tokens/${serial}?notice=reported-lost`);
    assert.equal((await tokenRow(serial)).state, 'disabled');
    const sessions = await getStore().db.selectFrom('web_sessions').select('flash_sealed').where('flash_sealed', 'is not', null).execute();
    assert.equal(sessions.length, 1);
    assert.match(firstItem(sessions).flash_sealed!, /^v1\./, 'waiting sealed in the session');

    const shown = await erin.get(reported.headers.location as string);
    const code = /id="emergency-code" class="secret secret-large">(\d{8})</.exec(shown.body)?.[1];
    assert.ok(code, pageText(shown.body));
    assert.doesNotMatch(firstItem(sessions).flash_sealed!, new RegExp(code));
    assert.match(pageText(shown.body), /reported lost: it no longer works/);
    assert.match(pageText(shown.body), /It works once, until .* shown only this once/);
    assert.doesNotMatch(shown.body, /action="\/tokens\/[^/]+\/(test|resync|lost)"/, 'a lost token has nothing to test, resync or report');

    const reload = await erin.get(reported.headers.location as string);
    assert.doesNotMatch(reload.body, new RegExp(code));
    assert.doesNotMatch(reload.body, /emergency-code/);
    assert.match(
      pageText(reload.body),
      /Reported lost This token no longer works\. The emergency access code you were shown when you reported it works once, until/,
    );
    assert.equal(
      (await getStore().db.selectFrom('web_sessions').select('flash_sealed').where('flash_sealed', 'is not', null).execute()).length,
      0,
    );
    const lostBadge = /<span class="badge badge-disabled">Reported lost<\/span>/;
    assert.match(reload.body, lostBadge, 'the badge says why the token stopped, not just "Disabled"');
    assert.match((await erin.get('/')).body, lostBadge);

    assert.equal((await verify('erin', await freshCode(serial))).result, 'reject', 'the token stopped working');
    assert.equal((await verify('erin', code)).result, 'accept');
    assert.equal((await verify('erin', code)).result, 'reject', 'once only');
    assert.match(pageText((await erin.get(`/tokens/${serial}`)).body), /No emergency access code works for it now/);
    const again = await erin.post(`/tokens/${serial}/lost`, { confirm: 'yes' });
    assert.equal(again.statusCode, 409, 'reported once; a fresh code is for the helpdesk to give');
    assert.doesNotMatch(again.body, /emergency-code/);
  });

  test('report lost by policy: none gives no code; fixed gives one that works more than once', async () => {
    const none = await activeToken('frank', 'phone');
    const fixed = await activeToken('frank', 'phone');
    const frank = await loggedOn('frank');
    try {
      policy.emergencyAccess = 'none';
      assert.match(
        pageText((await frank.get(`/tokens/${none}`)).body),
        /If you need to log on before a new token works, ask your IT helpdesk/,
      );
      const reported = await frank.post(`/tokens/${none}/lost`, { confirm: 'yes' });
      const page = await frank.get(reported.headers.location as string);
      assert.doesNotMatch(page.body, /emergency-code/);
      assert.match(pageText(page.body), /No emergency access code works for it now/);
      assert.equal((await tokenRow(none)).emergency_hash, null);

      policy.emergencyAccess = 'fixed';
      await frank.get(`/tokens/${fixed}`);
      const second = await frank.post(`/tokens/${fixed}/lost`, { confirm: 'yes' });
      const shown = await frank.get(second.headers.location as string);
      const code = /id="emergency-code" class="secret secret-large">(\d{8})</.exec(shown.body)![1]!;
      assert.match(pageText(shown.body), /It works as often as you need it/);
      assert.equal((await verify('frank', code)).result, 'accept');
      assert.equal((await verify('frank', code)).result, 'accept', 'a fixed code works again');
    } finally {
      policy.emergencyAccess = 'one-time';
    }
  });

  test("request a replacement: only in a token's last 30 days; by the same profile and its approval rules; once", async () => {
    const long = await activeToken('grace', 'longLived');
    const short = await activeToken('grace', 'shortLived');
    const approval = await activeToken('grace', 'shortApproval');
    const closed = await activeToken('grace', 'shortClosed');
    const grace = await loggedOn('grace');

    const longPage = await grace.get(`/tokens/${long}`);
    assert.doesNotMatch(longPage.body, /Request a replacement/);
    const early = await grace.post(`/tokens/${long}/replace`);
    assert.equal(early.statusCode, 409);
    assert.match(pageText(early.body), /a replacement can be requested from 30 days before its last day/);

    const shortPage = await grace.get(`/tokens/${short}`);
    assert.match(pageText(shortPage.body), /This token expires soon Its last day is 19 Dec 2026 \./);
    const replaced = await grace.post(`/tokens/${short}/replace`);
    assert.equal(replaced.statusCode, 303);
    assert.equal(replaced.headers.location, '/?notice=token-requested');
    const mine = await getStore()
      .db.selectFrom('tokens')
      .innerJoin('profiles', 'profiles.id', 'tokens.profile_id')
      .select(['tokens.serial', 'tokens.state', 'profiles.name'])
      .where('profiles.name', '=', PROFILES.shortLived.name)
      .execute();
    const replacement = mine.find((t) => t.serial !== short)!;
    assert.equal(replacement.state, 'pending');
    assert.match((await grace.get('/')).body, new RegExp(`/tokens/${replacement.serial}/activate`));
    assert.match(pageText((await grace.get(`/tokens/${short}`)).body), new RegExp(`Token ${replacement.serial} replaces it`));
    const twice = await grace.post(`/tokens/${short}/replace`);
    assert.equal(twice.statusCode, 409);
    assert.match(pageText(twice.body), new RegExp(`Token ${replacement.serial} replaces token ${short} already`));

    await grace.get(`/tokens/${approval}`);
    const waiting = await grace.post(`/tokens/${approval}/replace`);
    assert.equal(waiting.headers.location, '/?notice=request-waiting');
    assert.match(
      pageText((await grace.get(`/tokens/${approval}`)).body),
      /request for a replacement waits for an administrator's approval/,
    );
    await grace.get(`/tokens/${closed}`);
    assert.equal(
      (await grace.post(`/tokens/${closed}/replace`)).headers.location,
      '/?notice=request-waiting',
      'a profile closed to self-service replaces through approval',
    );
    const requests = (await api('GET', '/api/v1/requests?state=pending')).json().requests as { username: string; profile: string }[];
    assert.deepEqual(
      requests
        .filter((r) => r.username === 'grace')
        .map((r) => r.profile)
        .sort(),
      [PROFILES.shortApproval.name, PROFILES.shortClosed.name].sort(),
    );
    await assert.rejects(
      tally.services.requests.request(holder('grace'), PROFILES.shortClosed.name),
      { code: 'PROFILE_NOT_FOUND' },
      'but it is not open to requests',
    );
    const audit = (await api('GET', `/api/v1/audit?action=token.request&actor=grace`)).json().events as {
      details: Record<string, unknown>;
    }[];
    assert.ok(audit.some((e) => e.details.replaces === closed));

    await getStore().db.updateTable('tokens').set({ expires_on: '2026-11-01' }).where('serial', '=', long).execute();
    assert.match(pageText((await grace.get(`/tokens/${long}`)).body), /This token has expired Its last day was 1 Nov 2026 \./);
    assert.equal((await grace.post(`/tokens/${long}/replace`)).statusCode, 303, 'an expired token is replaced too');
  });

  test("another user's serial by URL is refused exactly like a missing one, on every form; posts without the form token change nothing", async () => {
    const serial = await activeToken('heidi', 'pinned');
    const mallory = await loggedOn('mallory');
    await mallory.get('/');
    for (const [action, fields] of [
      ['test', { passcode: '123456' }],
      ['resync', { first: '123456', second: '234567' }],
      ['pin', { pin: '2580', again: '2580' }],
      ['lost', { confirm: 'yes' }],
      ['replace', {}],
    ] as const) {
      const theirs = await mallory.post(`/tokens/${serial}/${action}`, fields);
      const missing = await mallory.post(`/tokens/TOTP00000000/${action}`, fields);
      assert.equal(theirs.statusCode, 404, action);
      assert.equal(pageText(theirs.body).replace(serial, 'S'), pageText(missing.body).replace('TOTP00000000', 'S'), action);
      await mallory.get('/');
    }
    const row = await tokenRow(serial);
    assert.equal(row.state, 'active');
    assert.equal(row.pin_hash, null);
    assert.equal(row.failed_count, 0);
    assert.equal((await userRow('mallory')).failed_logons, 0);

    const heidi = await loggedOn('heidi');
    await heidi.get(`/tokens/${serial}`);
    for (const [action, fields] of [
      ['test', { passcode: await freshCode(serial) }],
      ['pin', { pin: '2580', again: '2580' }],
      ['lost', { confirm: 'yes' }],
    ] as const) {
      const forged = await heidi.post(`/tokens/${serial}/${action}`, { ...fields, _csrf: null });
      assert.equal(forged.statusCode, 403, action);
      assert.match(pageText(forged.body), /CSRF_FAILED/);
    }
    const after = await tokenRow(serial);
    assert.equal(after.state, 'active');
    assert.equal(after.pin_hash, null);
    assert.equal(after.last_step, row.last_step, 'no code was tested');
  });

  test('log-on with password + passcode: a user with an active token gives both, checked as one attempt; a failure of either looks like a wrong password', async () => {
    const serial = await activeToken('ivan', 'phone');
    policy.logOn = 'password+passcode';
    try {
      const form = await browser().get('/');
      assert.match(form.body, /<label for="passcode">Passcode<\/label>/);
      assert.doesNotMatch(form.body, /id="passcode"[^>]*required/, 'required only of users with an active token');

      const noToken = browser();
      await noToken.get('/');
      assert.equal(
        (await noToken.post('/logon', { username: 'judy', password: password('judy'), passcode: '' })).statusCode,
        303,
        'no active token: the password is enough',
      );

      const attempt = async (pass: string, passcode: string) => {
        const client = browser();
        await client.get('/');
        return { client, response: await client.post('/logon', { username: 'ivan', password: pass, passcode }) };
      };
      const wrongPassword = await attempt('wrong-password', '');
      const noPasscode = await attempt(password('ivan'), '');
      const wrongPasscode = await attempt(password('ivan'), wrong(await freshCode(serial)));
      const rightCodeWrongPassword = await attempt('wrong-password', await freshCode(serial));
      for (const { response } of [wrongPassword, noPasscode, wrongPasscode, rightCodeWrongPassword]) {
        assert.equal(response.statusCode, 401);
        assert.equal(
          pageText(response.body).replace(/value="[^"]*"/g, ''),
          pageText(wrongPassword.response.body).replace(/value="[^"]*"/g, ''),
        );
        assert.match(pageText(response.body), /The username or password is not right/);
      }
      assert.equal(
        await tally.services.logonDelays.failures('self-service', 'ivan'),
        4,
        'each attempt counts once as a failed log-on, whichever part failed',
      );
      assert.equal((await userRow('ivan')).failed_logons, 2, 'and only the passcodes checked count against the passcode lockout');
      assert.equal(
        (await tokenRow(serial)).failed_count,
        1,
        'a wrong passcode counts on the token too (an empty one, as at the VPN, on the user only)',
      );

      const code = await freshCode(serial);
      const right = await attempt(password('ivan'), code);
      assert.equal(right.response.statusCode, 303);
      assert.match(pageText((await right.client.get('/')).body), /My tokens/);
      assert.equal((await userRow('ivan')).failed_logons, 0);
      assert.equal((await verify('ivan', code)).result, 'reject', 'the log-on used the code up');
      assert.equal((await attempt(password('ivan'), code)).response.statusCode, 401, 'and it does not log on twice');
      const auth = (await api('GET', '/api/v1/audit?action=auth.self-service&actor=ivan')).json().events as { result: string }[];
      assert.ok(auth.some((e) => e.result === 'success') && auth.some((e) => e.result === 'failure'));

      for (let failures = (await userRow('ivan')).failed_logons; failures < 10; failures++) {
        tally.clock.advance(30); // past the log-on delay, so that each wrong passcode is checked
        await attempt(password('ivan'), '000000');
      }
      tally.clock.advance(30);
      const locked = await attempt(password('ivan'), await freshCode(serial));
      assert.equal(locked.response.statusCode, 423);
      assert.equal((await api('POST', '/api/v1/users/ivan/unlock')).statusCode, 200);
    } finally {
      policy.logOn = 'password';
    }
  });

  test('log-on challenges: new PIN mode asks for a PIN twice, next tokencode mode for the next code; a REST challenge cannot finish a console log-on', async () => {
    const pinned = await activeToken('judy', 'pinned');
    policy.logOn = 'password+passcode';
    try {
      const judy = browser();
      await judy.get('/');
      const first = await judy.post('/logon', { username: 'judy', password: password('judy'), passcode: await freshCode(pinned) });
      assert.equal(first.statusCode, 200);
      assert.match(pageText(first.body), /One more step .* Enter a new PIN of 4 to 8 digits\./);
      assert.match(first.body, /<label for="answer">New PIN<\/label>\s*<input id="answer" name="answer" type="password"/);
      assert.equal(judy.cookies.get('tally_session'), undefined, 'not logged on yet');
      const confirm = await judy.post('/logon/challenge', {
        username: 'judy',
        state: /name="state" value="([^"]+)"/.exec(first.body)![1]!,
        answer: '4826',
      });
      assert.match(confirm.body, /<label for="answer">New PIN again<\/label>/);
      const done = await judy.post('/logon/challenge', {
        username: 'judy',
        state: /name="state" value="([^"]+)"/.exec(confirm.body)![1]!,
        answer: '4826',
      });
      assert.equal(done.statusCode, 303);
      assert.match(pageText((await judy.get('/')).body), /My tokens/);
      assert.equal((await tokenRow(pinned)).new_pin_required, 0);

      // After three wrong passcodes the next tokencode is asked for, on the console as at the VPN.
      await getStore().db.updateTable('tokens').set({ failed_count: 3 }).where('serial', '=', pinned).execute();
      const next = browser();
      await next.get('/');
      const asked = await next.post('/logon', { username: 'judy', password: password('judy'), passcode: `4826${await freshCode(pinned)}` });
      // As RSA's agents ask: the next tokencode alone, without the PIN.
      assert.match(pageText(asked.body), /Wait for the tokencode to change, then enter the new tokencode:/);
      assert.match(asked.body, /<label for="answer">Next tokencode<\/label>/);
      const state = /name="state" value="([^"]+)"/.exec(asked.body)![1]!;
      const forged = await next.post('/logon/challenge', { username: 'ivan', state, answer: await codeAt(pinned, 1) });
      assert.equal(forged.statusCode, 401, "the state is judy's");
      const answered = await next.post('/logon/challenge', { username: 'judy', state, answer: await codeAt(pinned, 1) });
      assert.equal(answered.statusCode, 303);

      // A state from the REST API proves a passcode but no password: the console does not take it.
      await getStore().db.updateTable('tokens').set({ failed_count: 3 }).where('serial', '=', pinned).execute();
      tally.clock.advance(30);
      const rest = await verify('judy', `4826${await freshCode(pinned)}`);
      assert.equal(rest.result, 'challenge');
      const outsider = browser();
      await outsider.get('/');
      const smuggled = await outsider.post('/logon/challenge', {
        username: 'judy',
        state: rest.state!,
        answer: await codeAt(pinned, 1),
      });
      assert.equal(smuggled.statusCode, 401);
      assert.equal(outsider.cookies.get('tally_session'), undefined);
      await getStore().db.updateTable('tokens').set({ failed_count: 3 }).where('serial', '=', pinned).execute();
      const consoleChallenge = await outsider.post('/logon', {
        username: 'judy',
        password: password('judy'),
        passcode: `4826${await freshCode(pinned)}`,
      });
      const consoleState = /name="state" value="([^"]+)"/.exec(consoleChallenge.body)![1]!;
      assert.equal(
        (await verify('judy', await codeAt(pinned, 1), consoleState)).result,
        'reject',
        'nor does the REST API take a console state',
      );

      // Reported lost while a challenge is open: the challenge answers nothing more.
      await getStore().db.updateTable('tokens').set({ failed_count: 3 }).where('serial', '=', pinned).execute();
      tally.clock.advance(30);
      const open = await verify('judy', `4826${await freshCode(pinned)}`);
      assert.equal(open.result, 'challenge');
      assert.equal((await api('POST', `/api/v1/tokens/${pinned}/lost`, { emergency: 'none' })).statusCode, 200);
      assert.equal((await verify('judy', await codeAt(pinned, 1), open.state)).result, 'reject');
    } finally {
      policy.logOn = 'password';
    }
  });

  test('a flash is taken once, and only by the page it was left for', async () => {
    const { id } = await tally.services.sessions.start(holder('mallory'), 'self-service');
    await tally.services.sessions.putFlash(id, 'emergency-code:A', 'secret-value');
    assert.equal(await tally.services.sessions.takeFlash(id, 'emergency-code:B'), null);
    const taken = await Promise.all([
      tally.services.sessions.takeFlash(id, 'emergency-code:A'),
      tally.services.sessions.takeFlash(id, 'emergency-code:A'),
    ]);
    assert.deepEqual(
      taken.filter((value) => value !== null),
      ['secret-value'],
      'of two pages racing for it, one gets it',
    );
    assert.equal(await tally.services.sessions.takeFlash(id, 'emergency-code:A'), null);
  });
});
