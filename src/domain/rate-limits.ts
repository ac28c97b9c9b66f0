import type { RateLimitRepository } from '../store/repositories/rate-limits.js';
import type { Clock } from './clock.js';

/** Windows are at most this long; rows of older windows are deleted. */
const LONGEST_WINDOW_MS = 3_600_000;
/** How often a node deletes ended windows. */
const PURGE_EVERY_MS = 60_000;
/** Keys are a form's name and an address; a longer one is cut, never refused. */
const MAX_KEY_LENGTH = 256;

/** A key's attempts so far in its window, and when the window ends. */
export interface RateLimitCount {
  hits: number;
  resetInMs: number;
}

/**
 * Attempts per key and time window (the log-on forms, per address), counted in the store so that
 * every node behind a load balancer sees the same count: an attacker gains nothing by spreading
 * guesses over nodes.
 */
export class RateLimitService {
  private lastPurge = 0;

  constructor(
    private readonly repository: RateLimitRepository,
    private readonly clock: Clock,
  ) {}

  /** The hits counted on `key` in its current window, without counting one. */
  peek(key: string, windowMs: number): Promise<number> {
    return this.repository.peek(key.slice(0, MAX_KEY_LENGTH), this.clock.now(), Math.min(windowMs, LONGEST_WINDOW_MS));
  }

  async hit(key: string, windowMs: number): Promise<RateLimitCount> {
    const now = this.clock.now();
    if (now - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = now;
      await this.repository.purge(now - LONGEST_WINDOW_MS);
    }
    const window = Math.min(windowMs, LONGEST_WINDOW_MS);
    const { hits, windowStart } = await this.repository.hit(key.slice(0, MAX_KEY_LENGTH), now, window);
    return { hits, resetInMs: Math.max(0, windowStart + window - now) };
  }
}
