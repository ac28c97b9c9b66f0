import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { systemActor } from '../../src/domain/actor.js';
import { DEFAULT_MAIL_OUTBOX, runMailSender } from '../../src/domain/mail-outbox.js';
import { createServices, DEFAULT_SERVICE_OPTIONS, type Services } from '../../src/domain/services.js';
import { SmtpMailer } from '../../src/domain/smtp-mailer.js';
import { PrometheusMetrics } from '../../src/metrics/prometheus.js';
import type { RunningServer } from '../../src/server.js';
import { openStore, type Store } from '../../src/store/connect.js';
import { MailOutboxRepository } from '../../src/store/repositories/mail-outbox.js';
import { startInProcess } from '../support/node.js';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { describeEachStore, freshStoreOptions, type TestStoreHandle, testDialects } from '../support/store.js';
import { bearer, createTestTally, TestClock, type TestTally } from '../support/tally.js';

const PROFILE = { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr' } as const;
/** Longer than any back-off: whatever failed is due again. */
const PAST_ANY_BACKOFF = DEFAULT_MAIL_OUTBOX.maxDelayMs / 1000;

describeEachStore('the mail outbox (a real SMTP server the test stops and restarts)', (getStore, handle) => {
  let tally: TestTally;
  let smtp: TestSmtpServer;
  let mailer: SmtpMailer;
  let secondStore: Store;
  let secondNode: Services;
  let users = 0;
  const api = (method: 'GET' | 'POST', url: string, token = tally.tokens.superadmin, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  const outbox = async (query = '') => (await api('GET', `/api/v1/mail-outbox${query}`)).json().mails;
  /** A new user with an address, given a token: returns the username and the serial. */
  const distribute = async () => {
    const username = `holder${++users}`;
    assert.equal(
      (await api('POST', '/api/v1/users', tally.tokens.superadmin, { username, email: `${username}@example.org` })).statusCode,
      201,
    );
    const response = await api('POST', `/api/v1/users/${username}/tokens`, tally.tokens.superadmin, { profile: PROFILE.name });
    assert.equal(response.statusCode, 201, response.body);
    return { username, serial: response.json().serial as string };
  };
  const arrivedFor = (serial: string) => smtp.mails.filter((mail) => mail.text.includes(serial));

  before(async () => {
    smtp = await startSmtpServer();
    mailer = new SmtpMailer({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'tally@example.org' });
    tally = await createTestTally(getStore(), { services: { mailer } });
    assert.equal((await api('POST', '/api/v1/profiles', tally.tokens.superadmin, PROFILE)).statusCode, 201);
    // A second node: its own connection to the same store, its own sender.
    secondStore = await openStore(handle().options);
    secondNode = createServices(secondStore, tally.keyring, tally.clock, { ...DEFAULT_SERVICE_OPTIONS, mailer });
  });
  after(async () => {
    await tally.close();
    await secondStore.close();
    mailer.close();
    await smtp.close();
  });

  test('distribution completes while the mail server is down; the mail arrives once after it returns', async () => {
    await smtp.stop();
    try {
      const { serial, username } = await distribute();
      assert.equal(await tally.services.mailOutbox.deliverDue(), 1, 'one attempt, which fails');
      const [queued] = await outbox();
      assert.equal(queued.about, serial);
      assert.equal(queued.username, username);
      assert.equal(queued.state, 'queued');
      assert.equal(queued.attempts, 1);
      assert.equal(queued.lastError, 'ESOCKET');
      // Half the first delay plus a random part of the other half.
      const wait = Date.parse(queued.nextAttemptAt) - tally.clock.now();
      assert.ok(wait >= DEFAULT_MAIL_OUTBOX.firstDelayMs / 2 && wait <= DEFAULT_MAIL_OUTBOX.firstDelayMs, `back-off ${wait} ms`);
      assert.equal(await tally.services.mailOutbox.deliverDue(), 0, 'not due again before its back-off');
      const failed = (await api('GET', '/api/v1/audit?action=mail.failed')).json().events;
      assert.equal(failed[0].details.final, false);
    } finally {
      await smtp.start();
    }
    tally.clock.advance(DEFAULT_MAIL_OUTBOX.firstDelayMs / 1000);
    const before = smtp.mails.length;
    assert.equal(await tally.services.mailOutbox.deliverDue(), 1);
    assert.equal(await secondNode.mailOutbox.deliverDue(), 0, 'sent is sent, on every node');
    assert.equal(smtp.mails.length, before + 1);
    assert.deepEqual(await outbox(), []);
    const [sent] = await outbox('?state=sent');
    assert.equal(sent.attempts, 2);
    assert.equal(sent.lastError, null);
    assert.equal(arrivedFor(sent.about).length, 1);
  });

  test('a slow mail server holds no request: changes commit while a send waits for its reply', async () => {
    const slow = smtp.hold();
    const first = await distribute();
    const pass = tally.services.mailOutbox.deliverDue();
    await slow.arrived;
    // The server has the first mail and has not answered: the store is free all the same.
    const second = await distribute();
    assert.equal(arrivedFor(first.serial).length, 0);
    assert.deepEqual(
      (await outbox()).map((mail: { about: string; attempts: number }) => [mail.about, mail.attempts]),
      [
        [second.serial, 0],
        [first.serial, 1],
      ],
    );
    slow.release();
    assert.equal(await pass, 2, 'the pass goes on to the mail queued meanwhile');
    assert.equal(arrivedFor(first.serial).length, 1);
    assert.equal(arrivedFor(second.serial).length, 1);
  });

  test('two nodes sending the same outbox deliver each mail exactly once', async () => {
    const serials: string[] = [];
    for (let i = 0; i < 12; i++) serials.push((await distribute()).serial);
    const [a, b] = await Promise.all([tally.services.mailOutbox.deliverDue(), secondNode.mailOutbox.deliverDue()]);
    // A node that finds the mail it chose claimed by the other ends its pass: the next pass goes on.
    while ((await tally.services.mailOutbox.counts()).queued > 0) await secondNode.mailOutbox.deliverDue();
    assert.ok(a + b >= 1);
    for (const serial of serials) assert.equal(arrivedFor(serial).length, 1, serial);
    const sent = (await api('GET', '/api/v1/audit?action=mail.sent&limit=1000')).json().events;
    for (const serial of serials)
      assert.equal(sent.filter((event: { details: { about: string } }) => event.details.about === serial).length, 1);
  });

  test("a node that dies mid-send leaves a lease that expires; the mail's text is sealed in the store", async () => {
    const { serial } = await distribute();
    const repository = new MailOutboxRepository(getStore().db);
    const now = tally.clock.now();
    const claimed = await repository.claimNext('a-node-that-died', now, now + DEFAULT_MAIL_OUTBOX.leaseMs);
    assert.ok(claimed);
    assert.equal(claimed.about, serial);
    assert.ok(!claimed.body_sealed.includes(serial) && /^v\d+\./.test(claimed.body_sealed), 'the body is sealed');
    assert.equal(await tally.services.mailOutbox.deliverDue(), 0, 'leased by the dead node');
    tally.clock.advance(DEFAULT_MAIL_OUTBOX.leaseMs / 1000);
    assert.equal(await secondNode.mailOutbox.deliverDue(), 1);
    assert.equal(arrivedFor(serial).length, 1);
    assert.equal(await repository.markSent(claimed.id, 'a-node-that-died', tally.clock.now()), false, 'the dead lease marks nothing');
  });

  test('a rolled-back change mails nothing', async () => {
    const { serial } = await distribute();
    await tally.services.mailOutbox.deliverDue();
    const queued = await tally.services.mailOutbox.counts();
    await assert.rejects(
      tally.services.audit.change(systemActor, { action: 'token.reissue', targetType: 'token', target: serial }, async (tx) => {
        await tally.services.notifier.tokenDistributed(tx, serial, 'reissued');
        throw new Error('the change fails after its mail was queued');
      }),
      /the change fails/,
    );
    assert.deepEqual(await tally.services.mailOutbox.counts(), queued);
    assert.equal(await tally.services.mailOutbox.deliverDue(), 0);
    assert.equal(arrivedFor(serial).length, 1, 'only the distribution that committed');
  });

  test('a permanent 5xx marks the mail failed after the retries; an administrator sees it and retries it', async () => {
    smtp.refuse(550);
    let serial: string;
    try {
      serial = (await distribute()).serial;
      for (let attempt = 1; attempt <= DEFAULT_MAIL_OUTBOX.attempts; attempt++) {
        assert.equal(await tally.services.mailOutbox.deliverDue(), 1, `attempt ${attempt}`);
        tally.clock.advance(PAST_ANY_BACKOFF);
      }
      assert.equal(await tally.services.mailOutbox.deliverDue(), 0, 'no attempt after the last');
    } finally {
      smtp.refuse(undefined);
    }
    const [failed] = await outbox('?state=failed');
    assert.equal(failed.about, serial);
    assert.equal(failed.attempts, DEFAULT_MAIL_OUTBOX.attempts);
    assert.equal(failed.lastError, 'EENVELOPE 550');
    assert.equal(failed.nextAttemptAt, null);
    assert.ok(!JSON.stringify(failed).includes('Hello'), 'never the text');
    const [last] = (await api('GET', '/api/v1/audit?action=mail.failed')).json().events;
    assert.equal(last.details.final, true);
    assert.equal(last.details.error, 'EENVELOPE 550');
    assert.equal((await api('GET', '/api/v1/dashboard')).json().mailOutbox.failed, 1);
    const metrics = new PrometheusMetrics();
    metrics.watchMailOutbox(() => tally.services.mailOutbox.counts());
    assert.match((await metrics.scrape()).text, /^tally_mail_outbox\{state="failed"\} 1$/m);

    assert.equal((await api('POST', `/api/v1/mail-outbox/${failed.id}/retry`, tally.tokens.helpdesk)).statusCode, 403);
    assert.equal((await api('GET', '/api/v1/mail-outbox?state=failed', tally.tokens.helpdesk)).statusCode, 200);
    const retried = await api('POST', `/api/v1/mail-outbox/${failed.id}/retry`);
    assert.equal(retried.statusCode, 200, retried.body);
    assert.equal(retried.json().mail.state, 'queued');
    assert.equal(retried.json().mail.attempts, 0);
    const again = await api('POST', `/api/v1/mail-outbox/${failed.id}/retry`);
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'CONFLICT');
    assert.equal((await api('POST', '/api/v1/mail-outbox/999999/retry')).json().error.code, 'MAIL_NOT_FOUND');
    assert.equal(await tally.services.mailOutbox.deliverDue(), 1);
    assert.equal(arrivedFor(serial).length, 1);
    assert.equal((await api('GET', '/api/v1/audit?action=mail.retry&result=success')).json().events[0].target, String(failed.id));
  });

  test('shutting the sender down waits for the send in flight, which is marked sent', async () => {
    const { serial } = await distribute();
    const slow = smtp.hold();
    const running = runMailSender(tally.services.mailOutbox, 60_000);
    await slow.arrived;
    let stopped = false;
    const stopping = running.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'stop waits for the server to answer');
    slow.release();
    await stopping;
    const [sent] = await outbox('?state=sent');
    assert.equal(sent.about, serial);
    assert.equal(await tally.services.mailOutbox.deliverDue(), 0);
  });

  test('sent mails are deleted after their retention; bad queries are refused', async () => {
    assert.ok((await outbox('?state=sent')).length > 0);
    tally.clock.advance(DEFAULT_MAIL_OUTBOX.sentRetentionMs / 1000 + 1);
    await tally.services.mailOutbox.deliverDue();
    assert.deepEqual(await outbox('?state=sent'), []);
    assert.equal((await api('GET', '/api/v1/mail-outbox?state=lost')).statusCode, 400);
    assert.equal((await api('GET', '/api/v1/mail-outbox?limit=0')).statusCode, 400);
    assert.equal((await api('POST', '/api/v1/mail-outbox/abc/retry')).statusCode, 400);
    assert.equal((await api('GET', '/api/v1/mail-outbox', tally.tokens.agent)).statusCode, 403);
  });
});

for (const dialect of testDialects()) {
  describe(`the mail sender of a running Tally [${dialect}]`, () => {
    let handle: TestStoreHandle;
    let running: RunningServer;
    let smtp: TestSmtpServer;
    const clock = new TestClock();

    before(async () => {
      smtp = await startSmtpServer();
      await smtp.stop();
      handle = freshStoreOptions(dialect);
      running = await startInProcess(handle.options, {
        smtp: { host: '127.0.0.1', port: smtp.port, secure: false, from: 'tally@example.org' },
        mailOutboxIntervalMs: 20,
        clock,
      });
    });
    after(async () => {
      await running.close().catch(() => {});
      await handle.cleanup();
      await smtp.close();
    });

    test('a mail queued while the mail server is down goes out once it is back; /readyz never minds', async () => {
      const { token } = await running.services.apiTokens.create(systemActor, { name: 'ops', role: 'superadmin' });
      const call = (url: string, payload: object) =>
        fetch(`${running.adminAddress}/api/v1${url}`, {
          method: 'POST',
          headers: { ...bearer(token), 'content-type': 'application/json' },
          body: JSON.stringify(payload),
        });
      assert.equal((await call('/users', { username: 'carol', email: 'carol@example.org' })).status, 201);
      assert.equal((await call('/profiles', PROFILE)).status, 201);
      const distributed = await call('/users/carol/tokens', { profile: PROFILE.name });
      assert.equal(distributed.status, 201);
      const { serial } = await distributed.json();
      // The sender's first attempt fails against the stopped server; the mail waits for its back-off.
      const repository = new MailOutboxRepository(running.store.db);
      const waiting = async () => (await repository.list(['queued'], 1, 0))[0];
      for (let i = 0; i < 500 && (await waiting())?.last_error == null; i++) await setTimeout(20);
      assert.equal((await waiting())?.last_error, 'ESOCKET');
      assert.equal((await waiting())?.attempts, 1);
      assert.equal((await fetch(`${running.adminAddress}/readyz`)).status, 200);
      assert.match(await (await fetch(`${running.adminAddress}/metrics`)).text(), /^tally_mail_outbox\{state="queued"\} 1$/m);
      await smtp.start();
      clock.advance(PAST_ANY_BACKOFF);
      const [mail] = await smtp.waitFor(1);
      assert.ok(mail?.text.includes(serial));
      // Closing waits for the sender's pass: nothing is left to send twice.
      await running.close();
      assert.equal(smtp.mails.length, 1);
    });
  });
}
