import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function directorySync(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      const sources = () => db.schema.alterTable('identity_sources');
      // Each source is synced every `sync_interval_minutes` (0: only when asked) by one node at a
      // time: the node that claims it (a conditional update) holds a lease until `sync_lease_until`.
      await sources()
        .addColumn('sync_interval_minutes', 'integer', (c) => c.notNull().defaultTo(60))
        .execute();
      await sources().addColumn('next_sync_at', timeColumn(dialect)).execute();
      await sources().addColumn('sync_lease_owner', 'varchar(64)').execute();
      await sources().addColumn('sync_lease_until', timeColumn(dialect)).execute();
      // What the last sync found: when, ok or failed, and its counts or its error code (JSON).
      await sources().addColumn('last_sync_at', timeColumn(dialect)).execute();
      await sources().addColumn('last_sync_outcome', 'varchar(16)').execute();
      await sources().addColumn('last_sync_result', 'text').execute();
    },
  };
}
