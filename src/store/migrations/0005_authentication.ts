import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function authentication(dialect: Dialect) {
  const reference = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await idColumn(dialect, db.schema.createTable('radius_clients'))
        .addColumn('name', 'varchar(128)', (c) => c.notNull().unique())
        .addColumn('address', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('require_message_authenticator', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      // Challenges live in the store: the answer to a challenge may reach another node.
      await db.schema
        .createTable('auth_challenges')
        .addColumn('state', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('token_id', reference, (c) => c.notNull().references('tokens.id').onDelete('cascade'))
        .addColumn('kind', 'varchar(24)', (c) => c.notNull())
        .addColumn('data', 'text')
        .addColumn('expires_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      await db.schema.alterTable('tokens').addColumn('emergency_hash', 'varchar(64)').execute();
      await db.schema.alterTable('tokens').addColumn('emergency_expires_at', timeColumn(dialect)).execute();
      await db.schema.alterTable('tokens').addColumn('emergency_one_time', 'integer').execute();
    },
  };
}
