import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function settings(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // Settings an administrator changes at run time (the per-user token limit, the self-service
      // switches): in the store, so every node reads the same. Only changed settings have a row;
      // the value is JSON, checked by the domain's schema of settings.
      await db.schema
        .createTable('settings')
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_by', 'varchar(128)', (c) => c.notNull())
        .execute();
      // The token a waiting self-service request would replace: a replacement takes that token's
      // place under the per-user token limit, also when an administrator approves it later.
      await db.schema.alterTable('token_requests').addColumn('replaces', 'varchar(64)').execute();
    },
  };
}
