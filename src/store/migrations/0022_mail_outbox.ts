import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function mailOutbox(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // Mails to token holders, written in the transaction of the change that causes them and sent
      // by any node's sender, which claims a row by a lease (a conditional update).
      await idColumn(dialect, db.schema.createTable('mail_outbox'))
        .addColumn('kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('about', 'varchar(128)', (c) => c.notNull())
        .addColumn('username', 'varchar(128)', (c) => c.notNull())
        .addColumn('recipient', 'varchar(320)', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('body_sealed', 'text', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('next_attempt_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('lease_owner', 'varchar(64)')
        .addColumn('lease_until', timeColumn(dialect))
        .addColumn('last_error', 'varchar(200)')
        .addColumn('sent_at', timeColumn(dialect))
        .execute();
      await db.schema.createIndex('mail_outbox_due').on('mail_outbox').columns(['state', 'next_attempt_at']).execute();
      await db.schema.createIndex('mail_outbox_sent').on('mail_outbox').columns(['state', 'sent_at']).execute();
    },
  };
}
