import type { Kysely } from 'kysely';

export function periodColumn() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // The code period has one name from the REST API to the column: `period` (seconds; 0 for
      // counter-based tokens). Both SQLite and PostgreSQL rename a column in place, data kept.
      await db.schema.alterTable('tokens').renameColumn('period_seconds', 'period').execute();
      await db.schema.alterTable('profiles').renameColumn('period_seconds', 'period').execute();
    },
  };
}
