import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function bulkDistributions(dialect: Dialect) {
  const reference = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<any>): Promise<void> {
      // In the store, not in memory: any node can show the progress, and the report outlives the process.
      await idColumn(dialect, db.schema.createTable('bulk_distributions'))
        .addColumn('profile', 'varchar(128)', (c) => c.notNull())
        .addColumn('created_by', 'varchar(128)', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('total', 'integer', (c) => c.notNull())
        .addColumn('distributed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('finished_at', timeColumn(dialect))
        .execute();
      await idColumn(dialect, db.schema.createTable('bulk_distribution_items'))
        .addColumn('bulk_id', reference, (c) => c.notNull().references('bulk_distributions.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('username', 'varchar(128)', (c) => c.notNull())
        .addColumn('result', 'varchar(16)', (c) => c.notNull())
        .addColumn('serial', 'varchar(64)')
        .addColumn('error', 'varchar(64)')
        .addColumn('message', 'varchar(512)')
        .execute();
      await db.schema
        .createIndex('bulk_distribution_items_bulk')
        .on('bulk_distribution_items')
        .columns(['bulk_id', 'result', 'position'])
        .execute();
    },
  };
}
