import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createServices } from '../../src/domain/services.js';
import { buildPublicApp } from '../../src/http/public/app.js';
import { createLogger } from '../../src/logger.js';
import { tokenType } from '../../src/tokens/registry.js';
import { activate as activateOverCtkip } from '../support/ctkip.js';
import { firstItem } from '../support/items.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';
import { pageText, WebClient } from '../support/web.js';

const PROFILES = {
  phone: {
    name: 'Phone authenticator',
    description: 'For your own phone',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
  },
  iphone: { name: 'SecurID for iPhone', tokenType: 'securid', deviceType: 'ios', appVersion: '2.1', delivery: 'ctkip', selfService: true },
  iphoneOld: {
    name: 'SecurID for iPhone 1.x',
    tokenType: 'securid',
    deviceType: 'ios',
    appVersion: '1.3',
    delivery: 'ctkip',
    selfService: true,
  },
  desktop: {
    name: 'Desktop token file',
    tokenType: 'totp',
    deviceType: 'tally-cli',
    delivery: 'file',
    filePasswordPolicy: 'generated',
    selfService: true,
  },
  ctf: {
    name: 'SecurID Android (CTF)',
    tokenType: 'securid',
    deviceType: 'android',
    appVersion: '1.5',
    delivery: 'ctf',
    selfService: true,
  },
  approval: {
    name: 'Contractor token',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
  },
  adminOnly: { name: 'Admin-only token', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr' },
} as const;

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const password = (username: string) => `${username}-password-1`;

describeEachStore('Self-Service Console', (getStore) => {
  let tally: TestTally;
  let address = 0;
  /** A browser from an address of its own, so the per-address log-on limit of one test never touches another. */
  const browser = () => new WebClient(tally.public, `10.1.0.${++address}`);
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
  const loggedOn = async (username: string) => {
    const client = browser();
    const response = await client.logOn(username, password(username));
    assert.equal(response.statusCode, 303, response.body);
    return client;
  };
  const tokensOf = async (username: string) =>
    getStore()
      .db.selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .where('users.username', '=', username)
      .execute();
  const codeNow = async (serial: string) => {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    return tokenType(row.token_type).codeAt(tally.services.tokens.material(row), Math.floor(tally.clock.now() / 1000 / row.period));
  };

  before(async () => {
    tally = await createTestTally(getStore(), { logonRateLimit: 5 });
    for (const username of USERS)
      assert.equal((await api('POST', '/api/v1/users', { username, password: password(username) })).statusCode, 201);
    for (const profile of Object.values(PROFILES)) assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201);
  });
  after(async () => tally.close());

  test('the log-on page: labelled fields, a strict CSP, a form token; log-on starts a session kept only as a hash', async () => {
    const client = browser();
    const page = await client.get('/');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<label for="username">Username<\/label>/);
    assert.match(page.body, /<label for="password">Password<\/label>/);
    assert.match(page.body, /<button type="submit"[^>]*>Log on<\/button>/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, 'a plain-HTTP listener must not send its assets and forms to HTTPS');
    assert.doesNotMatch(page.body, /<script>|<style|style="/, 'no inline script or style');
    assert.equal(page.headers['cache-control'], 'no-store');

    const logOn = await client.post('/logon', { username: 'alice', password: password('alice') });
    assert.equal(logOn.statusCode, 303);
    assert.equal(logOn.headers.location, '/');
    const setCookie = ([] as string[]).concat(logOn.headers['set-cookie'] ?? []).find((c) => c.startsWith('tally_session='));
    assert.ok(setCookie, 'a session cookie');
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.match(setCookie, /Path=\//);
    assert.doesNotMatch(setCookie, /Secure/, 'plain HTTP: no Secure flag, no __Host- prefix');
    const sessionId = client.cookies.get('tally_session')!;
    assert.match(sessionId, /^[A-Za-z0-9_-]{43}$/, '256 random bits');
    const rows = await getStore().db.selectFrom('web_sessions').selectAll().execute();
    assert.ok(rows.some((row) => row.id_hash === createHash('sha256').update(sessionId).digest('hex')));
    assert.ok(!JSON.stringify(rows).includes(sessionId), 'the id itself is not stored');

    const home = await client.get('/');
    assert.match(pageText(home.body), /My tokens/);
    assert.match(pageText(home.body), /Logged on as alice/);
    assert.match(pageText(home.body), /You have no tokens yet/);
  });

  test('behind a TLS proxy the cookie is __Host-tally_session, Secure', async () => {
    const proxied = await buildPublicApp(tally.services, { logger: createLogger('silent'), trustProxy: ['10.2.0.0/24'] });
    try {
      const client = new WebClient(proxied, '10.2.0.1', { 'x-forwarded-proto': 'https' });
      const response = await client.logOn('alice', password('alice'));
      assert.equal(response.statusCode, 303);
      const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-tally_session='));
      assert.ok(setCookie, String(response.headers['set-cookie']));
      assert.match(setCookie, /Secure/);
      assert.match(setCookie, /Path=\//);
      assert.doesNotMatch(setCookie, /Domain=/);
      assert.match(pageText((await client.get('/')).body), /My tokens/);
      const plain = new WebClient(proxied, '10.2.0.2');
      plain.cookies.set('__Host-tally_session', client.cookies.get('__Host-tally_session')!);
      assert.match(pageText((await plain.get('/')).body), /Log on/, 'over plain HTTP the __Host- cookie is not read');
    } finally {
      await proxied.close();
    }
  });

  test('posts without the form token, or with another one, are refused with CSRF_FAILED and change nothing', async () => {
    const anonymous = browser();
    await anonymous.get('/');
    for (const fields of [{ _csrf: null }, { _csrf: 'x'.repeat(43) }]) {
      const response = await anonymous.post('/logon', { ...fields, username: 'alice', password: password('alice') });
      assert.equal(response.statusCode, 403);
      assert.match(response.headers['content-type'] as string, /text\/html/);
      assert.match(pageText(response.body), /CSRF_FAILED/);
      assert.equal(anonymous.cookies.get('tally_session'), undefined);
    }
    const alice = await loggedOn('alice');
    const bob = await loggedOn('bob');
    await bob.get('/request');
    const before = (await tokensOf('alice')).length;
    const forged = [null, 'x'.repeat(43), bob.lastBody.match(/name="_csrf" value="([^"]+)"/)![1]!];
    for (const token of forged) {
      const response = await alice.post('/request', { _csrf: token, profile: PROFILES.phone.name });
      assert.equal(response.statusCode, 403, `token ${token}`);
      assert.match(pageText(response.body), /did not come from this site/);
    }
    const json = await tally.public.inject({
      method: 'POST',
      url: '/request',
      remoteAddress: '10.1.9.9',
      headers: { cookie: `tally_session=${alice.cookies.get('tally_session')}` },
      payload: { profile: PROFILES.phone.name },
    });
    assert.equal(json.statusCode, 403);
    assert.equal((await tokensOf('alice')).length, before);
    const logOff = await alice.post('/logoff', { _csrf: null });
    assert.equal(logOff.statusCode, 403, 'log-off needs the token too');
  });

  test('log-off ends the session in the store; the old cookie opens nothing', async () => {
    const client = await loggedOn('carol');
    const sessionId = client.cookies.get('tally_session')!;
    await client.get('/');
    const logOff = await client.post('/logoff');
    assert.equal(logOff.statusCode, 303);
    assert.equal(client.cookies.get('tally_session'), undefined);
    const hash = createHash('sha256').update(sessionId).digest('hex');
    assert.equal(
      await getStore().db.selectFrom('web_sessions').select('id_hash').where('id_hash', '=', hash).executeTakeFirst(),
      undefined,
    );
    const replay = browser();
    replay.cookies.set('tally_session', sessionId);
    assert.match(pageText((await replay.get('/')).body), /Log on/);
    const post = await replay.post('/request', { profile: PROFILES.phone.name });
    assert.equal(post.statusCode, 303);
    assert.equal(post.headers.location, '/?notice=session-ended');
  });

  test("sessions end after the idle timeout and after the absolute timeout; an admin revokes all of a user's sessions", async () => {
    const idle = await loggedOn('dave');
    tally.clock.advance(14 * 60);
    assert.match(pageText((await idle.get('/')).body), /My tokens/, 'still within 15 idle minutes');
    tally.clock.advance(16 * 60);
    assert.match(pageText((await idle.get('/')).body), /Log on/, 'idle for 16 minutes');

    const busy = await loggedOn('dave');
    for (let minutes = 0; minutes < 8 * 60 - 10; minutes += 10) {
      tally.clock.advance(10 * 60);
      assert.match(pageText((await busy.get('/')).body), /My tokens/);
    }
    tally.clock.advance(11 * 60);
    assert.match(pageText((await busy.get('/')).body), /Log on/, 'eight hours after log-on');

    const one = await loggedOn('dave');
    const two = await loggedOn('dave');
    assert.equal(await tally.services.sessions.revokeAll({ kind: 'apitoken', name: 'helpdesk', role: 'helpdesk' }, 'dave'), 2);
    for (const client of [one, two]) assert.match(pageText((await client.get('/')).body), /Log on/);
    await assert.rejects(tally.services.sessions.revokeAll({ kind: 'user', name: 'erin', role: 'user' }, 'dave'), /may not do this/);
  });

  test('the log-on form is rate limited per address', async () => {
    const client = browser();
    await client.get('/');
    for (let i = 0; i < 5; i++)
      assert.equal((await client.post('/logon', { username: 'nobody', password: 'wrong-password' })).statusCode, 401);
    const limited = await client.post('/logon', { username: 'alice', password: password('alice') });
    assert.equal(limited.statusCode, 429);
    assert.match(limited.headers['content-type'] as string, /text\/html/);
    assert.match(pageText(limited.body), /RATE_LIMITED/);
    assert.equal((await browser().logOn('alice', password('alice'))).statusCode, 303, 'another address is not limited');
  });

  test('the log-on limit counts the attempts of every node on the store: spreading them over two gains nothing', async () => {
    const otherNode = await buildPublicApp(createServices(getStore(), tally.keyring, tally.clock), {
      logger: createLogger('silent'),
      logonRateLimit: 5,
    });
    try {
      const source = `10.1.0.${++address}`;
      const here = new WebClient(tally.public, source);
      const there = new WebClient(otherNode, source);
      await here.get('/');
      await there.get('/');
      // Another unknown name than the test before's: its five failures would make this one wait.
      for (const client of [here, there, here, there, here])
        assert.equal((await client.post('/logon', { username: 'nobody-else', password: 'wrong-password' })).statusCode, 401);
      assert.equal(
        (await there.post('/logon', { username: 'alice', password: password('alice') })).statusCode,
        429,
        'the sixth attempt, on the node that saw two',
      );
      assert.equal((await here.post('/logon', { username: 'alice', password: password('alice') })).statusCode, 429);
      const other = new WebClient(otherNode, `10.1.0.${++address}`);
      assert.equal((await other.logOn('alice', password('alice'))).statusCode, 303, 'another address is not limited');
      tally.clock.advance(60);
      assert.equal((await there.logOn('alice', password('alice'))).statusCode, 303, 'a new window starts a new count');
    } finally {
      await otherNode.close();
    }
  });

  test("wrong passwords slow the user's next log-ons down (no lock), and the page says so", async () => {
    for (let i = 0; i < 5; i++) {
      const response = await browser().logOn('erin', 'not-the-password');
      assert.equal(response.statusCode, 401);
      assert.match(pageText(response.body), /username or password is not right/);
      assert.match(response.body, /value="erin"/, 'the username stays in the form');
    }
    const early = await browser().logOn('erin', password('erin'));
    assert.equal(early.statusCode, 429);
    assert.match(pageText(early.body), /wait a few seconds/);
    assert.doesNotMatch(pageText(early.body), /erin-password/);
    tally.clock.advance(1);
    assert.equal((await browser().logOn('erin', password('erin'))).statusCode, 303);
  });

  test('QR: request, Activate, the QR code with its key as text, Confirm with the first code; then no QR again', async () => {
    const alice = await loggedOn('alice');
    const offer = await alice.get('/request');
    const text = pageText(offer.body);
    assert.match(text, /Standard authenticator app/);
    assert.match(text, /RSA SecurID Software Token for iOS · app version 2\.1 or later/);
    // The 1.3 profile beside the 2.1 one is for the 1.x apps, not "1.3 or later".
    assert.match(text, /RSA SecurID Software Token for iOS · app version 1\.x/);
    assert.doesNotMatch(text, /1\.3 or later/);
    assert.match(text, /Phone authenticator/);
    assert.match(text, /scan a QR code with the app, then type the first code/);
    assert.match(text, /Contractor token Needs approval/);
    assert.doesNotMatch(text, /Admin-only token/);
    const requested = await alice.post('/request', { profile: PROFILES.phone.name });
    assert.equal(requested.statusCode, 303);
    const list = await alice.get(requested.headers.location as string);
    assert.match(pageText(list.body), /Your new token is ready to set up/);
    const token = firstItem(await tokensOf('alice'));
    assert.equal(token.state, 'pending');
    assert.match(list.body, new RegExp(`<a class="button button-primary" href="/tokens/${token.serial}/activate"[^>]*>Activate</a>`));
    assert.match(pageText(list.body), /Waiting for activation/);

    const page = await alice.get(`/tokens/${token.serial}/activate`);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<img src="data:image\/svg\+xml;base64,[^"]+" alt="[^"]*QR code[^"]*"/);
    const secret = /data-copy="([A-Z2-7]+)"/.exec(page.body)![1]!;
    assert.match(
      page.body,
      new RegExp(`<code id="secret-key" class="secret">${secret.replace(/(.{1,4})/g, '<span class="key-group">$1</span>')}</code>`),
      'the key as text',
    );
    assert.match(page.body, /otpauth:\/\/totp\/Tally:alice\?secret=/);
    assert.match(page.body, /<label for="tokencode">Tokencode<\/label>/);
    assert.match(page.body, /<button type="submit" class="button button-primary">Confirm<\/button>/);

    const wrong = await alice.post(`/tokens/${token.serial}/confirm`, {
      tokencode: (await codeNow(token.serial)) === '000000' ? '111111' : '000000',
    });
    assert.equal(wrong.statusCode, 400);
    assert.match(pageText(wrong.body), /That code is not right/);
    const confirmed = await alice.post(`/tokens/${token.serial}/confirm`, { tokencode: await codeNow(token.serial) });
    assert.equal(confirmed.statusCode, 303);
    assert.equal(confirmed.headers.location, '/?notice=token-active');
    const after = await alice.get('/?notice=token-active');
    assert.match(pageText(after.body), /Your token is active/);
    assert.doesNotMatch(after.body, />Activate</);
    const again = await alice.get(`/tokens/${token.serial}/activate`);
    assert.equal(again.statusCode, 409);
    assert.doesNotMatch(again.body, /<img|otpauth:|data-copy/);
    assert.doesNotMatch(again.body, new RegExp(secret));
  });

  test("another user's token is unreachable by URL: it looks exactly like a missing one", async () => {
    const token = firstItem(await tokensOf('alice'));
    const bob = await loggedOn('bob');
    await bob.get('/');
    for (const [method, url, fields] of [
      ['GET', `/tokens/${token.serial}`],
      ['GET', `/tokens/${token.serial}/activate`],
      ['POST', `/tokens/${token.serial}/confirm`, { tokencode: '123456' }],
      ['POST', `/tokens/${token.serial}/rename`, { label: 'mine now' }],
    ] as const) {
      const response = method === 'GET' ? await bob.get(url) : await bob.post(url, fields);
      const missing =
        method === 'GET' ? await bob.get(url.replace(token.serial, '999999')) : await bob.post(url.replace(token.serial, '999999'), fields);
      assert.equal(response.statusCode, 404, `${method} ${url}`);
      assert.equal(pageText(response.body).replace(token.serial, 'S'), pageText(missing.body).replace('999999', 'S'));
      await bob.get('/');
    }
    assert.equal(
      (await getStore().db.selectFrom('tokens').select('label').where('serial', '=', token.serial).executeTakeFirstOrThrow()).label,
      null,
    );
    const anonymous = browser();
    const redirected = await anonymous.get(`/tokens/${token.serial}/activate`);
    assert.equal(redirected.statusCode, 303);
    assert.equal(redirected.headers.location, '/');
  });

  test('the domain refuses what the pages never offer: tokens for others, closed profiles, approval profiles without a request', async () => {
    const bob = { kind: 'user', name: 'bob', role: 'user' } as const;
    await assert.rejects(tally.services.distribution.distributeToUser(bob, 'alice', PROFILES.phone.name), { code: 'FORBIDDEN' });
    await assert.rejects(tally.services.distribution.distributeToUser(bob, 'bob', PROFILES.adminOnly.name), { code: 'PROFILE_NOT_FOUND' });
    await assert.rejects(tally.services.requests.request(bob, PROFILES.adminOnly.name), { code: 'PROFILE_NOT_FOUND' });
    await assert.rejects(tally.services.distribution.distributeToUser(bob, 'bob', PROFILES.approval.name), { code: 'FORBIDDEN' });
    await assert.rejects(
      tally.services.distribution.distributeToUser({ kind: 'apitoken', name: 'a', role: 'agent' }, 'bob', PROFILES.phone.name),
      { code: 'FORBIDDEN' },
    );
    await assert.rejects(tally.services.selfService.tokens({ kind: 'apitoken', name: 'h', role: 'helpdesk' }), { code: 'FORBIDDEN' });
  });

  test('CT-KIP: the URL and the same activation code on each visit (QR where the app can scan); New activation code replaces it; the app activates with the newest', async () => {
    const bob = await loggedOn('bob');
    await bob.get('/request');
    assert.equal((await bob.post('/request', { profile: PROFILES.iphone.name })).statusCode, 303);
    const token = firstItem((await tokensOf('bob')).filter((t) => t.token_type === 'securid'));
    const first = await bob.get(`/tokens/${token.serial}/activate`);
    const second = await bob.get(`/tokens/${token.serial}/activate`);
    const codeOf = (body: string) => /id="activation-code" class="secret secret-large">(\d{12})</.exec(body)![1]!;
    assert.equal(codeOf(first.body), codeOf(second.body), 'opening the page again shows the same code: a GET changes nothing');
    assert.match(pageText(second.body), /URL http:\/\/localhost:8080\/ctkip\/services\/CtkipService/);
    assert.match(pageText(second.body), new RegExp(`Activation code ${codeOf(second.body)}`));
    assert.match(second.body, /alt="QR code for the SecurID app"/, 'iOS 2.x scans QR codes');
    assert.match(
      pageText(second.body),
      /New activation code The code shown now, or the one your IT helpdesk gave you, then stops working\./,
    );
    const renewed = await bob.post(`/tokens/${token.serial}/activate/renew`, {});
    assert.equal(renewed.statusCode, 303);
    assert.equal(renewed.headers.location, `/tokens/${token.serial}/activate?notice=activation-renewed`);
    const third = await bob.get(String(renewed.headers.location));
    assert.match(pageText(third.body), /Here is your new activation code\. The previous one no longer works\./);
    assert.notEqual(codeOf(third.body), codeOf(first.body));
    assert.ok((await activateOverCtkip(tally.public, codeOf(first.body))).fault, 'the replaced code no longer works');
    const activated = await activateOverCtkip(tally.public, codeOf(third.body));
    assert.ok(activated.token, activated.fault);
    assert.equal((await tally.services.selfService.token({ kind: 'user', name: 'bob', role: 'user' }, token.serial)).state, 'active');
    assert.equal((await bob.get(`/tokens/${token.serial}/activate`)).statusCode, 409);

    await bob.get('/request');
    await bob.post('/request', { profile: PROFILES.iphoneOld.name });
    const old = (await tokensOf('bob')).find((t) => t.state === 'pending')!;
    const page = await bob.get(`/tokens/${old.serial}/activate`);
    assert.match(pageText(page.body), /Activation code \d{12}/);
    assert.doesNotMatch(page.body, /<img/, 'the 1.x app cannot scan: no QR code');
  });

  test('file: a one-time link and the password on the Activate page; a visit shows the same link, New download link replaces it, the link works once', async () => {
    const carol = await loggedOn('carol');
    await carol.get('/request');
    await carol.post('/request', { profile: PROFILES.desktop.name });
    const token = firstItem(await tokensOf('carol'));
    const first = await carol.get(`/tokens/${token.serial}/activate`);
    const second = await carol.get(`/tokens/${token.serial}/activate`);
    const linkOf = (body: string) =>
      /<form method="post" action="(\/download\/[A-Za-z0-9_-]+)"><button type="submit" class="button button-primary">Download token file</.exec(
        body,
      )![1]!;
    const passwordOf = (body: string) => /id="file-password" class="secret secret-large">([A-Za-z0-9]{14})</.exec(body)![1]!;
    assert.equal(passwordOf(first.body), passwordOf(second.body));
    assert.equal(linkOf(first.body), linkOf(second.body), 'opening the page again shows the same link: a GET changes nothing');
    const renewed = await carol.post(`/tokens/${token.serial}/activate/renew`, {});
    assert.equal(renewed.headers.location, `/tokens/${token.serial}/activate?notice=link-renewed`);
    const third = await carol.get(String(renewed.headers.location));
    assert.match(pageText(third.body), /Here is your new download link\. The previous one no longer works\./);
    assert.equal(passwordOf(third.body), passwordOf(first.body), 'the file and its password stay the same');
    assert.equal((await tally.public.inject({ method: 'POST', url: linkOf(first.body) })).statusCode, 410, 'replaced by New download link');
    const download = await tally.public.inject({ method: 'POST', url: linkOf(third.body) });
    assert.equal(download.statusCode, 200);
    assert.match(download.headers['content-disposition'] as string, /\.pskcxml"/);
    const again = await tally.public.inject({ url: linkOf(third.body), headers: { accept: 'text/html' } });
    assert.equal(again.statusCode, 410);
    assert.match(again.headers['content-type'] as string, /text\/html/, 'a browser gets a page');
    assert.match(pageText(again.body), /DOWNLOAD_LINK_INVALID/);
    assert.equal((await carol.get(`/tokens/${token.serial}/activate`)).statusCode, 409, 'active now: nothing more to show');
  });

  test('CTF: shown once on the page after the request, never again; a reload neither shows it nor requests again', async () => {
    const dave = await loggedOn('dave');
    await dave.get('/request');
    const requested = await dave.post('/request', { profile: PROFILES.ctf.name });
    assert.equal(requested.statusCode, 303, 'the answer to the POST is a redirect, so a reload does not post again');
    const token = firstItem(await tokensOf('dave'));
    assert.equal(token.state, 'active');
    assert.equal(requested.headers.location, `/tokens/${token.serial}/issued`);
    assert.doesNotMatch(requested.body, /\d{81}/);
    const shown = await dave.get(requested.headers.location as string);
    assert.equal(shown.statusCode, 200);
    const ctf = /id="ctf" class="secret secret-wrap">(\d{81})</.exec(shown.body)![1]!;
    assert.match(pageText(shown.body), /shown only once/);
    const reloaded = await dave.get(requested.headers.location as string);
    assert.equal(reloaded.statusCode, 303);
    assert.equal(reloaded.headers.location, `/tokens/${token.serial}?notice=ctf-shown`);
    const details = await dave.get(reloaded.headers.location as string);
    assert.doesNotMatch(details.body, new RegExp(ctf));
    assert.match(pageText(details.body), /shown once, when the token was issued, and Tally does not keep it/);
    assert.equal((await tokensOf('dave')).length, 1, 'one request, one token');
    const flashes = await getStore().db.selectFrom('web_sessions').select('flash_sealed').execute();
    assert.ok(
      flashes.every((row) => row.flash_sealed === null || !row.flash_sealed.includes(ctf)),
      'the waiting CTF is sealed, not stored in clear',
    );
  });

  test("CTF: another user's session cannot take a token's waiting string", async () => {
    const dave = await loggedOn('dave');
    await dave.get('/request');
    const requested = await dave.post('/request', { profile: PROFILES.ctf.name });
    assert.equal(requested.statusCode, 303);
    const other = await loggedOn('carol');
    const taken = await other.get(requested.headers.location as string);
    assert.notEqual(taken.statusCode, 200);
    assert.doesNotMatch(taken.body, /\d{81}/);
    assert.equal((await dave.get(requested.headers.location as string)).statusCode, 200, 'still waiting for its own session');
  });

  test('approval: the request waits, a second one is refused, the admin approves or rejects over REST; the user sees the outcome', async () => {
    const erin = await loggedOn('erin');
    await erin.get('/request');
    const waiting = await erin.post('/request', { profile: PROFILES.approval.name });
    assert.equal(waiting.headers.location, '/?notice=request-waiting');
    const home = await erin.get('/?notice=request-waiting');
    assert.match(pageText(home.body), /waits for an administrator's approval/);
    assert.match(pageText(home.body), /Contractor token .* Waiting for approval/);
    await erin.get('/request');
    const twice = await erin.post('/request', { profile: PROFILES.approval.name });
    assert.equal(twice.statusCode, 409);
    assert.match(pageText(twice.body), /waiting for approval already/);
    assert.equal((await tokensOf('erin')).length, 0);

    const pending = (await api('GET', '/api/v1/requests?state=pending')).json().requests;
    assert.equal(pending.length, 1);
    assert.equal(pending[0].username, 'erin');
    const helpdeskList = await tally.admin.inject({ url: '/api/v1/requests', headers: bearer(tally.tokens.agent) });
    assert.equal(helpdeskList.statusCode, 403);
    const approved = await api('POST', `/api/v1/requests/${pending[0].id}/approve`);
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal(approved.json().request.state, 'approved');
    assert.equal(approved.json().token.state, 'pending');
    assert.equal((await api('POST', `/api/v1/requests/${pending[0].id}/approve`)).json().error.code, 'TOKEN_REQUEST_DECIDED');
    const token = firstItem(await tokensOf('erin'));
    assert.equal(approved.json().request.serial, token.serial);
    assert.match((await erin.get('/')).body, new RegExp(`/tokens/${token.serial}/activate`));

    await erin.get('/request');
    await erin.post('/request', { profile: PROFILES.approval.name });
    const second = (await api('GET', '/api/v1/requests?state=pending')).json().requests[0];
    assert.equal((await api('POST', `/api/v1/requests/${second.id}/reject`, { reason: '' })).statusCode, 400);
    const rejected = await api('POST', `/api/v1/requests/${second.id}/reject`, { reason: 'Contractors get hardware tokens <b>only</b>.' });
    assert.equal(rejected.json().request.state, 'rejected');
    const page = await erin.get('/');
    assert.match(pageText(page.body), /Declined .* Reason: Contractors get hardware tokens <b>only<\/b>\./);
    assert.match(page.body, /&lt;b&gt;only&lt;\/b&gt;/, 'escaped');
    assert.equal((await api('POST', '/api/v1/requests/99999/approve')).json().error.code, 'TOKEN_REQUEST_NOT_FOUND');
    const audit = (await api('GET', '/api/v1/audit?action=token.request.reject')).json().events;
    assert.equal(audit[0].result, 'success');
  });

  test("rename: a name of the holder's own, shown in the list; control characters are refused", async () => {
    const alice = await loggedOn('alice');
    const token = firstItem(await tokensOf('alice'));
    await alice.get(`/tokens/${token.serial}`);
    const renamed = await alice.post(`/tokens/${token.serial}/rename`, { label: 'Work phone <3' });
    assert.equal(renamed.headers.location, `/tokens/${token.serial}?notice=renamed`);
    const details = await alice.get(renamed.headers.location as string);
    assert.match(pageText(details.body), /The name has been saved/);
    assert.match(details.body, /<h1>Work phone &lt;3<\/h1>/);
    assert.match(pageText((await alice.get('/')).body), /Work phone <3/);
    const bad = await alice.post(`/tokens/${token.serial}/rename`, { label: 'a\u0007b' });
    assert.equal(bad.statusCode, 400);
    assert.match(pageText(bad.body), /without control characters/);
  });

  test('errors are pages, never stack traces; unknown pages too', async () => {
    const alice = await loggedOn('alice');
    const missing = await alice.get('/no-such-page');
    assert.equal(missing.statusCode, 404);
    assert.match(missing.headers['content-type'] as string, /text\/html/);
    const badSerial = await alice.get('/tokens/%3Cscript%3E/activate');
    assert.equal(badSerial.statusCode, 400);
    assert.doesNotMatch(badSerial.body, /<script>|at .*\.ts:\d+/);
    const json = await tally.public.inject({ url: '/no-such-page' });
    assert.equal(json.json().error.code, 'NOT_FOUND', 'programs still get the JSON envelope');
    assert.equal((await tally.public.inject({ url: '/healthz' })).json().status, 'ok');
    const css = await tally.public.inject({ url: '/assets/tally.css' });
    assert.equal(css.statusCode, 200);
    assert.match(css.headers['content-type'] as string, /text\/css/);
  });

  test('the audit records the console: log-ons, requests, activations, renames; never a secret', async () => {
    const events = (await api('GET', '/api/v1/audit?limit=1000')).json().events as { action: string; details: unknown }[];
    const actions = new Set(events.map((e) => e.action));
    for (const action of [
      'logon.self-service',
      'session.end',
      'token.distribute',
      'token.activation.show',
      'token.activation.renew',
      'token.activation.confirm',
      'token.download.link',
      'token.rename',
      'token.request',
    ]) {
      assert.ok(actions.has(action), action);
    }
    assert.doesNotMatch(JSON.stringify(events), /password-1|secret=|otpauth/);
  });
});
