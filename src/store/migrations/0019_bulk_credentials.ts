import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function bulkCredentials(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // A CT-KIP bulk run's credentials file: whether it waits to be downloaded (claimed once by a
      // conditional update on `credentials`), until when its codes work, and who took it. The file
      // itself is never stored: its codes stay sealed in their distributions.
      await db.schema
        .alterTable('bulk_distributions')
        .addColumn('credentials', 'varchar(16)', (c) => c.notNull().defaultTo('none'))
        .execute();
      await db.schema.alterTable('bulk_distributions').addColumn('credentials_expire_at', timeColumn(dialect)).execute();
      await db.schema.alterTable('bulk_distributions').addColumn('credentials_downloaded_at', timeColumn(dialect)).execute();
      await db.schema.alterTable('bulk_distributions').addColumn('credentials_downloaded_by', 'varchar(128)').execute();
    },
  };
}
