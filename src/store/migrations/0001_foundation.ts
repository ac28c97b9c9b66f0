import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function foundation(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('tally_meta')
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await idColumn(dialect, db.schema.createTable('users'))
        .addColumn('username', 'varchar(128)', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text')
        .addColumn('email', 'varchar(320)')
        .addColumn('first_name', 'varchar(128)')
        .addColumn('last_name', 'varchar(128)')
        .addColumn('role', 'varchar(16)', (c) => c.notNull().defaultTo('user'))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed_logons', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', timeColumn(dialect))
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .execute();

      await idColumn(dialect, db.schema.createTable('api_tokens'))
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('role', 'varchar(16)', (c) => c.notNull())
        .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('last_used_at', timeColumn(dialect))
        .addColumn('revoked_at', timeColumn(dialect))
        .execute();

      await idColumn(dialect, db.schema.createTable('audit_events'))
        .addColumn('at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('actor_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('actor', 'varchar(128)', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('target_type', 'varchar(32)')
        .addColumn('target', 'varchar(128)')
        .addColumn('result', 'varchar(16)', (c) => c.notNull())
        .addColumn('source', 'varchar(64)')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
      await db.schema.createIndex('audit_events_target').on('audit_events').columns(['target_type', 'target']).execute();
      await db.schema.createIndex('audit_events_actor').on('audit_events').column('actor').execute();
    },
  };
}
