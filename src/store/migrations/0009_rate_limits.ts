import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function rateLimits(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // The log-on rate limit per address, in the store so that every node behind a load balancer
      // counts the same attempts (it was kept in each process's memory).
      await db.schema
        .createTable('rate_limits')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('window_start', timeColumn(dialect), (c) => c.notNull())
        .addColumn('hits', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rate_limits_window_start').on('rate_limits').column('window_start').execute();
    },
  };
}
