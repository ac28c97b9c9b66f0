import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function ctkip(dialect: Dialect) {
  const reference = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<any>): Promise<void> {
      await idColumn(dialect, db.schema.createTable('ctkip_server_keys'))
        .addColumn('private_key_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('retired_at', timeColumn(dialect))
        .execute();
      // In the store, not in memory: any node may answer the second request, and a restart mid-exchange is survivable.
      await db.schema
        .createTable('ctkip_sessions')
        .addColumn('session_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('distribution_id', reference, (c) => c.notNull().references('distributions.id').onDelete('cascade'))
        .addColumn('server_nonce', 'varchar(64)', (c) => c.notNull())
        .addColumn('key_id', reference, (c) => c.notNull().references('ctkip_server_keys.id'))
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('expires_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ctkip_sessions_expiry').on('ctkip_sessions').column('expires_at').execute();
    },
  };
}
