import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** Small facts about the store itself (initialisation time, the master-key check value). */
export class MetaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('tally_meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  /** Inserts once; returns false when the key exists already (so two inits cannot both win). */
  async insertOnce(key: string, value: string): Promise<boolean> {
    const result = await this.db
      .insertInto('tally_meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async set(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('tally_meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  /** Compare and swap: replaces the value only if it is still `expected`; returns whether it did (a claim across nodes). */
  async replace(key: string, expected: string, next: string): Promise<boolean> {
    const result = await this.db
      .updateTable('tally_meta')
      .set({ value: next })
      .where('key', '=', key)
      .where('value', '=', expected)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
