import { randomUUID } from 'node:crypto';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { TallyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MailState } from '../model/vocabulary.js';
import type { MailOutboxRepository, OutboxEntry, OutboxRow } from '../store/repositories/mail-outbox.js';
import type { Repositories } from '../store/unit-of-work.js';
import { type Actor, requirePermission, systemActor } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import type { Mailer, MailMessage } from './notifications.js';
import type { Observer } from './observer.js';
import { repeatEvery } from './repeat.js';

export interface MailOutboxSettings {
  /** Sends a mail gets before it is marked failed. */
  attempts: number;
  /** The wait after the first failure; it doubles with each further one, up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** How long a sender's claim on a mail holds: longer than the mailer's longest send, or a mail could go out twice. */
  leaseMs: number;
  /** How long a sent mail is kept (to be looked at) before it is deleted. */
  sentRetentionMs: number;
}

export const DEFAULT_MAIL_OUTBOX: MailOutboxSettings = {
  attempts: 8,
  firstDelayMs: 30_000,
  maxDelayMs: 3_600_000,
  leaseMs: 120_000,
  sentRetentionMs: 7 * 86_400_000,
};

/** A rendered mail to a token holder, and what it is about (for the audit trail and the outbox list). */
export interface OutboxMail extends MailMessage {
  kind: string;
  about: string;
  username: string;
}

/** How a mail appears in `GET /api/v1/mail-outbox`: never its text. */
export interface OutboxView {
  id: number;
  kind: string;
  about: string;
  username: string;
  to: string;
  subject: string;
  state: MailState;
  attempts: number;
  createdAt: string;
  nextAttemptAt: string | null;
  lastError: string | null;
  sentAt: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

function view(row: OutboxEntry): OutboxView {
  return {
    id: row.id,
    kind: row.kind,
    about: row.about,
    username: row.username,
    to: row.recipient,
    subject: row.subject,
    state: row.state,
    attempts: Number(row.attempts),
    createdAt: iso(row.created_at) ?? '',
    nextAttemptAt: row.state === 'queued' ? iso(row.next_attempt_at) : null,
    lastError: row.last_error,
    sentAt: iso(row.sent_at),
  };
}

/**
 * Why a send failed, in a few words an administrator may see: nodemailer's error code and the SMTP
 * reply code, never the reply's text (it may quote the message) nor a stack.
 */
export function sendFailure(error: unknown): string {
  const facts = error as { code?: unknown; responseCode?: unknown };
  const code = typeof facts.code === 'string' && /^[A-Z_]{1,32}$/.test(facts.code) ? facts.code : 'UNKNOWN';
  return typeof facts.responseCode === 'number' ? `${code} ${facts.responseCode}` : code;
}

const sealContext = (id: number) => `mail-outbox:${id}`;

/**
 * The persistent mail outbox. A notification queues its rendered mail in the transaction of the
 * change that causes it (`enqueue`), so the change never waits for SMTP and a rolled-back change
 * mails nothing. `deliverDue` is one pass of a node's sender: it claims due mails one by one (a
 * lease, so each mail has one sender at a time and a dead sender's mail is taken over when its
 * lease ends), hands each to the mailer and marks it sent right after the server accepted it, or
 * schedules the next attempt with exponential back-off and jitter, until the attempts run out and
 * the mail is marked failed (kept, for an administrator to see and retry).
 */
export class MailOutbox {
  /** This process's name on the leases it takes. */
  private readonly owner = randomUUID();

  constructor(
    private readonly repository: MailOutboxRepository,
    private readonly keyring: Keyring,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly observer: Observer,
    private readonly mailer?: Mailer,
    private readonly logger?: Logger,
    private readonly settings: MailOutboxSettings = DEFAULT_MAIL_OUTBOX,
    /** A number in [0, 1) for the jitter; injected by tests. */
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether mails are sent at all (a mailer is configured); without one nothing is queued. */
  get sending(): boolean {
    return this.mailer !== undefined;
  }

  /** Queues a mail with `tx`'s change: it commits or rolls back with it. */
  async enqueue(tx: Repositories, mail: OutboxMail): Promise<void> {
    await tx.mailOutbox.enqueue(
      { kind: mail.kind, about: mail.about, username: mail.username, recipient: mail.to, subject: mail.subject, now: this.clock.now() },
      (id) => seal(this.keyring, Buffer.from(mail.text, 'utf8'), sealContext(id)),
    );
  }

  /** Queued (waiting or being sent) and failed mails, or the sent ones still kept, newest first. */
  async list(actor: Actor, filter: { state?: MailState; limit: number; offset: number }): Promise<OutboxView[]> {
    requirePermission(actor, 'mail.read');
    const states = filter.state ? [filter.state] : (['queued', 'failed'] as const);
    return (await this.repository.list(states, filter.limit, filter.offset)).map(view);
  }

  async counts(): Promise<{ queued: number; failed: number }> {
    return this.repository.counts();
  }

  /** Queues a failed mail again, due at once, with a fresh count of attempts. */
  async retry(actor: Actor, id: number): Promise<OutboxView> {
    return this.audit.change(
      actor,
      { action: 'mail.retry', targetType: 'mail', target: String(id) },
      async (tx) => {
        requirePermission(actor, 'mail.retry');
        if (!(await tx.mailOutbox.requeue(id, this.clock.now()))) {
          const mail = await tx.mailOutbox.find(id);
          if (!mail) throw new TallyError('MAIL_NOT_FOUND', `No mail ${id} in the outbox.`);
          throw new TallyError('CONFLICT', `Mail ${id} is ${mail.state}; only a failed mail is retried.`);
        }
        const mail = await tx.mailOutbox.find(id);
        if (!mail) throw new Error(`Mail ${id} vanished while it was retried.`);
        return view(mail);
      },
      (mail) => ({ username: mail.username, mail: mail.kind, about: mail.about }),
    );
  }

  /**
   * One pass of the sender: deletes sent mails past their retention, then sends every mail due
   * now, one at a time, while `goOn` says so (a shutdown ends the pass after the send in flight).
   * Returns how many mails it tried. A failure of the store ends the pass (the caller tries again
   * later); a failure of the mailer is the mail's.
   */
  async deliverDue(goOn: () => boolean = () => true): Promise<number> {
    const mailer = this.mailer;
    if (!mailer) return 0;
    await this.repository.pruneSent(this.clock.now() - this.settings.sentRetentionMs);
    let tried = 0;
    while (goOn()) {
      const now = this.clock.now();
      const mail = await this.repository.claimNext(this.owner, now, now + this.settings.leaseMs);
      if (!mail) return tried;
      tried++;
      await this.deliver(mailer, mail);
    }
    return tried;
  }

  private async deliver(mailer: Mailer, mail: OutboxRow): Promise<void> {
    const about = { mail: mail.kind, about: mail.about, attempt: Number(mail.attempts) };
    let text: string;
    try {
      text = open(this.keyring, mail.body_sealed, sealContext(mail.id)).toString('utf8');
    } catch {
      // A body the key cannot open (a master key lost since) is never sendable: given up at once.
      return this.failed(mail, about, 'UNREADABLE', true);
    }
    try {
      await mailer.send({ to: mail.recipient, subject: mail.subject, text });
    } catch (error) {
      return this.failed(mail, about, sendFailure(error), Number(mail.attempts) >= this.settings.attempts);
    }
    // The server has said 250: from here until the mark commits is the one window in which a crash
    // (or a store outage) sends the mail again once the lease ends.
    const marked = await this.audit.change(
      systemActor,
      { action: 'mail.sent', targetType: 'user', target: mail.username, details: about },
      (tx) => tx.mailOutbox.markSent(mail.id, this.owner, this.clock.now()),
    );
    if (!marked)
      this.logger?.warn({ mail: mail.kind, about: mail.about }, 'a mail was sent after its lease had ended; another node may send it too');
    this.observer.mailSend('sent');
  }

  private async failed(mail: OutboxRow, about: Record<string, string | number>, error: string, final: boolean): Promise<void> {
    const delay = Math.min(this.settings.maxDelayMs, this.settings.firstDelayMs * 2 ** (Number(mail.attempts) - 1));
    // Half the delay, plus a random part of the other half: senders that failed together spread out.
    const next = final ? undefined : this.clock.now() + Math.round(delay / 2 + (this.random() * delay) / 2);
    this.logger?.warn(
      { mail: mail.kind, about: mail.about, username: mail.username, error, attempt: about.attempt, final },
      final
        ? 'a mail to a token holder failed and is given up; an administrator can retry it'
        : 'a mail to a token holder failed; it will be retried',
    );
    await this.audit.change(
      systemActor,
      { action: 'mail.failed', targetType: 'user', target: mail.username, result: 'failure', details: { ...about, error, final } },
      (tx) => tx.mailOutbox.markFailed(mail.id, this.owner, error, next),
    );
    this.observer.mailSend(final ? 'failed' : 'deferred');
  }
}

/**
 * Runs a node's sender every `intervalMs` until stopped. A failing store is logged once per outage
 * and tried again on the next pass; `stop` waits for the send in flight to finish and be marked.
 */
export function runMailSender(outbox: MailOutbox, intervalMs: number, logger?: Logger): { stop(): Promise<void> } {
  return repeatEvery(
    intervalMs,
    (goOn) => outbox.deliverDue(goOn),
    { failing: 'the mail outbox could not be read or updated; retrying', resumed: 'the mail outbox is being sent again' },
    logger,
  );
}
