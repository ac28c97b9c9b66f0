import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function webSessions(dialect: Dialect) {
  const reference = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<any>): Promise<void> {
      // Only the SHA-256 of a session id is kept: a copy of the table opens no session.
      await db.schema
        .createTable('web_sessions')
        .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('user_id', reference, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('console', 'varchar(16)', (c) => c.notNull())
        .addColumn('source', 'varchar(64)')
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('last_seen_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('expires_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('web_sessions_user').on('web_sessions').column('user_id').execute();

      await idColumn(dialect, db.schema.createTable('token_requests'))
        .addColumn('user_id', reference, (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('profile_id', reference, (c) => c.notNull().references('profiles.id').onDelete('cascade'))
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('reason', 'varchar(512)')
        .addColumn('serial', 'varchar(64)')
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('decided_at', timeColumn(dialect))
        .addColumn('decided_by', 'varchar(128)')
        .execute();
      // One open request per user and profile, however many clicks or nodes.
      await db.schema
        .createIndex('token_requests_one_pending')
        .on('token_requests')
        .columns(['user_id', 'profile_id'])
        .unique()
        .where(sql.ref('state'), '=', sql.lit('pending'))
        .execute();
      await db.schema.createIndex('token_requests_state').on('token_requests').column('state').execute();

      await db.schema
        .alterTable('profiles')
        .addColumn('mail_ctkip_url', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  };
}
