import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from '../schema.js';

/** An attempt claimed (`failures` now counts it), or refused until `nextAttemptAt`. */
export type LogonClaim = { claimed: true; failures: number } | { claimed: false; nextAttemptAt: number };

/**
 * The wait after a count of failures, in milliseconds: none below `freeFailures`, `steps[i]` after
 * `freeFailures + i`, and `maxMs` beyond the steps.
 */
export interface DelaySchedule {
  freeFailures: number;
  steps: readonly number[];
  maxMs: number;
}

/** The schedule as SQL over a count, for the one statement that claims an attempt. */
function delaySql(schedule: DelaySchedule, failures: RawBuilder<number>): RawBuilder<number> {
  const steps = schedule.steps.map((delay, i) => sql`when ${failures} = ${sql.lit(schedule.freeFailures + i)} then ${sql.lit(delay)}`);
  return sql<number>`(case when ${failures} < ${sql.lit(schedule.freeFailures)} then 0 ${sql.join(steps, sql` `)} else ${sql.lit(schedule.maxMs)} end)`;
}

export class LogonDelayRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Claims the right to check one password for `key`, counted as a failure until `clear` says it
   * was right: one conditional update, so of many attempts racing on many nodes after a wait, one
   * is checked and the others wait for the delay it set. Counts older than `staleBefore` start over.
   * `schedule` gives the wait after the new count of failures.
   */
  async claim(key: string, now: number, staleBefore: number, schedule: DelaySchedule): Promise<LogonClaim> {
    await this.db
      .insertInto('logon_delays')
      .values({ key, failures: 0, last_attempt_at: now, next_attempt_at: 0 })
      .onConflict((c) => c.column('key').doNothing())
      .execute();
    const failures = sql<number>`(case when last_attempt_at < ${staleBefore} then 1 else failures + 1 end)`;
    const claimed = await this.db
      .updateTable('logon_delays')
      .set({ failures, last_attempt_at: now, next_attempt_at: sql<number>`cast(${now} as bigint) + ${delaySql(schedule, failures)}` })
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
