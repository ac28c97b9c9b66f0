import { timingSafeEqual } from 'node:crypto';
import { TallyError } from '../../errors.js';
import { checkOtpKey, hotp, type OtpKey } from './hotp.js';

export interface CounterSearch extends OtpKey {
  /** The code the user typed. */
  code: string;
  /** The counter expected now: HOTP's next unused counter, or the TOTP step of the current time. */
  startCounter: number;
  /** How many counters after `startCounter` are tried as well (look-ahead). */
  window: number;
  /** How many counters before `startCounter` are tried as well (TOTP clock drift); default 0. */
  behind?: number;
}

export type CounterMatch = { matched: true; counter: number; offset: number } | { matched: false };

function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TallyError('VALIDATION_FAILED', `${what} must be a whole number, 0 or more.`);
  }
}

/**
 * Finds the counter whose code equals `code` within [startCounter - behind, startCounter + window].
 * Every candidate is computed and compared in constant time, with no early exit, so the time taken
 * does not tell which counter matched. When several match (6 digits collide now and then), the one
 * nearest `startCounter` wins, the earlier one on a tie. Replay protection (refusing counters
 * already used) is the caller's: pass a `startCounter` and `behind` that exclude them.
 */
export function findMatchingCounter(search: CounterSearch): CounterMatch {
  const key = checkOtpKey(search);
  const behind = search.behind ?? 0;
  checkCount(search.startCounter, 'The start counter');
  checkCount(search.window, 'The window');
  checkCount(behind, 'The look-behind');
  if (search.code.length !== key.digits || !/^[0-9]+$/.test(search.code)) return { matched: false };
  const typed = Buffer.from(search.code, 'ascii');
  const first = Math.max(0, search.startCounter - behind);
  const last = search.startCounter + search.window;
  let best: number | undefined;
  for (let counter = first; counter <= last; counter++) {
    const equal = timingSafeEqual(Buffer.from(hotp(key, counter), 'ascii'), typed);
    const nearer =
      best === undefined || Math.abs(counter - search.startCounter) < Math.abs(best - search.startCounter);
    if (equal && nearer) best = counter;
  }
  return best === undefined
    ? { matched: false }
    : { matched: true, counter: best, offset: best - search.startCounter };
}
