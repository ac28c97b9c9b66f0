import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function mailTemplates(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // Only the templates an administrator edited: the others are Tally's own, in the code, so a new version's wording reaches every store.
      await db.schema
        .createTable('mail_templates')
        .addColumn('kind', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('subject', 'varchar(256)')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_by', 'varchar(128)', (c) => c.notNull())
        .execute();
    },
  };
}
