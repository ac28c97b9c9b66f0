import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from '../schema.js';

/** An attempt claimed (`failures` now counts it), or refused until `nextAttemptAt`. */
export type LogonClaim = { claimed: true; failures: number } | { claimed: false; nextAttemptAt: number };

export class LogonDelayRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Claims the right to check one password for `key`, counted as a failure until `clear` says it
   * was right: one conditional update, so of many attempts racing on many nodes after a wait, one
   * is checked and the others wait for the delay it set. Counts older than `staleBefore` start over.
   * `delayFor(failures)` is the wait after that many failures, as SQL over the new count.
   */
  async claim(
    key: string,
    now: number,
    staleBefore: number,
    delayFor: (failures: RawBuilder<number>) => RawBuilder<number>,
  ): Promise<LogonClaim> {
    await this.db
      .insertInto('logon_delays')
      .values({ key, failures: 0, last_attempt_at: now, next_attempt_at: 0 })
      .onConflict((c) => c.column('key').doNothing())
      .execute();
    const failures = sql<number>`(case when last_attempt_at < ${staleBefore} then 1 else failures + 1 end)`;
    const claimed = await this.db
      .updateTable('logon_delays')
      .set({ failures, last_attempt_at: now, next_attempt_at: sql<number>`cast(${now} as bigint) + ${delayFor(failures)}` })
      .where('key', '=', key)
      .where((eb) => eb.or([eb('next_attempt_at', '<=', now), eb('last_attempt_at', '<', staleBefore)]))
      .returning('failures')
      .executeTakeFirst();
    if (claimed) return { claimed: true, failures: Number(claimed.failures) };
    const row = await this.db.selectFrom('logon_delays').select('next_attempt_at').where('key', '=', key).executeTakeFirst();
    return { claimed: false, nextAttemptAt: Number(row?.next_attempt_at ?? now) };
  }

  async failures(key: string): Promise<number> {
    const row = await this.db.selectFrom('logon_delays').select('failures').where('key', '=', key).executeTakeFirst();
    return Number(row?.failures ?? 0);
  }

  async clear(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.db.deleteFrom('logon_delays').where('key', 'in', keys).execute();
  }

  /** Forgets counts whose last attempt was before `before`. */
  async purge(before: number): Promise<void> {
    await this.db.deleteFrom('logon_delays').where('last_attempt_at', '<', before).execute();
  }
}
