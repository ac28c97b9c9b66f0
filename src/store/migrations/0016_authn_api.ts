import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function authnApi(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // Agents of the RSA SecurID Authentication API, by the name they send as clientId; the access key is kept as its SHA-256.
      await idColumn(dialect, db.schema.createTable('authn_agents'))
        .addColumn('name', 'varchar(128)', (c) => c.notNull().unique())
        .addColumn('key_hash', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('rotated_at', timeColumn(dialect))
        .execute();
      // Attempts live in the store, so that any node continues an attempt another began.
      await db.schema
        .createTable('authn_attempts')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('agent_name', 'varchar(128)', (c) => c.notNull())
        .addColumn('username', 'varchar(128)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('message_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('awaited_method', 'varchar(64)', (c) => c.notNull())
        .addColumn('challenge_state', 'text')
        .addColumn('prompt', 'text')
        .addColumn('expires_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('authn_attempts_expires_at').on('authn_attempts').column('expires_at').execute();
    },
  };
}
