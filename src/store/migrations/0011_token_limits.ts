import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function tokenLimits(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // A PSKC key's <Policy> (RFC 6030, section 4.3.4): the time it may be used from and until, and
      // how many more codes it may be used for (null: no limit). Each accepted code takes one use in
      // the same conditional update that marks its step used.
      await db.schema.alterTable('tokens').addColumn('valid_from', timeColumn(dialect)).execute();
      await db.schema.alterTable('tokens').addColumn('valid_until', timeColumn(dialect)).execute();
      await db.schema.alterTable('tokens').addColumn('transactions_left', 'integer').execute();
      // Wrong pairs of codes offered to resynchronise the token since its last good one: a holder
      // who has offered too many must ask the help desk.
      await db.schema
        .alterTable('tokens')
        .addColumn('resync_failures', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // How many answers a challenge chain (new PIN, confirm PIN) has had: it ends after a few.
      await db.schema
        .alterTable('auth_challenges')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  };
}
