import { type Kysely, sql } from 'kysely';
import type { OffLoopCommits } from '../connect.js';
import type { Database } from '../schema.js';

/** A key's count in its current window. */
export interface RateLimitWindow {
  hits: number;
  windowStart: number;
}

export class RateLimitRepository {
  /**
   * `offLoopCommits` (SQLite with durable commits): a hit commits without waiting for a sync; a
   * power cut may forget the last hits, which only shortens a window's count.
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly offLoopCommits?: OffLoopCommits,
  ) {}

  /**
   * Counts one hit on `key`: in its current window, or as the first of a new one starting `now`
   * when the last (of `windowMs`) has ended. One statement, so hits from many nodes at once all count.
   */
  async hit(key: string, now: number, windowMs: number): Promise<RateLimitWindow> {
    const ended = now - windowMs;
    // Both assignments read the row as it was (SQL evaluates SET against the old row).
    const count = (db: Kysely<Database>) =>
      db
        .insertInto('rate_limits')
        .values({ key, window_start: now, hits: 1 })
        .onConflict((conflict) =>
          conflict.column('key').doUpdateSet({
            hits: sql<number>`case when rate_limits.window_start <= ${ended} then 1 else rate_limits.hits + 1 end`,
            window_start: sql<number>`case when rate_limits.window_start <= ${ended} then ${now} else rate_limits.window_start end`,
          }),
        )
        .returning(['hits', 'window_start'])
        .executeTakeFirstOrThrow();
    const row = this.offLoopCommits ? await this.offLoopCommits.commitUnsynced(this.db, count) : await count(this.db);
    return { hits: Number(row.hits), windowStart: Number(row.window_start) };
  }

  /** The hits of `key`'s current window, without counting one: 0 when its window has ended. */
  async peek(key: string, now: number, windowMs: number): Promise<number> {
    const row = await this.db.selectFrom('rate_limits').select(['hits', 'window_start']).where('key', '=', key).executeTakeFirst();
    return row && Number(row.window_start) > now - windowMs ? Number(row.hits) : 0;
  }

  /** Forgets windows that started before `before`. */
  async purge(before: number): Promise<void> {
    await this.db.deleteFrom('rate_limits').where('window_start', '<', before).execute();
  }
}
