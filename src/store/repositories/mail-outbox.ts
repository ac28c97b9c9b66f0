import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import type { Database, MailOutboxTable } from '../schema.js';
import { atomically } from '../unit-of-work.js';

export type OutboxRow = Selectable<MailOutboxTable>;
/** A mail as an administrator sees it in the outbox: everything but its text. */
export type OutboxEntry = Omit<OutboxRow, 'body_sealed' | 'lease_owner' | 'lease_until'>;

export interface NewOutboxMail {
  kind: string;
  about: string;
  username: string;
  recipient: string;
  subject: string;
  now: number;
}

/** Queued and not leased by a live sender, and due: what a sender may claim. */
function claimable(now: number) {
  return (eb: ExpressionBuilder<Database, 'mail_outbox'>) =>
    eb.and([
      eb('state', '=', 'queued'),
      eb('next_attempt_at', '<=', now),
      eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]),
    ]);
}

/** The persistent mail outbox: rows are claimed, finished and retried by conditional updates only. */
export class MailOutboxRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Queues a mail, due at once. The text is sealed by `sealBody` for the id the row is given,
   * which the sealing binds it to; both statements commit with the caller's transaction.
   */
  async enqueue(mail: NewOutboxMail, sealBody: (id: number) => string): Promise<number> {
    return atomically(this.db, async (trx) => {
      const { id } = await trx
        .insertInto('mail_outbox')
        .values({
          kind: mail.kind,
          about: mail.about,
          username: mail.username,
          recipient: mail.recipient,
          subject: mail.subject,
          body_sealed: '',
          state: 'queued',
          created_at: mail.now,
          next_attempt_at: mail.now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const rowId = Number(id);
      await trx
        .updateTable('mail_outbox')
        .set({ body_sealed: sealBody(rowId) })
        .where('id', '=', rowId)
        .execute();
      return rowId;
    });
  }

  /**
   * Claims the mail due first for `owner` until `leaseUntil` and counts the attempt. The WHERE
   * clause is checked again on the row itself, so of two nodes racing for one mail one gets it.
   */
  async claimNext(owner: string, now: number, leaseUntil: number): Promise<OutboxRow | undefined> {
    const first = this.db.selectFrom('mail_outbox').select('id').where(claimable(now)).orderBy('next_attempt_at').orderBy('id').limit(1);
    const row = await this.db
      .updateTable('mail_outbox')
      .set((eb) => ({ lease_owner: owner, lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', first)
      .where(claimable(now))
      .returningAll()
      .executeTakeFirst();
    return row && { ...row, id: Number(row.id) };
  }

  /** Marks a claimed mail sent; false when `owner`'s lease was lost to another sender. */
  async markSent(id: number, owner: string, now: number): Promise<boolean> {
    return this.finish(id, owner, { state: 'sent', sent_at: now, last_error: null });
  }

  /** A failed attempt: due again at `nextAttemptAt`, or (`nextAttemptAt` undefined) given up. */
  async markFailed(id: number, owner: string, error: string, nextAttemptAt?: number): Promise<boolean> {
    return this.finish(
      id,
      owner,
      nextAttemptAt === undefined ? { state: 'failed', last_error: error } : { next_attempt_at: nextAttemptAt, last_error: error },
    );
  }

  private async finish(
    id: number,
    owner: string,
    changes: Partial<Pick<OutboxRow, 'state' | 'sent_at' | 'last_error' | 'next_attempt_at'>>,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('mail_outbox')
      .set({ ...changes, lease_owner: null, lease_until: null })
      .where('id', '=', id)
      .where('state', '=', 'queued')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Queues a failed mail again with a fresh count of attempts; false when it is not a failed mail. */
  async requeue(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('mail_outbox')
      .set({ state: 'queued', attempts: 0, next_attempt_at: now })
      .where('id', '=', id)
      .where('state', '=', 'failed')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async find(id: number): Promise<OutboxEntry | undefined> {
    const row = await this.entries().where('id', '=', id).executeTakeFirst();
    return row && { ...row, id: Number(row.id) };
  }

  /** Mails in the given states, newest first. */
  async list(states: readonly OutboxRow['state'][], limit: number, offset: number): Promise<OutboxEntry[]> {
    const rows = await this.entries().where('state', 'in', states).orderBy('id', 'desc').limit(limit).offset(offset).execute();
    return rows.map((row) => ({ ...row, id: Number(row.id) }));
  }

  private entries() {
    return this.db
      .selectFrom('mail_outbox')
      .select([
        'id',
        'kind',
        'about',
        'username',
        'recipient',
        'subject',
        'state',
        'attempts',
        'created_at',
        'next_attempt_at',
        'last_error',
        'sent_at',
      ]);
  }

  /** How many mails wait and how many were given up. */
  async counts(): Promise<{ queued: number; failed: number }> {
    const rows = await this.db
      .selectFrom('mail_outbox')
      .select(['state', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('state', 'in', ['queued', 'failed'])
      .groupBy('state')
      .execute();
    const count = (state: string) => Number(rows.find((row) => row.state === state)?.n ?? 0);
    return { queued: count('queued'), failed: count('failed') };
  }

  /** Deletes mails sent before `before`; returns how many. */
  async pruneSent(before: number): Promise<number> {
    const result = await this.db.deleteFrom('mail_outbox').where('state', '=', 'sent').where('sent_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
