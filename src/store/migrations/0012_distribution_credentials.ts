import type { Kysely } from 'kysely';

export function distributionCredentials() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // The outstanding credential of an open distribution (its activation code, or its download
      // link's token), sealed under the master key, so the holder's Activate page can show it
      // again without issuing a new one: opening a page never changes state.
      await db.schema.alterTable('distributions').addColumn('credential_sealed', 'text').execute();
    },
  };
}
