import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function tokens(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await idColumn(dialect, db.schema.createTable('tokens'))
        .addColumn('serial', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('token_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('origin', 'varchar(16)', (c) => c.notNull())
        .addColumn('user_id', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('profile_id', dialect === 'postgres' ? 'bigint' : 'integer')
        .addColumn('label', 'varchar(128)')
        .addColumn('seed_sealed', 'text')
        .addColumn('digits', 'integer', (c) => c.notNull())
        .addColumn('period_seconds', 'integer', (c) => c.notNull())
        .addColumn('algorithm', 'varchar(16)', (c) => c.notNull())
        .addColumn('add_pin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('pin_mode', 'varchar(16)', (c) => c.notNull().defaultTo('none'))
        .addColumn('pin_hash', 'text')
        .addColumn('new_pin_required', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('counter', timeColumn(dialect), (c) => c.notNull().defaultTo(0))
        .addColumn('last_step', timeColumn(dialect))
        .addColumn('drift_steps', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_code_required', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_on', 'varchar(10)')
        .addColumn('attributes', 'text')
        .addColumn('disabled_reason', 'varchar(64)')
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('activated_at', timeColumn(dialect))
        .addColumn('last_used_at', timeColumn(dialect))
        .execute();
      await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();
      await db.schema.createIndex('tokens_state').on('tokens').column('state').execute();
    },
  };
}
