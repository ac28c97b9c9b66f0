import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function logonDelays(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // Failed password log-ons per console and username, in the store so that every node sees the
      // same count. They slow further attempts down (growing delays) instead of locking the user,
      // and they are kept apart from the passcode lockout (users.failed_logons), so that guessing
      // at one console's form cannot lock anyone out of RADIUS, REST or the other console.
      await db.schema
        .createTable('logon_delays')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('last_attempt_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('next_attempt_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('logon_delays_last_attempt_at').on('logon_delays').column('last_attempt_at').execute();
    },
  };
}
