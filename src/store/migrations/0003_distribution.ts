import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function distribution(dialect: Dialect) {
  const reference = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('device_types')
        .addColumn('device_type', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .execute();

      await idColumn(dialect, db.schema.createTable('profiles'))
        .addColumn('name', 'varchar(128)', (c) => c.notNull().unique())
        .addColumn('description', 'varchar(512)')
        .addColumn('token_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('device_type', 'varchar(32)', (c) => c.notNull())
        .addColumn('app_version', 'varchar(32)')
        .addColumn('delivery', 'varchar(16)', (c) => c.notNull())
        .addColumn('digits', 'integer', (c) => c.notNull())
        .addColumn('period_seconds', 'integer', (c) => c.notNull())
        .addColumn('algorithm', 'varchar(16)', (c) => c.notNull())
        .addColumn('pin_mode', 'varchar(16)', (c) => c.notNull())
        .addColumn('token_lifetime_days', 'integer')
        .addColumn('activation_lifetime_days', 'integer', (c) => c.notNull())
        .addColumn('file_password_policy', 'varchar(16)', (c) => c.notNull())
        .addColumn('file_password_sealed', 'text')
        .addColumn('self_service', 'integer', (c) => c.notNull())
        .addColumn('requires_approval', 'integer', (c) => c.notNull())
        .addColumn('ctkip_url', 'varchar(512)')
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .execute();

      await idColumn(dialect, db.schema.createTable('distributions'))
        .addColumn('token_id', reference, (c) => c.notNull().references('tokens.id').onDelete('cascade'))
        .addColumn('delivery', 'varchar(16)', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        // Selects an open CT-KIP distribution by the first digits of its code; cleared when it closes.
        .addColumn('locator', 'varchar(16)', (c) => c.unique())
        // Keyed hash of the activation code, or SHA-256 of a download link's token.
        .addColumn('secret_hash', 'varchar(64)', (c) => c.unique())
        .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('file_password_sealed', 'text')
        .addColumn('expires_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('created_by', 'varchar(128)', (c) => c.notNull())
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('redeemed_at', timeColumn(dialect))
        .execute();
      await db.schema.createIndex('distributions_token').on('distributions').columns(['token_id', 'state']).execute();
    },
  };
}
