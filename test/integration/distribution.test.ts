import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import QRCode from 'qrcode';
import { parseOtpauthUri } from '../../src/core/otp/otpauth.js';
import { totp } from '../../src/core/otp/totp.js';
import type { Actor } from '../../src/domain/actor.js';
import { buildPublicApp } from '../../src/http/public/app.js';
import { createLogger } from '../../src/logger.js';
import { tokenType } from '../../src/tokens/registry.js';
import { activate as ctkipActivate } from '../support/ctkip.js';
import { firstItem, item } from '../support/items.js';
import { interopTest, runPeer } from '../support/peers.js';
import { describeEachStore } from '../support/store.js';
import { allowTokensPerUser, bearer, createTestTally, type TestTally } from '../support/tally.js';
import { readVector } from '../support/vectors.js';

const PROFILES = {
  authenticatorQr: { name: 'Phone app (QR)', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true },
  authenticatorFile: {
    name: 'Authenticator PSKC',
    tokenType: 'totp',
    deviceType: 'tally-cli',
    delivery: 'file',
    filePasswordPolicy: 'generated',
  },
  hotpFile: { name: 'HOTP PSKC', tokenType: 'hotp', deviceType: 'tally-cli', delivery: 'file', digits: 8 },
  androidQr: { name: 'SecurID Android 2.x (QR)', tokenType: 'securid', deviceType: 'android', appVersion: '2.5', delivery: 'qr' },
  windowsFile: {
    name: 'SecurID desktop (sdtid)',
    tokenType: 'securid',
    deviceType: 'windows',
    delivery: 'file',
    filePasswordPolicy: 'admin',
    filePassword: 'desk-top-pass',
  },
  ctf: { name: 'SecurID CTF', tokenType: 'securid', deviceType: 'android', appVersion: '1.3', delivery: 'ctf', digits: 6, period: 30 },
  ctkip: { name: 'SecurID CT-KIP', tokenType: 'securid', deviceType: 'ios', appVersion: '2.0', delivery: 'ctkip' },
} as const;

describeEachStore('profiles and distribution', (getStore) => {
  let tally: TestTally;
  const home = mkdtempSync(join(tmpdir(), 'tally-dist-'));
  const stokenEnv = { ...process.env, HOME: home };
  before(async () => {
    tally = await createTestTally(getStore());
    // More than RSA's default of 3 tokens per user: alice, bob and carol get a token of each delivery and more, across the tests.
    await allowTokensPerUser(tally, 20);
    for (const username of ['alice', 'bob', 'carol']) {
      const created = await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: bearer(tally.tokens.superadmin),
        payload: { username, password: `${username}-password` },
      });
      assert.equal(created.statusCode, 201);
    }
  });
  after(async () => tally.close());

  const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  const tokenCount = async () =>
    Number(
      (
        await getStore()
          .db.selectFrom('tokens')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const holder = (username: string): Actor => ({ kind: 'user', name: username, role: 'user' });
  const codeNow = async (serial: string, offsetSteps = 0) => {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    const material = tally.services.tokens.material(row);
    return tokenType(row.token_type).codeAt(material, Math.floor(tally.clock.now() / 1000 / row.period) + offsetSteps);
  };

  test('profiles for the five deliveries are created; the capability table refuses what a device cannot take', async () => {
    for (const profile of Object.values(PROFILES)) {
      const response = await api('POST', '/api/v1/profiles', profile);
      assert.equal(response.statusCode, 201, response.body);
      assert.doesNotMatch(response.body, /desk-top-pass/);
    }
    const refusals: [object, RegExp][] = [
      [
        { name: 'x1', tokenType: 'securid', deviceType: 'android', appVersion: '1.0', delivery: 'qr' },
        /1\.x for Android cannot scan QR codes.*it can take ctkip, ctf/,
      ],
      [{ name: 'x2', tokenType: 'securid', deviceType: 'ios', appVersion: '1.3', delivery: 'qr' }, /1\.x for iOS cannot scan/],
      [
        { name: 'x3', tokenType: 'securid', deviceType: 'windows', delivery: 'qr' },
        /^Delivery "qr" is not possible: the Windows app has no QR option, since a desktop cannot scan a QR code; it can take ctkip, file, ctf\.$/,
      ],
      [{ name: 'x4', tokenType: 'totp', deviceType: 'authenticator', delivery: 'ctkip' }, /do not speak CT-KIP.*it can take qr\./],
      [{ name: 'x5', tokenType: 'totp', deviceType: 'authenticator', delivery: 'file' }, /import neither PSKC nor sdtid files/],
      // No app version: every version, and the 1.x apps cannot scan.
      [
        { name: 'x6', tokenType: 'securid', deviceType: 'android', delivery: 'qr' },
        /1\.x for Android cannot scan QR codes.*it can take ctkip, ctf/,
      ],
    ];
    for (const [profile, message] of refusals) {
      const response = await api('POST', '/api/v1/profiles', profile);
      assert.equal(response.statusCode, 422, response.body);
      assert.equal(response.json().error.code, 'DELIVERY_NOT_SUPPORTED');
      assert.match(response.json().error.message, message);
    }
    const wrongType = await api('POST', '/api/v1/profiles', {
      name: 'x5',
      tokenType: 'securid',
      deviceType: 'authenticator',
      delivery: 'qr',
    });
    assert.equal(wrongType.json().error.code, 'VALIDATION_FAILED');
    assert.match(wrongType.json().error.message, /does not take securid tokens/);
    const unknownDevice = await api('POST', '/api/v1/profiles', { name: 'x6', tokenType: 'totp', deviceType: 'pager', delivery: 'qr' });
    assert.equal(unknownDevice.json().error.code, 'DEVICE_TYPE_NOT_FOUND');
    const duplicate = await api('POST', '/api/v1/profiles', PROFILES.ctkip);
    assert.equal(duplicate.json().error.code, 'PROFILE_EXISTS');
    const helpdesk = await api('POST', '/api/v1/profiles', { ...PROFILES.ctkip, name: 'hd' }, tally.tokens.helpdesk);
    assert.equal(helpdesk.statusCode, 403);
    const warned = await api('POST', '/api/v1/profiles', {
      name: 'SHA256 app',
      tokenType: 'totp',
      deviceType: 'authenticator',
      delivery: 'qr',
      algorithm: 'SHA256',
    });
    assert.match(warned.json().warnings[0], /Google Authenticator ignores/);
  });

  test('admins add a device definition without a code change', async () => {
    const put = await api('PUT', '/api/v1/device-types/yubikey-otp', {
      label: 'Hardware OATH key',
      tokenTypes: ['hotp'],
      versions: { '*': ['file'] },
      notes: { qr: 'a key has no camera' },
    });
    assert.equal(put.statusCode, 200, put.body);
    const listed = (await api('GET', '/api/v1/device-types')).json().deviceTypes.map((d: { deviceType: string }) => d.deviceType);
    assert.ok(listed.includes('yubikey-otp') && listed.includes('android'));
    const qr = await api('POST', '/api/v1/profiles', { name: 'key qr', tokenType: 'hotp', deviceType: 'yubikey-otp', delivery: 'qr' });
    assert.match(qr.json().error.message, /a key has no camera/);
    assert.equal(
      (await api('POST', '/api/v1/profiles', { name: 'key file', tokenType: 'hotp', deviceType: 'yubikey-otp', delivery: 'file' }))
        .statusCode,
      201,
    );
  });

  test('CT-KIP: a URL under the public URL, a 12-digit one-time code and an app link; no seed yet', async () => {
    const response = await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.ctkip.name });
    assert.equal(response.statusCode, 201, response.body);
    const result = response.json();
    assert.equal(result.delivery, 'ctkip');
    assert.equal(result.state, 'pending');
    assert.equal(result.ctkipUrl, 'http://localhost:8080/ctkip/services/CtkipService');
    assert.match(result.activationCode, /^\d{12}$/);
    assert.equal(
      result.appLink,
      `com.rsa.securid://ctkip?scheme=http&url=localhost:8080/ctkip/services/CtkipService&activationCode=${result.activationCode}`,
    );
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', result.serial).executeTakeFirstOrThrow();
    assert.equal(row.seed_sealed, null);
    const distribution = await getStore()
      .db.selectFrom('distributions')
      .selectAll()
      .where('token_id', '=', row.id)
      .executeTakeFirstOrThrow();
    assert.notEqual(distribution.secret_hash, null);
    assert.ok(!JSON.stringify(distribution).includes(result.activationCode), 'the code is stored only as a keyed hash');
    const audit = (await api('GET', `/api/v1/audit?serial=${result.serial}`)).json();
    assert.doesNotMatch(JSON.stringify(audit), new RegExp(result.activationCode));
  });

  interopTest('CTF: stoken reads the string and agrees on codes; the token is active at once', ['stoken'], async () => {
    const result = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.ctf.name })).json();
    assert.equal(result.state, 'active');
    assert.match(result.ctf, /^\d{81}$/);
    assert.match(result.appLink, /^http:\/\/127\.0\.0\.1\/securid\/ctf\?ctfData=/);
    const at = Math.floor(tally.clock.now() / 1000);
    for (const token of [result.ctf, result.appLink]) {
      const expected = runPeer('stoken', ['tokencode', '--token', token, `--use-time=${at}`, '--pin=0000', '-b'], {
        env: stokenEnv,
      }).trim();
      assert.equal(await codeNow(result.serial), expected);
    }
  });

  interopTest('file (sdtid): a one-time link; stoken reads the file with the admin-set password', ['stoken'], async () => {
    const result = (await api('POST', '/api/v1/users/carol/tokens', { profile: PROFILES.windowsFile.name })).json();
    assert.equal(result.state, 'pending');
    assert.equal(result.filePassword, 'desk-top-pass');
    const path = new URL(result.downloadUrl).pathname;
    const first = await tally.public.inject({ method: 'POST', url: path });
    assert.equal(first.statusCode, 200);
    assert.match(first.headers['content-disposition'] as string, /\.sdtid"/);
    const file = join(home, `${result.serial}.sdtid`);
    writeFileSync(file, first.body);
    const at = Math.floor(tally.clock.now() / 1000);
    const expected = runPeer('stoken', ['tokencode', '--file', file, '--password=desk-top-pass', `--use-time=${at}`, '--pin=0000', '-b'], {
      env: stokenEnv,
    }).trim();
    assert.equal(await codeNow(result.serial), expected);
    const second = await tally.public.inject({ method: 'POST', url: path });
    assert.equal(second.statusCode, 410);
    assert.equal(second.json().error.code, 'DOWNLOAD_LINK_INVALID');
    assert.equal((await api('GET', `/api/v1/tokens/${result.serial}`)).json().state, 'active');
    const audit = (await api('GET', `/api/v1/audit?serial=${result.serial}&action=token.download`)).json();
    assert.deepEqual(
      audit.events.map((e: { result: string }) => e.result),
      ['failure', 'success'],
    );
  });

  interopTest('file (PSKC): python3-pskc reads the generated-password file; oathtool agrees', ['pskc2csv', 'oathtool'], async () => {
    const result = (await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.authenticatorFile.name })).json();
    assert.match(result.filePassword, /^[A-Za-z0-9]{14}$/);
    const download = await api('POST', `/api/v1/tokens/${result.serial}/download`);
    assert.equal(download.statusCode, 200, download.body);
    const file = join(home, `${result.serial}.pskcxml`);
    writeFileSync(file, download.body);
    const csv = runPeer('pskc2csv', ['-p', result.filePassword, '-c', 'serial,secret,algorithm,response_length,time_interval', file])
      .trim()
      .split('\n');
    const [serial, secretHex = '', , digits, interval] = item(csv, 1).split(',');
    assert.equal(serial, result.serial);
    assert.equal(digits, '6');
    assert.equal(interval, '30');
    const at = Math.floor(tally.clock.now() / 1000);
    const expected = runPeer('oathtool', ['--totp', '-d', '6', '-N', `@${at}`, secretHex]).trim();
    assert.equal(await codeNow(result.serial), expected);
    const linkAfterAdmin = await tally.public.inject({ method: 'POST', url: new URL(result.downloadUrl).pathname });
    assert.equal(linkAfterAdmin.statusCode, 410, 'the admin download used the one download');
  });

  interopTest(
    "QR (authenticator): nothing secret for the admin; the holder's QR decodes with zbarimg, oathtool gives the code that confirms it",
    ['zbarimg', 'oathtool'],
    async () => {
      const result = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.authenticatorQr.name })).json();
      assert.deepEqual(Object.keys(result).sort(), ['delivery', 'expiresAt', 'serial', 'state', 'tokenType']);
      await assert.rejects(tally.services.distribution.activation(holder('alice'), result.serial), /No token with serial/);
      const activation = await tally.services.distribution.activation(holder('bob'), result.serial);
      assert.equal(activation.kind, 'otpauth');
      const png = join(home, `${result.serial}.png`);
      await QRCode.toFile(png, activation.kind === 'otpauth' ? activation.uri : '', { type: 'png' });
      const decoded = runPeer('zbarimg', ['-q', '--raw', png]).trim();
      const parsed = parseOtpauthUri(decoded);
      assert.equal(parsed.account, 'bob');
      assert.equal(parsed.issuer, 'Tally');
      const at = Math.floor(tally.clock.now() / 1000);
      const code = runPeer('oathtool', ['--totp', '-b', '-N', `@${at}`, decoded.match(/secret=([A-Z2-7]+)/)![1]!]).trim();
      await assert.rejects(
        tally.services.distribution.confirmFirstCode(holder('bob'), result.serial, code === '000000' ? '111111' : '000000'),
        /not right/,
      );
      const confirmed = await tally.services.distribution.confirmFirstCode(holder('bob'), result.serial, code);
      assert.equal(confirmed.state, 'active');
      await assert.rejects(tally.services.distribution.activation(holder('bob'), result.serial), /active and has nothing waiting/);
      assert.equal(totp({ secret: parsed.secret }, at), code);
    },
  );

  test('QR (SecurID Android 2.x): opening the activation shows the same sealed CT-KIP code and changes nothing; only a renew replaces it', async () => {
    const result = (await api('POST', '/api/v1/users/carol/tokens', { profile: PROFILES.androidQr.name })).json();
    assert.equal(result.activationCode, undefined);
    const row = () =>
      getStore()
        .db.selectFrom('distributions')
        .innerJoin('tokens', 'tokens.id', 'distributions.token_id')
        .select(['distributions.secret_hash', 'distributions.credential_sealed', 'distributions.failed_attempts'])
        .where('tokens.serial', '=', result.serial)
        .where('distributions.state', '=', 'open')
        .executeTakeFirstOrThrow();
    const before = await row();
    const first = await tally.services.distribution.activation(holder('carol'), result.serial);
    const second = await tally.services.distribution.activation(holder('carol'), result.serial);
    assert.equal(first.kind, 'ctkip');
    if (first.kind !== 'ctkip' || second.kind !== 'ctkip') return;
    assert.match(first.activationCode ?? '', /^\d{12}$/);
    assert.deepEqual(second, first, 'a reload shows the same code');
    assert.deepEqual(await row(), before, 'showing changed nothing in the store');
    assert.match(
      first.appLink ?? '',
      /^com\.rsa\.securid:\/\/ctkip\?scheme=http&url=localhost:8080\/ctkip\/services\/CtkipService&activationCode=\d{12}$/,
    );
    // Kept to be shown again, sealed under the master key: the code is not in the row in clear.
    assert.match(before.credential_sealed ?? '', /^v\d+\./);
    assert.doesNotMatch(before.credential_sealed ?? '', new RegExp(first.activationCode ?? 'none'));
    const renewed = await tally.services.distribution.activation(holder('carol'), result.serial, true);
    if (renewed.kind !== 'ctkip') return assert.fail('a CT-KIP activation');
    assert.notEqual(renewed.activationCode, first.activationCode);
    assert.deepEqual(
      await tally.services.distribution.activation(holder('carol'), result.serial),
      renewed,
      'the new code is shown from now on',
    );
    // Against the real exchange: the replaced code is refused, the new one activates the token.
    const app = tally.public;
    assert.match((await ctkipActivate(app, first.activationCode ?? '')).fault ?? '', /Invalid authorization code/);
    const activated = await ctkipActivate(app, renewed.activationCode ?? '');
    assert.equal(activated.fault, undefined);
    assert.equal(activated.token?.serial, result.serial);
  });

  test('the code an administrator phoned keeps working after the holder opened the Activate page', async () => {
    const result = (await api('POST', '/api/v1/users/carol/tokens', { profile: PROFILES.ctkip.name })).json();
    assert.match(result.activationCode, /^\d{12}$/);
    const shown = await tally.services.distribution.activation(holder('carol'), result.serial);
    assert.equal(
      shown.kind === 'ctkip' ? shown.activationCode : undefined,
      result.activationCode,
      'the holder sees the code the administrator was given',
    );
    const activated = await ctkipActivate(tally.public, result.activationCode);
    assert.equal(activated.fault, undefined);
    assert.equal(activated.token?.serial, result.serial);
  });

  test('by serial: unassigned tokens, assign distributes; a second assign is refused; imported tokens are active at once', async () => {
    const created = await api('POST', '/api/v1/tokens', { profile: PROFILES.ctkip.name, count: 2 });
    assert.equal(created.statusCode, 201, created.body);
    const createdTokens = created.json().tokens as { serial: string; state: string }[];
    const one = firstItem(createdTokens);
    const two = item(createdTokens, 1);
    assert.equal(one.state, 'unassigned');
    const assigned = (await api('POST', `/api/v1/tokens/${one.serial}/assign`, { username: 'alice' })).json();
    assert.equal(assigned.state, 'pending');
    assert.match(assigned.activationCode, /^\d{12}$/);
    const again = await api('POST', `/api/v1/tokens/${one.serial}/assign`, { username: 'bob' });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'TOKEN_STATE_INVALID');
    const parallel = await Promise.all(
      ['alice', 'bob', 'carol'].map((username) => api('POST', `/api/v1/tokens/${two.serial}/assign`, { username })),
    );
    assert.deepEqual(parallel.map((r) => r.statusCode).sort(), [200, 409, 409]);
    const imported = await api('POST', '/api/v1/tokens/import', {
      file: Buffer.from(readVector('securid/t1-6d-30s.sdtid')).toString('base64'),
    });
    assert.equal(imported.json().imported, 1);
    const active = (await api('POST', '/api/v1/tokens/274153980626/assign', { username: 'bob' })).json();
    assert.deepEqual(active, { serial: '274153980626', tokenType: 'securid', delivery: null, state: 'active', expiresAt: null });
    const bobs = (await api('GET', '/api/v1/users/bob/tokens')).json().tokens.map((t: { serial: string }) => t.serial);
    assert.ok(bobs.includes('274153980626'));
  });

  test('reissue: the old link and code stop working at once, the seed changes, and the audit shows both', async () => {
    const result = (await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.hotpFile.name })).json();
    const before = await getStore()
      .db.selectFrom('tokens')
      .select('seed_sealed')
      .where('serial', '=', result.serial)
      .executeTakeFirstOrThrow();
    const reissued = (await api('POST', `/api/v1/tokens/${result.serial}/reissue`)).json();
    assert.notEqual(reissued.downloadUrl, result.downloadUrl);
    const old = await tally.public.inject({ method: 'POST', url: new URL(result.downloadUrl).pathname });
    assert.equal(old.statusCode, 410);
    const fresh = await tally.public.inject({ method: 'POST', url: new URL(reissued.downloadUrl).pathname });
    assert.equal(fresh.statusCode, 200);
    const after = await getStore()
      .db.selectFrom('tokens')
      .select('seed_sealed')
      .where('serial', '=', result.serial)
      .executeTakeFirstOrThrow();
    assert.notEqual(after.seed_sealed, before.seed_sealed);
    const actions = (await api('GET', `/api/v1/audit?serial=${result.serial}`))
      .json()
      .events.map((e: { action: string; result: string; actor: string }) => `${e.action}:${e.result}:${e.actor}`);
    assert.deepEqual(actions, [
      'token.download:success:download link',
      'token.download:failure:download link',
      'token.reissue:success:test-superadmin',
      'credential.shown:success:test-superadmin',
      'token.distribute:success:test-superadmin',
      'credential.shown:success:test-superadmin',
      'token.distribute:success:test-superadmin',
    ]);
  });

  test('a one-time download link: HEAD and GET (a browser, a mail scanner) answer a page and use nothing; the Download button (POST) redeems it once', async () => {
    const result = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.hotpFile.name })).json();
    const path = new URL(result.downloadUrl).pathname;
    const token = path.split('/').pop()!;
    const head = await tally.public.inject({ method: 'HEAD', url: path });
    assert.equal(head.statusCode, 200);
    assert.match(head.headers['content-type'] as string, /^text\/html/);
    assert.equal(head.headers['content-disposition'], undefined);
    for (let i = 0; i < 2; i++) {
      const opened = await tally.public.inject({ method: 'GET', url: path, headers: { accept: 'text/html' } });
      assert.equal(opened.statusCode, 200);
      assert.equal(opened.headers['content-disposition'], undefined, 'a GET never hands out the file');
      assert.match(opened.body, new RegExp(`<form method="post" action="${token}">\\s*<button type="submit"[^>]*>Download</button>`));
      assert.doesNotMatch(opened.body, /PSKC|KeyContainer/);
    }
    assert.equal((await api('GET', `/api/v1/tokens/${result.serial}`)).json().state, 'pending', 'opening the link activates nothing');
    const audit = (await api('GET', `/api/v1/audit?serial=${result.serial}&action=token.download`)).json();
    assert.equal(audit.events.length, 0, 'opening the link is not a download attempt');
    const redeemed = await tally.public.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    });
    assert.equal(redeemed.statusCode, 200, redeemed.body);
    assert.match(redeemed.headers['content-disposition'] as string, /^attachment; filename=".*\.pskcxml"$/);
    assert.match(redeemed.body, /KeyContainer/);
    assert.equal((await api('GET', `/api/v1/tokens/${result.serial}`)).json().state, 'active');
    const again = await tally.public.inject({ method: 'POST', url: path });
    assert.equal(again.statusCode, 410);
    assert.equal(again.json().error.code, 'DOWNLOAD_LINK_INVALID');
    const reopened = await tally.public.inject({ method: 'GET', url: path, headers: { accept: 'text/html' } });
    assert.equal(reopened.statusCode, 410, 'a used link opens an error page, without a button');
    assert.doesNotMatch(reopened.body, /<button type="submit"[^>]*>Download</);
  });

  test("the request log never shows a download link's token: every line has /download/[redacted]", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logged = await buildPublicApp(tally.services, { logger: createLogger('info', sink) });
    try {
      const result = (await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.hotpFile.name })).json();
      const path = new URL(result.downloadUrl).pathname;
      const token = path.split('/').pop()!;
      assert.equal((await logged.inject({ method: 'GET', url: path })).statusCode, 200);
      assert.equal((await logged.inject({ method: 'HEAD', url: `${path}?utm=mail` })).statusCode, 200);
      assert.equal((await logged.inject({ method: 'POST', url: path })).statusCode, 200);
      assert.equal((await logged.inject({ method: 'POST', url: path })).statusCode, 410);
      const log = lines.join('');
      assert.ok(lines.length >= 8, log);
      assert.doesNotMatch(log, new RegExp(token));
      assert.equal(log.match(/"url":"\/download\/\[redacted\](\?utm=mail)?"/g)?.length, 4, log);
    } finally {
      await logged.close();
    }
  });

  test('concurrent redemptions of one download link: exactly one gets the file', async () => {
    const result = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.hotpFile.name })).json();
    const path = new URL(result.downloadUrl).pathname;
    const responses = await Promise.all(Array.from({ length: 8 }, () => tally.public.inject({ method: 'POST', url: path })));
    assert.deepEqual(responses.map((r) => r.statusCode).sort(), [200, 410, 410, 410, 410, 410, 410, 410]);
  });

  test('an expired link is refused', async () => {
    const result = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.hotpFile.name })).json();
    tally.clock.advance(15 * 86_400);
    const response = await tally.public.inject({ method: 'POST', url: new URL(result.downloadUrl).pathname });
    tally.clock.advance(-15 * 86_400);
    assert.equal(response.statusCode, 410);
  });

  test('bad input: unknown profile, unknown user, unknown serial, bad count; nothing half-created', async () => {
    const before = await tokenCount();
    const cases: [string, string, object, string][] = [
      ['POST', '/api/v1/users/alice/tokens', { profile: 'No such profile' }, 'PROFILE_NOT_FOUND'],
      ['POST', '/api/v1/users/nobody/tokens', { profile: PROFILES.ctkip.name }, 'USER_NOT_FOUND'],
      ['POST', '/api/v1/tokens/000000000000/assign', { username: 'alice' }, 'TOKEN_NOT_FOUND'],
      ['POST', '/api/v1/tokens', { profile: PROFILES.ctkip.name, count: 0 }, 'VALIDATION_FAILED'],
      ['POST', '/api/v1/tokens', { profile: PROFILES.ctkip.name, count: 5000 }, 'VALIDATION_FAILED'],
      ['POST', '/api/v1/users/alice/tokens', { profile: PROFILES.ctkip.name, extra: 1 }, 'VALIDATION_FAILED'],
    ];
    for (const [method, url, payload, code] of cases) {
      const response = await api(method as 'POST', url, payload);
      assert.equal(response.json().error?.code, code, `${url}: ${response.body}`);
    }
    assert.equal((await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.ctkip.name }, tally.tokens.agent)).statusCode, 403);
    assert.equal(await tokenCount(), before);
    assert.equal((await tally.public.inject({ method: 'POST', url: '/download/not-a-real-link-token-at-all' })).statusCode, 410);
  });
});
