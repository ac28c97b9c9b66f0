import type { UserRepository } from '../store/repositories/users.js';
import type { Connection } from '../store/unit-of-work.js';
import type { Clock } from './clock.js';

export interface LockoutSettings {
  /** Consecutive failures that lock a user. */
  threshold: number;
  /** How long a lock lasts; 0 means until an admin unlocks. */
  durationMinutes: number;
}

/** A user's failure count and lock after a failure was counted. */
export interface FailureCounts {
  failed_logons: number;
  locked_until: number | null;
}

export const DEFAULT_LOCKOUT: LockoutSettings = { threshold: 10, durationMinutes: 15 };

/** Far enough to mean "until an admin unlocks", small enough for every integer column. */
const UNTIL_UNLOCKED = 32_503_680_000_000; // 3000-01-01
const UNKNOWN_USERS_TRACKED = 10_000;

/**
 * Lockout by user: consecutive failures (passwords at log-on and passcodes at authentication
 * alike) lock the user. Counting is one conditional update in the database, so concurrent
 * failures on several nodes all count. Unknown usernames are counted too (in memory), so that
 * guessing against a name that does not exist looks like guessing against one that does.
 */
export class Lockout {
  private readonly unknown = new Map<string, { failures: number; lockedUntil: number }>();

  constructor(
    private readonly users: UserRepository,
    private readonly clock: Clock,
    readonly settings: LockoutSettings,
  ) {}

  isLocked(user: { locked_until: number | null }): boolean {
    return user.locked_until !== null && user.locked_until > this.clock.now();
  }

  private lockUntil(): number {
    return this.settings.durationMinutes === 0 ? UNTIL_UNLOCKED : this.clock.now() + this.settings.durationMinutes * 60_000;
  }

  /** Counts a failure; returns whether the user is now locked. */
  async recordFailure(userId: number, connection?: Connection): Promise<boolean> {
    const counts = (await this.recordFailures([userId], connection)).get(userId);
    return counts !== undefined && this.isLocked(counts);
  }

  /**
   * Counts one failure for each user in one statement (a batch of authentications, inside its
   * transaction), and returns each one's new count and lock.
   */
  async recordFailures(userIds: readonly number[], connection?: Connection): Promise<Map<number, FailureCounts>> {
    const rows = await this.users.countFailures(userIds, this.settings.threshold, this.lockUntil(), connection);
    return new Map(rows.map(({ id, ...counts }) => [id, counts]));
  }

  async recordSuccess(userId: number, connection?: Connection): Promise<void> {
    await this.recordSuccesses([userId], connection);
  }

  /** Clears the failures of each user that has any, in one statement. */
  async recordSuccesses(userIds: readonly number[], connection?: Connection): Promise<void> {
    await this.users.clearFailures(userIds, connection);
  }

  async unlock(userId: number, users: UserRepository = this.users): Promise<void> {
    await users.unlock(userId);
  }

  unknownIsLocked(username: string): boolean {
    const entry = this.unknown.get(username);
    return entry !== undefined && entry.lockedUntil > this.clock.now();
  }

  recordUnknownFailure(username: string): boolean {
    const entry = this.unknown.get(username) ?? { failures: 0, lockedUntil: 0 };
    entry.failures++;
    if (entry.failures >= this.settings.threshold) entry.lockedUntil = this.lockUntil();
    this.unknown.delete(username);
    this.unknown.set(username, entry);
    if (this.unknown.size > UNKNOWN_USERS_TRACKED) this.unknown.delete(this.unknown.keys().next().value as string);
    return entry.lockedUntil > this.clock.now();
  }
}
