import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';

export function webSessionFlash(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // A message for the session's next page, shown once (an emergency access code after a token is
      // reported lost): in the store, so the page after the redirect may come from any node; sealed,
      // since it may be a secret; taken by a conditional update, so it is shown once.
      await db.schema.alterTable('web_sessions').addColumn('flash_sealed', 'text').execute();
    },
  };
}
