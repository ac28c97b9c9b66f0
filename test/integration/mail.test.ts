import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createServices, DEFAULT_SERVICE_OPTIONS } from '../../src/domain/services.js';
import { SmtpMailer } from '../../src/domain/smtp-mailer.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../support/cli.js';
import { firstItem } from '../support/items.js';
import { startSmtpServer } from '../support/smtp.js';
import { describeEachStore } from '../support/store.js';
import { allowTokensPerUser, bearer, createTestTally, type TestTally } from '../support/tally.js';
import { WebClient } from '../support/web.js';

const PUBLIC_URL = 'https://tokens.example.org';
const PROFILES = {
  qr: { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true },
  ctkipMailed: {
    name: 'iPhone (URL in mail)',
    tokenType: 'securid',
    deviceType: 'ios',
    appVersion: '2.0',
    delivery: 'ctkip',
    mailCtkipUrl: true,
  },
  ctkip: { name: 'iPhone', tokenType: 'securid', deviceType: 'ios', appVersion: '2.0', delivery: 'ctkip' },
  file: { name: 'Desktop file', tokenType: 'totp', deviceType: 'tally-cli', delivery: 'file', filePasswordPolicy: 'generated' },
  approval: {
    name: 'Contractor token',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
  },
} as const;

describeEachStore('mail to token holders (a real SMTP server on loopback)', (getStore) => {
  let tally: TestTally;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
  /** The mails that arrive for what `act` does, once every send has finished. */
  const mailsFor = async (act: () => Promise<unknown>) => {
    const before = smtp.mails.length;
    await act();
    await tally.services.mailOutbox.deliverDue();
    return smtp.mails.slice(before);
  };

  before(async () => {
    smtp = await startSmtpServer();
    const mailer = new SmtpMailer({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'Tally <tally@example.org>' });
    tally = await createTestTally(getStore(), { services: { publicUrl: PUBLIC_URL, mailer } });
    // More than RSA's default of 3 tokens per user: alice is given a token in most tests of this suite.
    await allowTokensPerUser(tally, 20);
    const users = [
      { username: 'alice', password: 'alice-password-1', email: 'alice@example.org', firstName: 'Alice' },
      { username: 'bob', password: 'bob-password-1', email: 'bob@example.org' },
      { username: 'nomail', password: 'nomail-password-1' },
    ];
    for (const user of users) assert.equal((await api('POST', '/api/v1/users', user)).statusCode, 201);
    for (const profile of Object.values(PROFILES))
      assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201, JSON.stringify(profile));
  });
  after(async () => {
    await tally.close();
    await smtp.close();
  });

  test('a distributed token: a mail with the link to the Self-Service Console and nothing secret', async () => {
    const mails = await mailsFor(() => api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.qr.name }));
    assert.equal(mails.length, 1);
    const mail = firstItem(mails);
    assert.deepEqual(mail.to, ['alice@example.org']);
    assert.equal(mail.from, 'tally@example.org');
    assert.equal(mail.headers.subject, 'Tally: a new token for you');
    assert.match(mail.text, /^Hello Alice,/);
    assert.match(mail.text, /A new token has been issued to you \(serial \w+, Phone app\)/);
    assert.match(mail.text, /log on to the Self-Service Console and choose Activate:\n\n {2}https:\/\/tokens\.example\.org\/\n/);
    assert.match(mail.text, /The activation is open until \d{4}-\d{2}-\d{2}\./);
    assert.doesNotMatch(mail.text, /otpauth|secret/i);
  });

  test('CT-KIP: never the activation code; the CT-KIP URL only where the profile says so', async () => {
    const mailed = await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.ctkipMailed.name });
    const quiet = await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.ctkip.name });
    await tally.services.mailOutbox.deliverDue();
    const forAlice = smtp.mails.filter((m) => m.text.includes(mailed.json().serial));
    const forBob = smtp.mails.filter((m) => m.text.includes(quiet.json().serial));
    assert.equal(forAlice.length, 1);
    assert.equal(forBob.length, 1);
    assert.match(
      firstItem(forAlice).text,
      /Your token app will ask for this CT-KIP URL:\n\n {2}https:\/\/tokens\.example\.org\/ctkip\/services\/CtkipService\n/,
    );
    assert.match(firstItem(forAlice).text, /The activation code is shown only in the Self-Service Console/);
    assert.doesNotMatch(firstItem(forBob).text, /ctkip\/services/);
    for (const [mail, code] of [
      [firstItem(forAlice), mailed.json().activationCode],
      [firstItem(forBob), quiet.json().activationCode],
    ] as const) {
      assert.match(code, /^\d{12}$/);
      assert.ok(!mail.raw.includes(code), 'no activation code in the mail');
    }
  });

  test('file: neither the download link nor the password in the mail; a reissue is mailed as such', async () => {
    const result = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.file.name })).json();
    await tally.services.mailOutbox.deliverDue();
    const reissued = await mailsFor(() => api('POST', `/api/v1/tokens/${result.serial}/reissue`));
    const mails = smtp.mails.filter((m) => m.text.includes(result.serial));
    assert.equal(mails.length, 2);
    for (const mail of mails) {
      assert.ok(!mail.raw.includes(result.filePassword));
      assert.doesNotMatch(mail.raw, /\/download\//);
    }
    assert.equal(reissued.length, 1);
    assert.equal(firstItem(reissued).headers.subject, `Tally: your token ${result.serial} has been issued again`);
    assert.match(firstItem(reissued).text, /^Hello bob,/);
    assert.match(firstItem(reissued).text, /Whatever you were given for it before no longer works/);
  });

  test('no mail for a user without an address; self-service requests are mailed too', async () => {
    assert.deepEqual(await mailsFor(() => api('POST', '/api/v1/users/nomail/tokens', { profile: PROFILES.qr.name })), []);
    const client = new WebClient(tally.public, '10.3.0.1');
    assert.equal((await client.logOn('bob', 'bob-password-1')).statusCode, 303);
    await client.get('/request');
    const mails = await mailsFor(() => client.post('/request', { profile: PROFILES.qr.name }));
    assert.equal(mails.length, 1);
    assert.deepEqual(firstItem(mails).to, ['bob@example.org']);
  });

  test('a request decided: one mail when approved (the token is ready), one with the reason when rejected', async () => {
    const client = new WebClient(tally.public, '10.3.0.2');
    await client.logOn('alice', 'alice-password-1');
    await client.get('/request');
    assert.deepEqual(await mailsFor(() => client.post('/request', { profile: PROFILES.approval.name })), [], 'asking is not mailed');
    const [request] = (await api('GET', '/api/v1/requests?state=pending')).json().requests;
    let serial = '';
    const approved = await mailsFor(
      async () => (serial = (await api('POST', `/api/v1/requests/${request.id}/approve`)).json().token.serial),
    );
    assert.equal(approved.length, 1, 'one mail: the decision, which says the token is ready');
    assert.equal(firstItem(approved).headers.subject, 'Tally: your token request has been approved');
    assert.match(
      firstItem(approved).text,
      new RegExp(`Your request for a token \\(Contractor token\\) has been approved: it is serial ${serial}\\.`),
    );
    assert.match(firstItem(approved).text, /https:\/\/tokens\.example\.org\//);

    await client.get('/request');
    await client.post('/request', { profile: PROFILES.approval.name });
    const [again] = (await api('GET', '/api/v1/requests?state=pending')).json().requests;
    const rejected = await mailsFor(() => api('POST', `/api/v1/requests/${again.id}/reject`, { reason: 'Use your hardware token.' }));
    assert.equal(rejected.length, 1);
    assert.equal(firstItem(rejected).headers.subject, 'Tally: your token request has been declined');
    assert.match(firstItem(rejected).text, /Reason: Use your hardware token\./);
    const sent = (await api('GET', '/api/v1/audit?action=mail.sent')).json().events;
    assert.ok(sent.length >= 6);
  });

  test('a mail server that is down fails no distribution: the failed send is logged (facts only) and audited', async () => {
    const lines: string[] = [];
    const logger = createLogger(
      'warn',
      new Writable({
        write: (chunk, _encoding, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    // The same store, with a mailer that reaches nobody.
    const mailer = new SmtpMailer({ host: '127.0.0.1', port: await freePort(), secure: false, from: 'tally@example.org' });
    const services = createServices(getStore(), tally.keyring, tally.clock, {
      ...DEFAULT_SERVICE_OPTIONS,
      publicUrl: PUBLIC_URL,
      logger,
      mailer,
    });
    const admin = { kind: 'apitoken', name: 'test-superadmin', role: 'superadmin' } as const;
    const result = await services.distribution.distributeToUser(admin, 'alice', PROFILES.ctkip.name);
    assert.equal(result.state, 'pending');
    assert.equal(await services.mailOutbox.deliverDue(), 1);
    const failed = (await api('GET', `/api/v1/audit?action=mail.failed`)).json().events;
    assert.equal(failed[0].result, 'failure');
    assert.equal(failed[0].target, 'alice');
    assert.equal(failed[0].details.error, 'ESOCKET');
    assert.equal(failed[0].details.final, false);
    const log = lines.join('');
    assert.match(log, /a mail to a token holder failed; it will be retried/);
    assert.ok(!log.includes(result.activationCode!), 'no activation code in the log');
  });
});
