import { createHash } from 'node:crypto';
import { TallyError } from '../errors.js';
import type { DelaySchedule, LogonDelayRepository } from '../store/repositories/logon-delays.js';
import type { Clock } from './clock.js';

/** The consoles whose password log-ons are counted apart. */
export type LogonConsole = 'security' | 'self-service';

export interface LogonDelaySettings {
  /** Failed log-ons in a row that cost nothing. */
  freeFailures: number;
  /** The wait after the first failure beyond the free ones; each further failure doubles it. */
  firstDelaySeconds: number;
  /** The longest wait: a guesser gets about 60 / this many attempts a minute per user. */
  maxDelaySeconds: number;
  /** A count with no attempt for this long starts over. */
  forgetAfterMinutes: number;
}

const DEFAULT_LOGON_DELAYS: LogonDelaySettings = {
  freeFailures: 5,
  firstDelaySeconds: 1,
  maxDelaySeconds: 20,
  forgetAfterMinutes: 60,
};

const USERNAME_KEY_LENGTH = 128;
const PURGE_EVERY_MS = 60_000;

/**
 * Password log-on throttling per console and username, in place of a lock: after a few failures
 * each further attempt must wait (1 s, 2 s, 4 s ... up to a cap), and one that comes early is
 * refused with LOGON_DELAYED without its password being checked, so a guesser is slowed to a few
 * attempts a minute per user, while the user, once the wait is over, logs on with the right
 * password. Counted in the store (every node sees the same count), per console (guessing at the
 * public Self-Service form never slows the Security Console's log-on), and apart from the passcode
 * lockout (no log-on failure ever stops RADIUS or REST authentication). Unknown usernames are
 * counted the same way, so the answers tell nothing about which names exist.
 */
export class LogonDelays {
  private lastPurge = 0;

  constructor(
    private readonly repository: LogonDelayRepository,
    private readonly clock: Clock,
    readonly settings: LogonDelaySettings = DEFAULT_LOGON_DELAYS,
  ) {}

  /** The wait, in milliseconds, after `failures` failed attempts in a row. */
  delayAfter(failures: number): number {
    const beyond = failures - this.settings.freeFailures;
    if (beyond < 0) return 0;
    return Math.min(this.settings.maxDelaySeconds, this.settings.firstDelaySeconds * 2 ** beyond) * 1000;
  }

  /** `delayAfter` as a table, for the one statement that claims an attempt. */
  private schedule(): DelaySchedule {
    const steps: number[] = [];
    let n = this.settings.freeFailures;
    for (; this.delayAfter(n) < this.settings.maxDelaySeconds * 1000; n++) steps.push(this.delayAfter(n));
    return { freeFailures: this.settings.freeFailures, steps, maxMs: this.settings.maxDelaySeconds * 1000 };
  }

  /** A digest of the name as typed: any text is storable (PostgreSQL refuses a NUL), and no row holds a name. */
  private key(console: LogonConsole, username: string): string {
    return `${console}:${createHash('sha256').update(username.slice(0, USERNAME_KEY_LENGTH)).digest('base64url')}`;
  }

  /**
   * Takes one attempt for this console and username, counted as a failure until `succeeded`; throws
   * LOGON_DELAYED (with the seconds to wait) when the wait after the last failure is not over.
   */
  async attempt(console: LogonConsole, username: string): Promise<void> {
    const now = this.clock.now();
    const forgetMs = this.settings.forgetAfterMinutes * 60_000;
    if (now - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = now;
      await this.repository.purge(now - forgetMs);
    }
    const claim = await this.repository.claim(this.key(console, username), now, now - forgetMs, this.schedule());
    if (!claim.claimed) {
      const retryAfterSeconds = Math.max(1, Math.ceil((claim.nextAttemptAt - now) / 1000));
      throw new TallyError('LOGON_DELAYED', undefined, { retryAfterSeconds });
    }
  }

  /** The attempt was right: the count starts over. */
  async succeeded(console: LogonConsole, username: string): Promise<void> {
    await this.repository.clear([this.key(console, username)]);
  }

  /** Failed attempts counted now for this console and username. */
  failures(console: LogonConsole, username: string): Promise<number> {
    return this.repository.failures(this.key(console, username));
  }

  /** An administrator's unlock: both consoles' counts start over. */
  async clear(username: string, repository: LogonDelayRepository = this.repository): Promise<void> {
    await repository.clear([this.key('security', username), this.key('self-service', username)]);
  }
}
