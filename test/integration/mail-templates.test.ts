import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SmtpMailer } from '../../src/domain/smtp-mailer.js';
import { firstItem } from '../support/items.js';
import { startSmtpServer } from '../support/smtp.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';
import { WebClient } from '../support/web.js';

const PUBLIC_URL = 'https://tokens.example.org';
const PROFILES = {
  qr: { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true },
  file: { name: 'Desktop file', tokenType: 'totp', deviceType: 'tally-cli', delivery: 'file' },
  approval: {
    name: 'Contractor token',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
  },
} as const;

describeEachStore('mail templates (REST, what arrives at a real SMTP server)', (getStore) => {
  let tally: TestTally;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  const mailsFor = async (act: () => Promise<unknown>) => {
    const before = smtp.mails.length;
    await act();
    await tally.services.mailOutbox.deliverDue();
    return smtp.mails.slice(before);
  };
  const template = async (kind: string) => (await api('GET', `/api/v1/mail-templates/${kind}`)).json();

  before(async () => {
    smtp = await startSmtpServer();
    const mailer = new SmtpMailer({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'Tally <tally@example.org>' });
    tally = await createTestTally(getStore(), { services: { publicUrl: PUBLIC_URL, mailer } });
    for (const user of [
      { username: 'alice', password: 'alice-password-1', email: 'alice@example.org', firstName: 'Alice' },
      { username: 'bob', password: 'bob-password-1', email: 'bob@example.org', firstName: '{{serial}}' },
    ])
      assert.equal((await api('POST', '/api/v1/users', user)).statusCode, 201);
    for (const profile of Object.values(PROFILES)) assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201);
  });
  after(async () => {
    await tally.close();
    await smtp.close();
  });

  test('lists one template per kind of mail, Tally’s own texts with the variables each may use', async () => {
    const response = await api('GET', '/api/v1/mail-templates');
    assert.equal(response.statusCode, 200);
    const templates = response.json().mailTemplates as {
      kind: string;
      subject: string | null;
      edited: boolean;
      variables: { name: string }[];
    }[];
    assert.deepEqual(
      templates.map((t) => t.kind),
      [
        'token-issued',
        'token-reissued',
        'request-approved',
        'request-declined',
        'token-file-downloaded',
        'steps-activate',
        'steps-activate-ctkip-url',
        'steps-ctf',
        'steps-active',
      ],
    );
    assert.ok(templates.every((t) => !t.edited));
    const issued = firstItem(templates);
    assert.equal(issued.subject, '{{issuer}}: a new token for you');
    assert.ok(issued.variables.some((v) => v.name === 'nextSteps'));
    assert.equal(templates.find((t) => t.kind === 'steps-activate')?.subject, null, 'a part of other mails has no subject');
    for (const t of templates) {
      const names = t.variables.map((v) => v.name);
      assert.ok(!names.some((name) => /activation|password|seed|download(Url|Link)/i.test(name)), `${t.kind}: no secret variable`);
    }
    assert.ok(templates.find((t) => t.kind === 'steps-activate-ctkip-url')?.variables.some((v) => v.name === 'ctkipUrl'));
    assert.ok(!templates.find((t) => t.kind === 'steps-activate')?.variables.some((v) => v.name === 'ctkipUrl'));
  });

  test('an edited template is what arrives, with each value put in once (a name like {{serial}} stays as typed); audited', async () => {
    const put = await api('PUT', '/api/v1/mail-templates/token-issued', {
      subject: '{{issuer}} token {{serial}} for {{name}}',
      text: 'Dear {{name}} ({{username}}),\r\n\r\nyour token {{serial}} ({{profile}}) is waiting.\r\n\r\n{{nextSteps}}\r\n\r\nYour IT team\r\n',
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.json().edited, true);
    assert.equal(put.json().updatedBy, 'API token test-superadmin');
    assert.equal(
      put.json().text,
      'Dear {{name}} ({{username}}),\n\nyour token {{serial}} ({{profile}}) is waiting.\n\n{{nextSteps}}\n\nYour IT team\n',
    );
    const edited = await api('PUT', '/api/v1/mail-templates/steps-activate', { text: 'Open {{consoleUrl}} before {{expiresOn}}.' });
    assert.equal(edited.statusCode, 200, edited.body);

    let serial = '';
    const mails = await mailsFor(
      async () => (serial = (await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.qr.name })).json().serial),
    );
    assert.equal(mails.length, 1);
    const mail = firstItem(mails);
    assert.equal(mail.headers.subject, `Tally token ${serial} for {{serial}}`);
    assert.equal(
      mail.text.trimEnd(),
      `Dear {{serial}} (bob),\n\nyour token ${serial} (Phone app) is waiting.\n\nOpen https://tokens.example.org/ before 2026-12-13.\n\nYour IT team`,
    );
    const events = (await api('GET', '/api/v1/audit?action=mail.template.put')).json().events;
    assert.deepEqual(
      events.map((e: { target: string; actor: string }) => [e.target, e.actor]),
      [
        ['steps-activate', 'test-superadmin'],
        ['token-issued', 'test-superadmin'],
      ],
    );
  });

  test('refused: a variable the mail does not have (no activation code, no password), stray braces, a subject of two lines; nothing is saved', async () => {
    const before = await template('request-declined');
    const refusals: [object, string, RegExp][] = [
      [
        { subject: 'x', text: 'Your code: {{activationCode}}' },
        'text',
        /text uses \{\{activationCode\}\}, which this mail does not have; it may use \{\{name\}\}/,
      ],
      [{ subject: '{{password}}', text: 'x' }, 'subject', /subject uses \{\{password\}\}/],
      [{ subject: 'x', text: 'Token {{serial}}' }, 'text', /\{\{serial\}\}, which this mail does not have/],
      [
        { subject: 'x', text: 'Hello {{ name }}' },
        'text',
        /braces that make no variable, near "Hello \{\{ name \}\}"; a variable is written like \{\{serial\}\}/,
      ],
      [{ subject: 'x', text: 'Hello {{name' }, 'text', /braces that make no variable/],
      [{ subject: 'Declined\r\nBcc: mallory@example.org', text: 'x' }, 'subject', /subject must be one line/],
      [{ subject: 'Declined\nBcc: mallory@example.org', text: 'x' }, 'subject', /subject must be one line/],
      [{ subject: '', text: 'x' }, 'subject', /subject must be 1 to 200 characters long/],
      [{ text: 'x' }, 'subject', /subject must be 1 to 200 characters long/],
      [{ subject: 'x', text: '   ' }, 'text', /text must be 1 to 10000 characters long/],
      [{ subject: 'x', text: 'a\u0000b' }, 'text', /no other control characters/],
      [{ subject: 'x', text: 'a\u001b[31mb' }, 'text', /no other control characters/],
    ];
    for (const [body, field, message] of refusals) {
      const response = await api('PUT', '/api/v1/mail-templates/request-declined', body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json().error.code, 'VALIDATION_FAILED');
      assert.equal(response.json().error.details?.field, field, JSON.stringify(body));
      assert.match(response.json().error.message, message);
    }
    const part = await api('PUT', '/api/v1/mail-templates/steps-active', { subject: 'x', text: 'It works.' });
    assert.equal(part.statusCode, 400);
    assert.match(part.json().error.message, /The steps-active template is a part of other mails and has no subject/);
    assert.deepEqual(await template('request-declined'), before);
    const failed = (await api('GET', '/api/v1/audit?action=mail.template.put&result=failure')).json().events;
    assert.ok(failed.length >= refusals.length, 'each refusal is audited as a failure');
  });

  test('header injection through a value: a reason with CR LF in the subject arrives as one line to the holder alone', async () => {
    assert.equal(
      (
        await api('PUT', '/api/v1/mail-templates/request-declined', {
          subject: '{{issuer}}: declined ({{reason}})',
          text: 'Reason: {{reason}}',
        })
      ).statusCode,
      200,
    );
    const client = new WebClient(tally.public, '10.4.0.1');
    assert.equal((await client.logOn('alice', 'alice-password-1')).statusCode, 303);
    await client.get('/request');
    await client.post('/request', { profile: PROFILES.approval.name });
    const [request] = (await api('GET', '/api/v1/requests?state=pending')).json().requests;
    const reason = 'Ask IT\r\nBcc: mallory@example.org\r\n\r\nfake body';
    const mails = await mailsFor(() => api('POST', `/api/v1/requests/${request.id}/reject`, { reason }));
    assert.equal(mails.length, 1);
    const mail = firstItem(mails);
    assert.deepEqual(mail.to, ['alice@example.org']);
    assert.equal(mail.headers.bcc, undefined);
    assert.equal(mail.headers.subject, 'Tally: declined (Ask IT Bcc: mallory@example.org fake body)');
    assert.doesNotMatch(mail.raw.split('\r\n\r\n')[0] ?? '', /^Bcc:/im);
    assert.match(mail.text, /^Reason: Ask IT\nBcc: mallory@example\.org\n\nfake body/, 'the body is plain text: the reason as written');
  });

  test('preview: the template in use or a draft, with sample values, nothing saved; a draft is checked as saving checks it', async () => {
    const inUse = await api('POST', '/api/v1/mail-templates/token-reissued/preview', {});
    assert.equal(inUse.statusCode, 200);
    assert.equal(inUse.json().subject, 'Tally: your token 000123456789 has been issued again');
    assert.match(inUse.json().text, /^Hello Alice,\n\nYour token \(serial 000123456789, iPhone\) has been issued again\./);
    assert.match(inUse.json().text, /Open https:\/\/tokens\.example\.org\/ before 2026-12-13\./, 'the steps part in use');
    const draft = await api('POST', '/api/v1/mail-templates/token-file-downloaded/preview', {
      subject: 'Downloaded by {{admin}}',
      text: '{{admin}} took {{token}} at {{downloadedAt}}.',
    });
    assert.deepEqual(draft.json(), {
      subject: 'Downloaded by jsmith',
      text: 'jsmith took serial 000123456789, iPhone at 2026-11-29 12:00 UTC.',
    });
    assert.equal((await template('token-file-downloaded')).edited, false);
    const part = await api('POST', '/api/v1/mail-templates/steps-activate-ctkip-url/preview', {});
    assert.equal(part.json().subject, null);
    assert.match(part.json().text, /https:\/\/tokens\.example\.org\/ctkip\/services\/CtkipService/);
    const refused = await api('POST', '/api/v1/mail-templates/token-issued/preview', { text: '{{activationCode}}' });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().error.details.field, 'text');
  });

  test('reset: back to Tally’s text, in the answer and in the next mail; audited; resetting an unedited one is no error', async () => {
    const reset = await api('DELETE', '/api/v1/mail-templates/token-issued');
    assert.equal(reset.statusCode, 200);
    assert.equal(reset.json().edited, false);
    assert.equal(reset.json().subject, '{{issuer}}: a new token for you');
    assert.equal((await api('DELETE', '/api/v1/mail-templates/steps-activate')).statusCode, 200);
    assert.equal((await api('DELETE', '/api/v1/mail-templates/steps-ctf')).statusCode, 200);
    const mails = await mailsFor(() => api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.qr.name }));
    assert.equal(firstItem(mails).headers.subject, 'Tally: a new token for you');
    assert.match(firstItem(mails).text, /log on to the Self-Service Console and choose Activate/);
    const events = (await api('GET', '/api/v1/audit?action=mail.template.reset')).json().events;
    assert.deepEqual(
      events.map((e: { target: string }) => e.target),
      ['steps-ctf', 'steps-activate', 'token-issued'],
    );
  });

  test('unknown kinds answer 404; the help desk may neither read nor change templates', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/mail-templates/no-such-mail'],
      ['PUT', '/api/v1/mail-templates/no-such-mail'],
      ['DELETE', '/api/v1/mail-templates/constructor'],
      ['POST', '/api/v1/mail-templates/__proto__/preview'],
    ] as const) {
      const response = await api(method, url, method === 'GET' || method === 'DELETE' ? undefined : { subject: 'x', text: 'x' });
      assert.equal(response.statusCode, 404, `${method} ${url}`);
      assert.equal(response.json().error.code, 'MAIL_TEMPLATE_NOT_FOUND');
    }
    for (const [method, url] of [
      ['GET', '/api/v1/mail-templates'],
      ['PUT', '/api/v1/mail-templates/token-issued'],
    ] as const) {
      const response = await api(method, url, method === 'PUT' ? { subject: 'x', text: 'x' } : undefined, tally.tokens.helpdesk);
      assert.equal(response.statusCode, 403);
    }
  });

  test('an administrator downloading a holder’s token file: the holder is mailed who and when; the holder’s own download is not announced', async () => {
    const distributed = (await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.file.name })).json();
    await tally.services.mailOutbox.deliverDue();
    tally.clock.advance(3600);
    const mails = await mailsFor(async () =>
      assert.equal((await api('POST', `/api/v1/tokens/${distributed.serial}/download`)).statusCode, 200),
    );
    assert.equal(mails.length, 1);
    const mail = firstItem(mails);
    assert.deepEqual(mail.to, ['alice@example.org']);
    assert.equal(mail.headers.subject, `Tally: the file of your token ${distributed.serial} was downloaded`);
    assert.match(
      mail.text,
      new RegExp(
        `^Hello Alice,\\n\\nAPI token test-superadmin downloaded the file of your token \\(serial ${distributed.serial}, Desktop file\\) on 2026-11-29 13:00 UTC\\.`,
      ),
    );
    assert.doesNotMatch(mail.raw, /\/download\//, 'no link in the mail');
    const sent = (await api('GET', '/api/v1/audit?action=mail.sent')).json().events[0];
    assert.deepEqual([sent.target, sent.details], ['alice', { mail: 'token.downloaded', about: distributed.serial, attempt: 1 }]);

    const own = (await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.file.name })).json();
    await tally.services.mailOutbox.deliverDue();
    const token = own.downloadUrl.slice(own.downloadUrl.indexOf('/download/'));
    const redeemed = await mailsFor(async () => {
      const client = new WebClient(tally.public, '10.4.0.2');
      await client.get(token);
      assert.equal((await client.post(token, {})).statusCode, 200);
    });
    assert.deepEqual(redeemed, [], 'a holder downloading their own file is not mailed about it');
    const refused = await mailsFor(() => api('POST', `/api/v1/tokens/${own.serial}/download`));
    assert.deepEqual(refused, [], 'a download refused (the file is gone) is not announced');
  });
});
