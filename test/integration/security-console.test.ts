import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import { systemActor } from '../../src/domain/actor.js';
import { buildAdminApp } from '../../src/http/admin/app.js';
import { createLogger } from '../../src/logger.js';
import { BulkDistributionRepository } from '../../src/store/repositories/bulk-distributions.js';
import { readTokenFile } from '../../src/tokens/files.js';
import { tokenType } from '../../src/tokens/registry.js';
import { consoleClient, postMultipart } from '../support/console.js';
import { firstItem, item } from '../support/items.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, allowTokensPerUser, bearer, createTestTally, readyOn, type TestTally } from '../support/tally.js';
import { readVector, readVectorJson } from '../support/vectors.js';
import { formToken, pageText, WebClient } from '../support/web.js';

const PROFILES = {
  phone: { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true },
  desktop: { name: 'Desktop file', tokenType: 'totp', deviceType: 'tally-cli', delivery: 'file', filePasswordPolicy: 'generated' },
  ctf: { name: 'SecurID CTF', tokenType: 'securid', deviceType: 'android', appVersion: '1.5', delivery: 'ctf' },
  ctkip: { name: 'SecurID iPhone', tokenType: 'securid', deviceType: 'ios', appVersion: '2.1', delivery: 'ctkip' },
  approval: {
    name: 'Contractor phone',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
  },
  pin: { name: 'PIN phone', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', pinMode: 'required' },
} as const;

const HELPDESK = { username: 'hilda', password: 'helpdesk-password-1' };
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

describeEachStore('Security Console', (getStore) => {
  let tally: TestTally;
  let admin: WebClient;
  let helpdesk: WebClient;
  let address = 0;
  const nextAddress = () => `10.7.0.${++address}`;
  const text = (body: string) => pageText(body);
  const tokenRow = (serial: string) =>
    getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  /** A token of `profile` for `username`, made by the domain (not by the page under test). */
  const distributed = async (username: string, profile: string) =>
    (await tally.services.distribution.distributeToUser(systemActor, username, profile)).serial;
  /** An active TOTP token whose codes the test can compute. */
  const activeToken = async (username: string) => {
    const serial = await distributed(username, PROFILES.desktop.name);
    await tally.services.distribution.adminDownload(systemActor, serial);
    return serial;
  };
  const codeAt = async (serial: string, stepsAhead: number) => {
    const row = await tokenRow(serial);
    return tokenType('totp').codeAt(tally.services.tokens.material(row), Math.floor(tally.clock.now() / 30_000) + stepsAhead);
  };
  /** Posts a one-button form from a page the client has just read. */
  const act = async (client: WebClient, page: string, action: string, fields: Record<string, string> = {}) => {
    await client.get(page);
    return client.post(action, fields);
  };

  before(async () => {
    // The help desk here reads one-time codes to users (RSA's practice); role-boundaries.test.ts covers the default, none.
    tally = await createTestTally(getStore(), { logonRateLimit: 100, services: { helpdeskCredentials: 'one-time-codes' } });
    // More than RSA's default of 3 tokens per user: the same few users get tokens of every profile across the tests.
    await allowTokensPerUser(tally, 20);
    await tally.services.users.create(systemActor, { username: HELPDESK.username, password: HELPDESK.password, role: 'helpdesk' });
    for (const username of USERS) await tally.services.users.create(systemActor, { username, email: `${username}@example.com` });
    for (const profile of Object.values(PROFILES)) await tally.services.profiles.create(systemActor, profile);
    admin = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, nextAddress());
    helpdesk = await consoleClient(tally.admin, HELPDESK.username, HELPDESK.password, nextAddress());
  });
  after(async () => tally.close());

  test("the log-on page: the contract's labels, a strict CSP, its own cookie; only admins get in", async () => {
    const client = new WebClient(tally.admin, nextAddress());
    const page = await client.get('/console');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<label for="username">Username<\/label>/);
    assert.match(page.body, /<label for="password">Password<\/label>/);
    assert.match(page.body, /<button type="submit"[^>]*>Log on<\/button>/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.doesNotMatch(page.body, /<script>|<style|style="/, 'no inline script or style');
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal((await client.get('/assets/tally.css')).statusCode, 200, 'the stylesheet is served on the admin listener');

    const wrong = await client.post('/console/logon', { username: 'admin', password: 'not-the-password' });
    assert.equal(wrong.statusCode, 401);
    assert.match(text(wrong.body), /username or password is not right/);
    await tally.services.users.update(systemActor, 'alice', { password: 'alice-password-1' });
    const user = await client.post('/console/logon', { username: 'alice', password: 'alice-password-1' });
    assert.equal(user.statusCode, 401, 'an ordinary user is refused like a wrong password');

    const ok = await client.post('/console/logon', { username: 'admin', password: ADMIN_PASSWORD });
    assert.equal(ok.statusCode, 303);
    assert.ok(client.cookies.get('tally_console'), 'a cookie of its own: browsers send cookies to every port');
    assert.equal(client.cookies.get('tally_session'), undefined);
    assert.match(text((await client.get('/console')).body), /Dashboard/);
    assert.equal((await client.post('/console/logoff')).statusCode, 303);
    const after = await client.get('/console/users');
    assert.equal(after.statusCode, 303);
    assert.equal(after.headers.location, '/console');

    const selfService = new WebClient(tally.public, nextAddress());
    assert.equal((await selfService.logOn('alice', 'alice-password-1')).statusCode, 303);
    const crossed = new WebClient(tally.admin, nextAddress());
    crossed.cookies.set('tally_console', selfService.cookies.get('tally_session')!);
    assert.match(text((await crossed.get('/console')).body), /Log on/, 'a self-service session opens nothing here');
  });

  test('every form needs the form token; unknown pages are HTML here and JSON under /api/v1', async () => {
    const forged = await admin.post('/console/users', { _csrf: 'x'.repeat(43), username: 'mallory' });
    assert.equal(forged.statusCode, 403);
    assert.match(text(forged.body), /CSRF_FAILED/);
    await assert.rejects(tally.services.users.get(systemActor, 'mallory'), { code: 'USER_NOT_FOUND' });
    const missing = await admin.get('/console/no-such-page');
    assert.equal(missing.statusCode, 404);
    assert.match(missing.headers['content-type'] as string, /text\/html/);
    assert.match(text(missing.body), /Not found.*Logged on as admin/);
    const api = await tally.admin.inject({ url: '/api/v1/no-such-thing', headers: bearer(tally.tokens.superadmin) });
    assert.equal(api.json().error.code, 'NOT_FOUND');
    const apiError = await tally.admin.inject({ url: '/api/v1/users/nobody', headers: bearer(tally.tokens.superadmin) });
    assert.equal(apiError.json().error.code, 'USER_NOT_FOUND', 'the REST API keeps its JSON errors');
    assert.equal((await admin.get('/')).headers.location, '/console');
  });

  test('help desk: no profile editor, no role changes, no seeds, no settings; refused by the domain whatever the URL', async () => {
    const serial = await distributed('bob', PROFILES.desktop.name);
    const forbidden: [string, string, Record<string, string>?][] = [
      ['GET', '/console/profiles/new'],
      ['GET', '/console/profiles/new?deviceType=ios&tokenType=securid&appVersion=2'],
      ['GET', `/console/profiles/${encodeURIComponent(PROFILES.phone.name)}/edit`],
      ['POST', '/console/profiles/new', { name: 'Sneaky', deviceType: 'authenticator', tokenType: 'totp', delivery: 'qr' }],
      [
        'POST',
        `/console/profiles/${encodeURIComponent(PROFILES.phone.name)}/edit`,
        { deviceType: 'authenticator', tokenType: 'totp', delivery: 'file' },
      ],
      ['POST', '/console/devices', { deviceType: 'x', label: 'X', tokenTypes: 'totp', versions: '*: qr' }],
      ['POST', '/console/users', { username: 'eve', role: 'superadmin' }],
      ['POST', '/console/users/admin/edit', { email: 'evil@example.com' }],
      ['POST', '/console/users/alice/edit', { role: 'superadmin' }],
      ['POST', '/console/users/admin/disable'],
      ['POST', '/console/users/alice/verify', { passcode: '123456' }],
      ['POST', `/console/tokens/${serial}/download`],
      ['POST', `/console/tokens/${serial}/delete`, { confirm: 'yes' }],
      ['POST', '/console/tokens/generate', { profile: PROFILES.desktop.name, count: '1' }],
      ['GET', '/console/settings'],
      ['POST', '/console/settings/radius-clients', { name: 'vpn', address: '10.0.0.1', secret: 'a-long-shared-secret' }],
      ['POST', '/console/settings/api-tokens', { name: 'x', role: 'agent' }],
      ['POST', '/console/settings/ctkip-key'],
      ['POST', '/console/settings/values', { tokensPerUser: '50', selfServiceRequest: 'yes' }],
    ];
    for (const [method, url, fields] of forbidden) {
      await helpdesk.get('/console');
      const response = method === 'GET' ? await helpdesk.get(url) : await helpdesk.post(url, fields ?? {});
      assert.equal(response.statusCode, 403, `${method} ${url}`);
      assert.match(text(response.body), /Not allowed.*FORBIDDEN/, `${method} ${url}`);
    }
    const importForm = await helpdesk.get('/console/tokens/import');
    assert.equal(importForm.statusCode, 200);
    const imported = await postMultipart(tally.admin, helpdesk, '/console/tokens/import', {}, { name: 'x.sdtid', content: '<TKNBatch/>' });
    assert.equal(imported.statusCode, 403);
    assert.equal((await tokenRow(serial)).state, 'pending', 'the file was not claimed');
    assert.deepEqual(await getStore().db.selectFrom('profiles').select('name').where('name', '=', 'Sneaky').execute(), []);

    const profiles = await helpdesk.get('/console/profiles');
    assert.doesNotMatch(text(profiles.body), /New profile/);
    assert.doesNotMatch(profiles.body, /href="\/console\/settings"/, 'no Settings in the navigation');
    const token = await helpdesk.get(`/console/tokens/${serial}`);
    assert.doesNotMatch(text(token.body), /Download the file|Delete/);
    assert.match(text(token.body), /Reissue/);
  });

  test('help desk distributes, assigns and reissues, but a seed-bearing delivery shows no link, and a CTF one is refused', async () => {
    const reissued = await act(helpdesk, '/console/users/bob', '/console/users/bob/distribute', { profile: PROFILES.desktop.name });
    assert.equal(reissued.statusCode, 200);
    assert.match(text(reissued.body), /Token distributed.*never sees a seed/);
    assert.doesNotMatch(reissued.body, /\/download\/|file-password|download-url/);
    const ctf = await act(helpdesk, '/console/users/bob', '/console/users/bob/distribute', { profile: PROFILES.ctf.name });
    assert.equal(ctf.statusCode, 403);
    assert.match(text(ctf.body), /never sees a seed/);
    assert.doesNotMatch(
      text((await helpdesk.get('/console/users/bob')).body),
      /SecurID CTF \(ctf\)/,
      'the CTF profile is not offered to help desk',
    );
    const ctkip = await act(helpdesk, '/console/users/bob', '/console/users/bob/distribute', { profile: PROFILES.ctkip.name });
    assert.match(text(ctkip.body), /Activation code \d{12}/, 'an activation code is no seed: help desk reads it to the user');
    assert.match(
      text(ctkip.body),
      /The code works once, until .+\. It stops working sooner if the token is reissued or the user asks for a New activation code in the Self-Service Console\./,
      'the result page says when the code stops working',
    );
  });

  test("users: find, create, edit, disable and enable, unlock, end sessions; admins are a super admin's to change", async () => {
    const found = await admin.get('/console/users?q=ali');
    assert.match(text(found.body), /alice/);
    assert.doesNotMatch(text(found.body), /\bbob\b/);
    await admin.get('/console/users/new');
    const created = await admin.post('/console/users', {
      username: 'grace',
      email: 'grace@example.com',
      firstName: 'Grace',
      lastName: 'Hopper',
      password: 'grace-password-1',
      role: 'user',
    });
    assert.equal(created.statusCode, 303);
    assert.equal(created.headers.location, '/console/users/grace?notice=user-created');
    await admin.get('/console/users/new');
    const duplicate = await admin.post('/console/users', { username: 'grace', email: 'not-an-email' });
    assert.equal(duplicate.statusCode, 400);
    assert.match(text(duplicate.body), /email address is not valid/);
    assert.match(duplicate.body, /value="grace"/, 'the form keeps what was typed');

    await helpdesk.get('/console/users/new');
    assert.equal((await helpdesk.post('/console/users', { username: 'heidi' })).statusCode, 303, 'help desk creates ordinary users');
    const edited = await act(helpdesk, '/console/users/heidi/edit', '/console/users/heidi/edit', {
      email: 'heidi@example.com',
      firstName: 'Heidi',
      lastName: '',
      password: '',
    });
    assert.equal(edited.statusCode, 303);
    const heidi = await tally.services.users.get(systemActor, 'heidi');
    assert.equal(heidi.email, 'heidi@example.com');
    assert.equal(heidi.firstName, 'Heidi');

    const promoted = await act(admin, '/console/users/heidi/edit', '/console/users/heidi/edit', {
      email: 'heidi@example.com',
      role: 'helpdesk',
    });
    assert.equal(promoted.statusCode, 303);
    assert.equal((await tally.services.users.get(systemActor, 'heidi')).role, 'helpdesk');
    const demote = await act(helpdesk, '/console/users/heidi', '/console/users/heidi/disable');
    assert.equal(demote.statusCode, 403, 'help desk cannot disable an admin');

    assert.equal((await act(helpdesk, '/console/users/grace', '/console/users/grace/disable')).statusCode, 303);
    assert.equal((await tally.services.users.get(systemActor, 'grace')).disabled, true);
    const graceLogOn = new WebClient(tally.public, nextAddress());
    assert.equal((await graceLogOn.logOn('grace', 'grace-password-1')).statusCode, 401, 'a disabled user cannot log on');
    assert.equal((await act(helpdesk, '/console/users/grace', '/console/users/grace/enable')).statusCode, 303);
    assert.equal((await graceLogOn.logOn('grace', 'grace-password-1')).statusCode, 303);
    assert.equal(
      (await act(admin, '/console/users/grace', '/console/users/grace/sessions/revoke')).headers.location,
      '/console/users/grace?notice=sessions-ended',
    );
    assert.match(text((await graceLogOn.get('/')).body), /Log on/);

    for (let i = 0; i < 10; i++)
      await tally.services.authentication.verify(systemActor, { username: 'frank', passcode: '000000', channel: 'rest' });
    const locked = await helpdesk.get('/console/users/frank');
    assert.match(text(locked.body), /Locked/);
    assert.match(text(locked.body), /Recent authentications.*no active token/);
    assert.equal((await helpdesk.post('/console/users/frank/unlock')).statusCode, 303);
    assert.equal((await tally.services.users.get(systemActor, 'frank')).locked, false);

    const self = await act(admin, '/console/users/admin', '/console/users/admin/disable');
    assert.equal(self.statusCode, 409);
    assert.match(text(self.body), /cannot disable your own account/);
    const last = await act(admin, '/console/users/admin/edit', '/console/users/admin/edit', { role: 'user' });
    assert.equal(last.statusCode, 409);
    assert.match(text(last.body), /last enabled super admin/);
  });

  test("a user's page shows their tokens and recent authentications, and a super admin can test a passcode", async () => {
    const serial = await activeToken('carol');
    await tally.services.authentication.verify(systemActor, {
      username: 'carol',
      passcode: await codeAt(serial, 0),
      channel: 'radius',
      source: '192.0.2.7',
    });
    const page = await admin.get('/console/users/carol');
    assert.match(text(page.body), new RegExp(`Tokens ${'.*'}${serial}.*Active`));
    assert.match(text(page.body), new RegExp(`Recent authentications.*RADIUS ${serial} Success.*192\\.0\\.2\\.7`));
    const tested = await admin.post('/console/users/carol/verify', { passcode: await codeAt(serial, 1) });
    assert.match(text(tested.body), /Result: accept/);
    assert.doesNotMatch(tested.body, new RegExp(await codeAt(serial, 1)), 'the passcode is not echoed');
  });

  test('import users from CSV, uploaded or pasted, with a report for every row', async () => {
    await admin.get('/console/users/import');
    const csv =
      'username,email,firstName,lastName,role\r\nivan,ivan@example.com,Ivan,Ivanov,\r\nalice,alice2@example.com,,,\r\njudy,not-an-email,,,\r\n,,,,\r\n,nobody@example.com,,,\r\nkim,kim@example.com,"Kim, Jr.",,helpdesk\r\n';
    const uploaded = await postMultipart(tally.admin, admin, '/console/users/import', {}, { name: 'users.csv', content: csv });
    assert.equal(uploaded.statusCode, 200);
    const report = text(uploaded.body);
    assert.match(report, /2 created, 3 refused/);
    // The report names the line of the file (the header is line 1), as an editor shows it.
    assert.match(report, /Line Username Result Reason/);
    assert.match(report, /2 ivan Created/);
    assert.match(report, /3 alice Refused A user named alice exists already/);
    assert.match(report, /4 judy Refused The email address is not valid/);
    assert.match(report, /6 Refused The username is empty/);
    assert.match(report, /7 kim Created/);
    assert.doesNotMatch(report, /\b5 /, 'an empty row is no user');
    assert.equal((await tally.services.users.get(systemActor, 'kim')).firstName, 'Kim, Jr.');

    await helpdesk.get('/console/users/import');
    const pasted = await postMultipart(tally.admin, helpdesk, '/console/users/import', {
      csv: 'username;role\nleo;\nmallory;superadmin\n',
    });
    assert.match(text(pasted.body), /1 created, 1 refused.*leo Created.*mallory Refused The helpdesk role may not do this/);
    const bad = await postMultipart(tally.admin, admin, '/console/users/import', { csv: 'login,shoe size\nx,42\n' });
    assert.equal(bad.statusCode, 400);
    assert.match(text(bad.body), /Unknown column\(s\) "shoe size"/);
  });

  test('a long import report leads with the refused rows and folds the created ones away', async () => {
    await admin.get('/console/users/import');
    const names = Array.from({ length: 150 }, (_, i) => `long${String(i).padStart(3, '0')}`);
    const csv = [
      'username,email',
      ...names.map((name, i) => (i === 40 ? `${name},not-an-email` : `${name},${name}@example.com`)),
      'long000,again@example.com',
    ].join('\n');
    const uploaded = await postMultipart(tally.admin, admin, '/console/users/import', { csv });
    assert.equal(uploaded.statusCode, 200);
    const report = text(uploaded.body);
    assert.match(report, /149 created, 2 refused/);
    assert.match(
      report,
      /Refused rows .* Reason 42 long040 Refused The email address is not valid\. 152 long000 Refused A user named long000 exists already\. The 149 users created/,
    );
    const folded = /<details class="manual">([\s\S]*)<\/details>/.exec(uploaded.body)?.[1] ?? '';
    assert.equal((folded.match(/badge-active">Created</g) ?? []).length, 149);
    assert.doesNotMatch(folded, /Refused/);
  });

  test('the profile editor offers what the device can take, says why not for the rest, and creates and edits profiles', async () => {
    const step1 = await admin.get('/console/profiles/new');
    assert.match(text(step1.body), /Device and app.*RSA SecurID Software Token for iOS/);
    const old = await admin.get('/console/profiles/new?deviceType=ios&tokenType=securid&appVersion=1.3');
    assert.match(old.body, /<input type="radio" name="delivery" value="qr" disabled>/);
    assert.match(
      text(old.body),
      /QR code Not offered Not possible: the SecurID app 1\.x for iOS cannot scan QR codes \(2\.x and later can\)/,
    );
    assert.match(old.body, /<input type="radio" name="delivery" value="ctkip" required checked>/);
    const newer = await admin.get('/console/profiles/new?deviceType=ios&tokenType=securid&appVersion=2.4');
    assert.match(newer.body, /<input type="radio" name="delivery" value="qr" required checked>/);
    const wrongType = await admin.get('/console/profiles/new?deviceType=windows&tokenType=totp');
    assert.match(text(wrongType.body), /does not take TOTP tokens, so this is a SecurID profile/);
    const badVersion = await admin.get('/console/profiles/new?deviceType=ios&tokenType=securid&appVersion=latest');
    assert.equal(badVersion.statusCode, 400);
    assert.match(text(badVersion.body), /must start with a major version number/);

    await admin.get('/console/profiles/new?deviceType=ios&tokenType=securid&appVersion=1.3');
    const refused = await admin.post('/console/profiles/new', {
      name: 'Old iPhones',
      deviceType: 'ios',
      tokenType: 'securid',
      appVersion: '1.3',
      delivery: 'qr',
      digits: '8',
      period: '60',
      pinMode: 'required',
      activationLifetimeDays: '14',
    });
    assert.equal(refused.statusCode, 422, 'a forged choice the page did not offer is refused by the domain');
    assert.match(text(refused.body), /cannot scan QR codes/);
    const created = await admin.post('/console/profiles/new', {
      name: 'Old iPhones',
      description: 'SecurID 1.x',
      deviceType: 'ios',
      tokenType: 'securid',
      appVersion: '1.3',
      delivery: 'ctkip',
      digits: '8',
      period: '60',
      pinMode: 'required',
      activationLifetimeDays: '7',
      mailCtkipUrl: 'yes',
      selfService: 'yes',
    });
    assert.equal(created.statusCode, 303);
    const profile = await tally.services.profiles.get(systemActor, 'Old iPhones');
    assert.deepEqual(
      [
        profile.delivery,
        profile.pinMode,
        profile.activationLifetimeDays,
        profile.mailCtkipUrl,
        profile.selfService,
        profile.tokenLifetimeDays,
      ],
      ['ctkip', 'required', 7, true, true, 1095],
    );

    const edit = await admin.get(`/console/profiles/${encodeURIComponent('Old iPhones')}/edit`);
    assert.match(edit.body, /value="ctkip" required checked/);
    assert.match(edit.body, /name="activationLifetimeDays" type="number" value="7"/);
    const changed = await admin.post(`/console/profiles/${encodeURIComponent('Old iPhones')}/edit`, {
      deviceType: 'ios',
      tokenType: 'securid',
      appVersion: '2.0',
      delivery: 'qr',
      digits: '8',
      period: '60',
      pinMode: 'none',
      activationLifetimeDays: '14',
      description: '',
    });
    assert.equal(changed.statusCode, 303);
    const after = await tally.services.profiles.get(systemActor, 'Old iPhones');
    assert.deepEqual(
      [after.appVersion, after.delivery, after.pinMode, after.description, after.selfService, after.mailCtkipUrl],
      ['2.0', 'qr', 'none', null, false, false],
    );
    assert.match(text((await admin.get('/console/audit?action=profile.*')).body), /profile\.update.*Old iPhones/);

    const duplicate = await admin.post('/console/profiles/new', {
      name: 'Old iPhones',
      deviceType: 'authenticator',
      tokenType: 'totp',
      delivery: 'qr',
      activationLifetimeDays: '14',
    });
    assert.equal(duplicate.statusCode, 409);
    assert.match(duplicate.body, /value="Old iPhones"/);
  });

  test('the capability table: see it, and add a device that the editor then offers', async () => {
    const table = await helpdesk.get('/console/devices');
    assert.match(text(table.body), /RSA SecurID Software Token for Windows.*the Windows app has no QR option, since a desktop cannot scan/);
    await admin.get('/console/devices');
    const saved = await admin.post('/console/devices', {
      deviceType: 'yubico',
      label: 'Yubico Authenticator',
      tokenTypes: 'totp',
      versions: '*: qr, file',
      notes: 'ctkip: it does not speak CT-KIP',
    });
    assert.equal(saved.statusCode, 303);
    const editor = await admin.get('/console/profiles/new?deviceType=yubico&tokenType=totp');
    assert.match(text(editor.body), /For Yubico Authenticator · TOTP tokens/);
    assert.match(text(editor.body), /CT-KIP Not offered Not possible: it does not speak CT-KIP/);
    await admin.get('/console/devices');
    const bad = await admin.post('/console/devices', { deviceType: 'bad', label: 'Bad', tokenTypes: 'totp', versions: 'latest: qr' });
    assert.equal(bad.statusCode, 400);
    assert.match(text(bad.body), /versions keys are major versions or \*/);
  });

  test('distribute by serial, download the file once, reissue: the audit names the admin for each', async () => {
    await admin.get('/console/tokens/generate');
    const generated = await admin.post('/console/tokens/generate', { profile: PROFILES.desktop.name, count: '2' });
    assert.match(text(generated.body), /2 token\(s\) generated/);
    const serial = /href="\/console\/tokens\/([A-Z0-9]+)"/.exec(generated.body)![1]!;
    const assigned = await act(admin, `/console/tokens/${serial}`, `/console/tokens/${serial}/assign`, { username: 'dave' });
    assert.equal(assigned.statusCode, 200);
    assert.match(text(assigned.body), /This is shown only once.*Token assigned.*Download link.*File password/);
    const password = /id="file-password" class="secret secret-large">([^<]+)</.exec(assigned.body)![1]!;
    const download = await admin.post(`/console/tokens/${serial}/download`);
    assert.equal(download.statusCode, 200);
    assert.match(String(download.headers['content-disposition']), /attachment/);
    assert.equal(firstItem(readTokenFile(download.rawPayload, password).candidates).serial, serial);
    assert.equal((await tokenRow(serial)).state, 'active');
    const again = await admin.post(`/console/tokens/${serial}/download`);
    assert.equal(again.statusCode, 410);
    assert.match(text(again.body), /has no file waiting to be downloaded/);

    const unconfirmed = await act(admin, `/console/tokens/${serial}`, `/console/tokens/${serial}/reissue`);
    assert.equal(unconfirmed.statusCode, 400, 'reissuing the token in use asks first');
    assert.match(text(unconfirmed.body), /Tick the box to confirm: the token in use, or the code or link waiting, stops working/);
    assert.equal((await tokenRow(serial)).state, 'active', 'nothing changed');
    const reissued = await act(admin, `/console/tokens/${serial}`, `/console/tokens/${serial}/reissue`, { confirm: 'yes' });
    assert.match(text(reissued.body), /Token reissued.*dave.*Download link/);
    assert.equal((await tokenRow(serial)).state, 'pending');

    const audit = await admin.get(`/console/audit?serial=${serial}`);
    const rows = [...audit.body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => text(m[1]!));
    for (const action of ['token.assign', 'token.download', 'token.reissue']) {
      assert.ok(
        rows.some((row) => row.includes(`admin (console) ${action}`) && row.includes('Success')),
        action,
      );
    }
    assert.ok(rows.some((row) => row.includes('token.download') && row.includes('Failure') && row.includes('DOWNLOAD_LINK_INVALID')));
    assert.match(text((await admin.get(`/console/tokens/${serial}`)).body), /History.*admin \(console\) token\.reissue/);

    const unknown = await act(
      admin,
      `/console/tokens/${/href="\/console\/tokens\/([A-Z0-9]+)"/.exec(generated.body.slice(generated.body.indexOf(serial) + serial.length))![1]!}`,
      '/console/tokens/NOPE/assign',
      { username: 'x' },
    );
    assert.equal(unknown.statusCode, 404);
  });

  test('token actions: disable and enable, lost with an emergency code shown once, resync, reset PIN, clear, unassign, delete', async () => {
    const serial = await activeToken('erin');
    const page = `/console/tokens/${serial}`;
    const disableUnconfirmed = await act(helpdesk, page, `${page}/disable`);
    assert.equal(disableUnconfirmed.statusCode, 400, 'disabling a token in use asks first');
    assert.match(text(disableUnconfirmed.body), /Tick the box to confirm the token is to stop authenticating/);
    assert.equal((await tokenRow(serial)).state, 'active', 'nothing changed');
    assert.equal((await act(helpdesk, page, `${page}/disable`, { confirm: 'yes' })).headers.location, `${page}?notice=token-disabled`);
    assert.equal((await tokenRow(serial)).state, 'disabled');
    assert.equal((await act(helpdesk, page, `${page}/enable`)).statusCode, 303);

    const lost = await act(helpdesk, page, `${page}/lost`, { emergency: 'one-time', days: '3' });
    assert.equal(lost.statusCode, 200);
    const code = /id="emergency-code" class="secret secret-large">(\d{8})</.exec(lost.body)![1]!;
    assert.equal(
      (await tally.services.authentication.verify(systemActor, { username: 'erin', passcode: code, channel: 'rest' })).result,
      'accept',
    );
    assert.doesNotMatch((await helpdesk.get(page)).body, new RegExp(code), 'shown once');
    assert.equal((await act(helpdesk, page, `${page}/enable`)).statusCode, 303);

    tally.clock.advance(300);
    const resynced = await act(helpdesk, page, `${page}/resync`, { code1: await codeAt(serial, 40), code2: await codeAt(serial, 41) });
    assert.equal(resynced.headers.location, `${page}?notice=token-resynced`);
    const wrong = await act(helpdesk, page, `${page}/resync`, { code1: '000000', code2: '111111' });
    assert.equal(wrong.statusCode, 400);
    assert.match(text(wrong.body), /not consecutive codes/);

    for (let i = 0; i < 3; i++)
      await tally.services.authentication.verify(systemActor, { username: 'erin', passcode: '999999', channel: 'rest' });
    assert.match(text((await helpdesk.get(page)).body), /3 wrong passcode\(s\) in a row/);
    assert.equal((await helpdesk.post(`${page}/unlock`)).headers.location, `${page}?notice=token-unlocked`);
    assert.equal((await tokenRow(serial)).failed_count, 0);

    const pinToken = await distributed('erin', PROFILES.pin.name);
    await tally.store.db.updateTable('tokens').set({ new_pin_required: 0 }).where('serial', '=', pinToken).execute();
    assert.equal((await act(helpdesk, `/console/tokens/${pinToken}`, `/console/tokens/${pinToken}/reset-pin`)).statusCode, 303);
    assert.equal((await tokenRow(pinToken)).new_pin_required, 1);

    const ctkip = await distributed('erin', PROFILES.ctkip.name);
    await tally.store.db
      .updateTable('distributions')
      .set({ failed_attempts: 3 })
      .where('token_id', '=', (await tokenRow(ctkip)).id)
      .execute();
    assert.match(text((await helpdesk.get(`/console/tokens/${ctkip}`)).body), /3 wrong activation code/);
    assert.equal((await helpdesk.post(`/console/tokens/${ctkip}/reset-activation`)).statusCode, 303);

    const unconfirmed = await act(helpdesk, page, `${page}/unassign`, {});
    assert.equal(unconfirmed.statusCode, 400);
    assert.equal((await act(helpdesk, page, `${page}/unassign`, { confirm: 'yes' })).statusCode, 303);
    const back = await tokenRow(serial);
    assert.deepEqual(
      [back.state, back.user_id, back.seed_sealed, back.last_step],
      ['unassigned', null, null, null],
      'a generated token leaves without its seed',
    );

    assert.equal((await act(admin, page, `${page}/delete`, { confirm: 'yes' })).headers.location, '/console/tokens?notice=token-deleted');
    assert.equal(await getStore().db.selectFrom('tokens').select('id').where('serial', '=', serial).executeTakeFirst(), undefined);
    assert.match(text((await admin.get(`/console/audit?serial=${serial}`)).body), /token\.delete.*token\.unassign/, 'its history stays');
  });

  test('token search by serial, user, state and type', async () => {
    const serial = await distributed('bob', PROFILES.ctkip.name);
    const bySerial = await helpdesk.get(`/console/tokens?serial=${serial.slice(0, 6)}`);
    assert.match(text(bySerial.body), new RegExp(serial));
    const byUser = text(
      /<tbody>([\s\S]*)<\/tbody>/.exec((await helpdesk.get('/console/tokens?username=bob&state=pending&type=securid')).body)![1]!,
    );
    assert.match(byUser, new RegExp(`${serial} SecurID Pending activation bob`));
    assert.doesNotMatch(byUser, /TOTP|Active/);
    const unknown = await helpdesk.get('/console/tokens?username=nobody');
    assert.equal(unknown.statusCode, 404);
    assert.match(text(unknown.body), /No user named nobody/);
  });

  test('bulk distribution: a list in, a token per user out, a report per user; CTF profiles are not offered', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `bulk${i}`);
    for (const username of names) await tally.services.users.create(systemActor, { username });
    const form = await helpdesk.get('/console/bulk');
    assert.match(text(form.body), /Not offered: SecurID CTF/);
    const started = await postMultipart(
      tally.admin,
      helpdesk,
      '/console/bulk',
      { profile: PROFILES.phone.name, usernames: `${names.slice(0, 6).join('\n')}\nghost\nbulk0` },
      { name: 'more.csv', content: `username,name\n${names.slice(6).join(',x\n')},x\n` },
    );
    assert.equal(started.statusCode, 303);
    const id = /\/console\/bulk\/(\d+)$/.exec(String(started.headers.location))![1]!;
    await tally.services.bulk.idle();
    const report = await helpdesk.get(`/console/bulk/${id}`);
    assert.equal(report.headers.refresh, undefined, 'a finished run does not refresh');
    assert.match(text(report.body), /Finished: 12 distributed, 1 failed, of 13\./);
    assert.match(text(report.body), /7 ghost Failed No user named ghost\./);
    const failures = await helpdesk.get(`/console/bulk/${id}?result=failed`);
    assert.equal([...failures.body.matchAll(/<tr>/g)].length - 1, 1);
    for (const username of names)
      assert.equal((await tally.services.tokens.list(systemActor, { username, limit: 5, offset: 0 })).length, 1, username);
    assert.match(
      text((await admin.get('/console/audit?action=token.bulk.*')).body),
      /hilda \(console\) token\.bulk\.finish.*hilda \(console\) token\.bulk\.start/,
    );

    const ctf = await postMultipart(tally.admin, admin, '/console/bulk', { profile: PROFILES.ctf.name, usernames: 'bulk0' });
    assert.equal(ctf.statusCode, 400);
    assert.match(text(ctf.body), /shown only to whoever distributes it/);
    const empty = await postMultipart(tally.admin, admin, '/console/bulk', { profile: PROFILES.phone.name, usernames: '\n# nobody\n' });
    assert.match(text(empty.body), /The list has no usernames/);
  });

  test('a running bulk distribution refreshes its page; an interrupted one can be resumed', async () => {
    const repository = new BulkDistributionRepository(getStore().db);
    await tally.services.users.create(systemActor, { username: 'late1' });
    const running = await repository.create({
      profile: PROFILES.phone.name,
      createdBy: 'admin',
      usernames: ['late1'],
      now: tally.clock.now(),
    });
    const page = await admin.get(`/console/bulk/${running.id}`);
    assert.equal(page.headers.refresh, '2');
    assert.match(text(page.body), /Running: 0 of 1 done/);
    assert.equal((await admin.post(`/console/bulk/${running.id}/resume`)).statusCode, 409, 'a run that moves is not taken over');

    tally.clock.advance(3 * 60);
    const interrupted = await admin.get(`/console/bulk/${running.id}`);
    assert.match(text(interrupted.body), /Interrupted after 0 of 1/);
    assert.equal((await admin.post(`/console/bulk/${running.id}/resume`)).statusCode, 303);
    await tally.services.bulk.idle();
    assert.match(text((await admin.get(`/console/bulk/${running.id}`)).body), /Finished: 1 distributed, 0 failed/);
  });

  test('requests: approve distributes and shows what to hand over; reject records the reason the user reads', async () => {
    const carolActor = { kind: 'user' as const, name: 'carol', role: 'user' as const };
    const waiting = await tally.services.requests.request(carolActor, PROFILES.approval.name);
    assert.equal(waiting.outcome, 'waiting');
    const id = waiting.outcome === 'waiting' ? waiting.request.id : 0;
    const list = await helpdesk.get('/console/requests');
    assert.match(text(list.body), new RegExp(`${id} carol Contractor phone .* Waiting Approve`));
    const approved = await helpdesk.post(`/console/requests/${id}/approve`);
    assert.equal(approved.statusCode, 200);
    assert.match(text(approved.body), new RegExp(`Request ${id} approved.*carol.*Self-Service Console`));
    const again = await act(helpdesk, '/console/requests', `/console/requests/${id}/approve`);
    assert.equal(again.statusCode, 409);
    assert.match(text(again.body), /decided already/);

    await tally.services.requests.request({ kind: 'user', name: 'dave', role: 'user' }, PROFILES.approval.name);
    const pending = firstItem(await tally.services.requests.list(systemActor, { state: 'pending', limit: 5, offset: 0 }));
    await admin.get('/console/requests');
    const rejected = await admin.post(`/console/requests/${pending.id}/reject`, { reason: 'Contractors get hardware tokens.' });
    assert.equal(rejected.headers.location, '/console/requests?notice=request-rejected');
    const decided = await admin.get('/console/requests?state=rejected');
    assert.match(text(decided.body), /dave Contractor phone .* Rejected admin, .*Reason: Contractors get hardware tokens\./);
  });

  test('audit: filters by user, admin, serial, action (or prefix), result and days; pages; CSV export that is itself audited', async () => {
    const serial = await distributed('frank', PROFILES.phone.name);
    await tally.services.authentication.verify(systemActor, { username: '=HYPERLINK("http://evil")', passcode: '1', channel: 'rest' });
    const byAdmin = text((await helpdesk.get('/console/audit?actor=hilda&action=token.*')).body);
    assert.match(byAdmin, /hilda \(console\) token\./);
    assert.doesNotMatch(byAdmin, /admin console|system system/);
    const failures = text(
      /<tbody>([\s\S]*)<\/tbody>/.exec((await helpdesk.get('/console/audit?result=failure&action=auth.rest')).body)![1]!,
    );
    assert.match(failures, /auth\.rest/);
    assert.doesNotMatch(failures, /Success/);
    const onUser = text((await helpdesk.get('/console/audit?user=frank')).body);
    assert.match(onUser, /token\.distribute frank/);
    const today = new Date(tally.clock.now()).toISOString().slice(0, 10);
    assert.match(text((await helpdesk.get(`/console/audit?serial=${serial}&since=${today}&until=${today}`)).body), /token\.distribute/);
    assert.match(text((await helpdesk.get(`/console/audit?serial=${serial}&since=2000-01-01&until=2000-01-02`)).body), /No events match/);
    const badDay = await helpdesk.get('/console/audit?since=yesterday');
    assert.equal(badDay.statusCode, 400);

    const first = await helpdesk.get('/console/audit');
    const older = /href="(\/console\/audit\?before=\d+)"/.exec(first.body);
    assert.ok(older, 'more than a page of events');
    assert.equal((await helpdesk.get(item(older, 1).replace(/&amp;/g, '&'))).statusCode, 200);

    const exported = await helpdesk.get(`/console/audit/export?action=auth.rest&result=failure`);
    assert.equal(exported.statusCode, 200);
    assert.match(String(exported.headers['content-type']), /text\/csv/);
    assert.match(String(exported.headers['content-disposition']), /attachment; filename="tally-audit.csv"/);
    const lines = exported.body.trim().split('\r\n');
    assert.equal(lines[0], 'id,at,actorType,actor,action,targetType,target,result,source,details,requestId');
    assert.ok(lines.slice(1).every((line) => line.includes(',auth.rest,') && line.includes(',failure,')));
    assert.ok(
      lines.some((line) => line.includes(`"'=HYPERLINK(""http://evil"")"`)),
      'a would-be formula stays text',
    );
    const audited = await tally.services.audit.list(systemActor, { action: 'audit.export', limit: 1 });
    assert.deepEqual(
      [firstItem(audited).actor, firstItem(audited).details],
      ['hilda', { action: 'auth.rest', result: 'failure', rows: lines.length - 1 }],
    );
  });

  test('the dashboard counts users, tokens by state, requests, authentications and failures of 24 h, and tokens expiring within 30 days', async () => {
    await tally.services.profiles.create(systemActor, {
      name: 'Short-lived',
      tokenType: 'totp',
      deviceType: 'authenticator',
      delivery: 'qr',
      tokenLifetimeDays: 10,
    });
    const soon = await distributed('alice', 'Short-lived');
    const summary = await tally.services.dashboard.summary(systemActor);
    const tokens = await getStore().db.selectFrom('tokens').select('state').execute();
    assert.equal(summary.tokens.total, tokens.length);
    assert.equal(summary.tokens.pending, tokens.filter((t) => t.state === 'pending').length);
    assert.equal(
      summary.users.total,
      Number(
        (
          await getStore()
            .db.selectFrom('users')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    );
    assert.equal(summary.expiring.count, 1);
    assert.equal(firstItem(summary.expiring.first).serial, soon);
    const audited = await tally.services.audit.list(systemActor, {
      action: 'auth.*',
      since: tally.clock.now() - 86_400_000 + 3_600_000,
      limit: 1000,
    });
    assert.equal(summary.authentications.succeeded + summary.authentications.failed >= audited.length, true);
    assert.equal(summary.authentications.hours.length, 24);
    const page = text((await helpdesk.get('/console')).body);
    assert.match(page, new RegExp(`${summary.users.total} Users`));
    assert.match(page, new RegExp(`${summary.tokens.pending} Pending activation`));
    assert.match(page, new RegExp(`${summary.authentications.failed} Failures, 24 h`));
    assert.match(page, new RegExp(`1 Expiring within 30 days.*${soon} alice`));
    assert.deepEqual(summary.mailOutbox, { queued: 0, failed: 0 });
    assert.match(page, /0 Mails given up 0 waiting to be sent/);
    assert.match((await helpdesk.get('/console')).body, /<svg viewBox="0 0 720 200" role="img"/);
  });

  test('settings: RADIUS clients and API tokens (shown once, revocable), and the CT-KIP key', async () => {
    await admin.get('/console/settings');
    const added = await admin.post('/console/settings/radius-clients', {
      name: 'vpn',
      address: '10.0.0.0/24',
      secret: 'a-long-shared-secret',
      requireMessageAuthenticator: 'yes',
    });
    assert.equal(added.headers.location, '/console/settings?notice=radius-client-added');
    const page = await admin.get('/console/settings');
    assert.match(text(page.body), /vpn 10\.0\.0\.0\/24 Required/);
    assert.doesNotMatch(page.body, /a-long-shared-secret/);
    const short = await admin.post('/console/settings/radius-clients', { name: 'x', address: '10.0.0.9', secret: 'short' });
    assert.equal(short.statusCode, 400);
    assert.match(text(short.body), /secret must be 8 to 128 characters/);
    await admin.get('/console/settings');
    assert.equal((await admin.post('/console/settings/radius-clients/remove', { name: 'vpn' })).statusCode, 303);
    assert.deepEqual(await tally.services.radiusClients.list(systemActor), []);

    await admin.get('/console/settings');
    const created = await admin.post('/console/settings/api-tokens', { name: 'vpn-agent', role: 'agent' });
    const token = /id="api-token" class="secret secret-wrap">(tly_[^<]+)</.exec(created.body)![1]!;
    const verify = () =>
      tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(token),
        payload: { username: 'alice', passcode: '1' },
      });
    assert.equal((await verify()).statusCode, 200);
    const listed = await admin.get('/console/settings');
    assert.doesNotMatch(listed.body, new RegExp(token), 'the token is not shown again');
    const id = (await tally.services.apiTokens.list(systemActor)).find((t) => t.name === 'vpn-agent')!.id;
    assert.equal((await admin.post(`/console/settings/api-tokens/${id}/revoke`)).statusCode, 303);
    assert.equal((await verify()).statusCode, 401);

    const keys = async () => (await getStore().db.selectFrom('ctkip_server_keys').select('id').execute()).length;
    const before = await keys();
    await admin.get('/console/settings');
    assert.equal((await admin.post('/console/settings/ctkip-key')).headers.location, '/console/settings?notice=ctkip-key-rotated');
    assert.equal(await keys(), before + 1);
  });

  test('multipart is read only by upload routes, after the session and the form token; over the limits 413, elsewhere 415; never a 500, never the body in the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logged = await buildAdminApp(tally.services, {
      logger: createLogger('debug', sink),
      readiness: readyOn(getStore(), tally.keyring),
    });
    const MARKER = 'PART-MARKER-7f3a';
    const multipart = (parts: { name: string; value: string | Buffer; fileName?: string }[]) => {
      const boundary = '----tallytestboundary';
      const chunks = parts.flatMap((part) => [
        Buffer.from(
          `--${boundary}\r\ncontent-disposition: form-data; name="${part.name}"${part.fileName ? `; filename="${part.fileName}"\r\ncontent-type: application/octet-stream` : ''}\r\n\r\n`,
        ),
        Buffer.from(part.value),
        Buffer.from('\r\n'),
      ]);
      return {
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, accept: 'text/html' },
        payload: Buffer.concat([...chunks, Buffer.from(`--${boundary}--\r\n`)]),
      };
    };
    const huge = Buffer.alloc(17 * 1024 * 1024, `${MARKER}\n`);
    try {
      const stranger = new WebClient(logged, nextAddress());
      await stranger.get('/console');
      const token = formToken(stranger.lastBody)!;
      const cookie = [...stranger.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      const logOn = multipart([
        { name: '_csrf', value: token },
        { name: 'username', value: 'admin' },
        { name: 'file', value: huge, fileName: 'big.bin' },
      ]);
      const refused = await logged.inject({
        method: 'POST',
        url: '/console/logon',
        remoteAddress: '10.7.9.1',
        headers: { ...logOn.headers, cookie },
        payload: logOn.payload,
      });
      assert.equal(refused.statusCode, 415, refused.body.slice(0, 300));
      assert.match(pageText(refused.body), /UNSUPPORTED_MEDIA_TYPE/);
      const apiRefused = await logged.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: { ...bearer(tally.tokens.superadmin), 'content-type': logOn.headers['content-type'] },
        payload: logOn.payload,
      });
      assert.equal(apiRefused.statusCode, 415);
      assert.equal(apiRefused.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');

      const anonymousUpload = await logged.inject({
        method: 'POST',
        url: '/console/tokens/import',
        remoteAddress: '10.7.9.1',
        headers: { ...logOn.headers, cookie },
        payload: logOn.payload,
      });
      assert.equal(anonymousUpload.statusCode, 303, 'no session: sent to the log-on page before the body is read');

      const logged0n = await consoleClient(logged, 'admin', ADMIN_PASSWORD, nextAddress());
      await logged0n.get('/console/tokens/import');
      const big = await postMultipart(logged, logged0n, '/console/tokens/import', {}, { name: 'big.sdtid', content: huge });
      assert.equal(big.statusCode, 413, big.body.slice(0, 300));
      assert.match(pageText(big.body), /INPUT_TOO_LARGE/);
      const tooMany = await postMultipart(
        logged,
        logged0n,
        '/console/users/import',
        Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, 'x'])),
      );
      assert.equal(tooMany.statusCode, 413);

      const fileFirst = multipart([
        { name: 'file', value: readVector('securid/t1-6d-30s.sdtid'), fileName: 't1.sdtid' },
        { name: '_csrf', value: formToken(logged0n.lastBody)! },
      ]);
      const session = [...logged0n.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      const unchecked = await logged.inject({
        method: 'POST',
        url: '/console/tokens/import',
        remoteAddress: '10.7.9.2',
        headers: { ...fileFirst.headers, cookie: session },
        payload: fileFirst.payload,
      });
      assert.equal(unchecked.statusCode, 403, 'the form token must come before the file');
      assert.match(pageText(unchecked.body), /CSRF_FAILED/);
      await assert.rejects(tally.services.tokens.get(systemActor, '274153980626'), { code: 'TOKEN_NOT_FOUND' });
      const urlencoded = await logged.inject({
        method: 'POST',
        url: '/console/tokens/import',
        remoteAddress: '10.7.9.2',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie: session },
        payload: `_csrf=${formToken(logged0n.lastBody)}`,
      });
      assert.equal(urlencoded.statusCode, 415, 'an upload route takes multipart only');

      const pskc = writePskc([
        {
          kind: 'totp',
          id: 'REST-MULTIPART',
          serial: 'REST-MULTIPART',
          secret: Buffer.alloc(20, 7),
          digits: 6,
          algorithm: 'SHA1',
          period: 30,
        },
      ]);
      const small = multipart([
        { name: 'file', value: pskc, fileName: 'one.pskcxml' },
        { name: 'replace', value: 'false' },
      ]);
      const restSmall = await logged.inject({
        method: 'POST',
        url: '/api/v1/tokens/import',
        headers: { ...bearer(tally.tokens.superadmin), 'content-type': small.headers['content-type'] },
        payload: small.payload,
      });
      assert.equal(restSmall.statusCode, 200, restSmall.body);
      assert.equal(restSmall.json().imported, 1, 'the REST upload route still takes a file');
      const rest = multipart([{ name: 'file', value: huge, fileName: 'big.pskc' }]);
      const restBig = await logged.inject({
        method: 'POST',
        url: '/api/v1/tokens/import',
        headers: { ...bearer(tally.tokens.superadmin), 'content-type': rest.headers['content-type'] },
        payload: rest.payload,
      });
      assert.equal(restBig.statusCode, 413);
      assert.equal(restBig.json().error.code, 'INPUT_TOO_LARGE');

      const log = lines.join('');
      assert.doesNotMatch(log, new RegExp(MARKER));
      assert.doesNotMatch(log, /"part":|"level":50/);
      assert.match(log, /"statusCode":415/);
      assert.match(log, /"statusCode":413/);
    } finally {
      await logged.close();
    }
  });

  test('import a token file from the console, with its report; a bad file imports nothing', async () => {
    const vector = readVectorJson<{ serial: string; password?: string }>('securid/t3-6d-60s-password.json');
    const file = { name: 't3.sdtid', content: Buffer.from(readVector('securid/t3-6d-60s-password.sdtid')) };
    await admin.get('/console/tokens/import');
    const wrong = await postMultipart(tally.admin, admin, '/console/tokens/import', { password: 'not-it' }, file);
    assert.equal(wrong.statusCode, 400);
    assert.match(text(wrong.body), /password is wrong/);
    const imported = await postMultipart(tally.admin, admin, '/console/tokens/import', { password: vector.password! }, file);
    assert.equal(imported.statusCode, 200);
    assert.match(text(imported.body), new RegExp(`SDTID file: 1 imported, 0 replaced, 0 refused.*${vector.serial} securid Imported`));
    const again = await postMultipart(tally.admin, admin, '/console/tokens/import', { password: vector.password! }, file);
    assert.match(text(again.body), /0 imported, 0 replaced, 1 refused.*exists already/);
    const replaced = await postMultipart(
      tally.admin,
      admin,
      '/console/tokens/import',
      { password: vector.password!, replace: 'yes' },
      file,
    );
    assert.match(text(replaced.body), /0 imported, 1 replaced/);
    const doctype = await postMultipart(
      tally.admin,
      admin,
      '/console/tokens/import',
      {},
      { name: 'bad.xml', content: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><TKNBatch/>' },
    );
    assert.equal(doctype.statusCode, 400);
    const none = await postMultipart(tally.admin, admin, '/console/tokens/import', {});
    assert.match(text(none.body), /Choose a token file/);
    const pskc = writePskc([
      {
        kind: 'totp',
        id: 'CONSOLE-SIGNED',
        serial: 'CONSOLE-SIGNED',
        secret: Buffer.alloc(20, 5),
        digits: 6,
        algorithm: 'SHA1',
        period: 30,
      },
    ]);
    const signedFile = {
      name: 'signed.pskcxml',
      content: Buffer.from(
        pskc.replace(/<\/(\w+:)?KeyContainer>\s*$/, (end) => `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>${end}`),
      ),
    };
    const signed = await postMultipart(tally.admin, admin, '/console/tokens/import', {}, signedFile);
    assert.equal(signed.statusCode, 200);
    assert.match(
      signed.body,
      /<div class="notice notice-warning" role="status">The file carries an XML signature, which Tally does not check/,
    );
    assert.doesNotMatch(imported.body, /XML signature/);

    const assigned = await act(admin, `/console/tokens/${vector.serial}`, `/console/tokens/${vector.serial}/assign`, { username: 'bob' });
    assert.match(text(assigned.body), /Token assigned.*active at once/);
    assert.equal((await tokenRow(vector.serial)).state, 'active');
    assert.equal(
      (await act(admin, `/console/tokens/${vector.serial}`, `/console/tokens/${vector.serial}/unassign`, { confirm: 'yes' })).statusCode,
      303,
    );
    const shelved = await tokenRow(vector.serial);
    assert.deepEqual([shelved.state, shelved.user_id], ['unassigned', null]);
    assert.notEqual(shelved.seed_sealed, null, 'an imported token keeps its seed');
  });
});
