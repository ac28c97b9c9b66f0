import { invalidInput } from '../../errors.js';

/**
 * Flags that RSA's apps and servers carry with a token. None of them changes the tokencode; they are
 * kept so that a token read from one format and written to another says what the original said.
 */
export interface SecurIdFeatures {
  /** sdtid TimeDerivedSeeds, CTF v2 flag bit 9. */
  timeDerivedSeeds: boolean;
  /** sdtid AppDerivedSeeds, CTF v2 flag bit 11. */
  appDerivedSeeds: boolean;
  /** sdtid Mode, CTF v2 flag bit 10, the CTF v3 mode byte. */
  mode: boolean;
}

/** What stoken puts in a token it issues; writers use it when a token has no `features`. */
export const DEFAULT_FEATURES: Readonly<SecurIdFeatures> = Object.freeze({
  timeDerivedSeeds: true,
  appDerivedSeeds: false,
  mode: false,
});

/** A SecurID-compatible 128-bit (AES) time-based token: what sdtid files and CTF strings carry. */
export interface SecurIdToken {
  /** Twelve decimal digits; shorter serials from sdtid files are left-padded with zeros. */
  serial: string;
  /** The 16-byte AES-128 seed. */
  seed: Buffer;
  /** Tokencode length, 1 to 8. */
  digits: number;
  period: 30 | 60;
  /** The PIN is added into the tokencode digit by digit (PIN mode 2 or 3). */
  addPin: boolean;
  /** The app checks the PIN itself (PIN mode 1 or 3); the tokencode is unaffected. */
  localPin: boolean;
  /** The last day the token is valid, `YYYY-MM-DD` (UTC): the sdtid Death date. */
  expiresOn: string;
  userLogin?: string;
  /** Absent: DEFAULT_FEATURES. Readers always fill it in. */
  features?: SecurIdFeatures;
}

const DAY_SECONDS = 86_400;

/** Days since 1970-01-01 of a `YYYY-MM-DD` date, or undefined when it is not a real date. */
export function epochDay(date: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const millis = Date.UTC(year, month - 1, day);
  const back = new Date(millis);
  // Date.UTC maps years 0..99 to 1900..1999 and rolls 2025-02-30 over; both mean "not that date".
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) {
    return undefined;
  }
  return millis / 1000 / DAY_SECONDS;
}

/** The `YYYY-MM-DD` date of a day number counted from 1970-01-01. */
export function dateOfEpochDay(day: number): string {
  return new Date(day * DAY_SECONDS * 1000).toISOString().slice(0, 10);
}

/** Throws VALIDATION_FAILED naming the first of the fields a tokencode depends on that is out of range. */
export function checkTokencodeFields(token: Pick<SecurIdToken, 'serial' | 'seed' | 'digits' | 'period'>): void {
  if (typeof token.serial !== 'string' || !/^\d{12}$/.test(token.serial)) {
    throw invalidInput('securIdTokenSerial');
  }
  if (!Buffer.isBuffer(token.seed) || token.seed.length !== 16) throw invalidInput('securIdTokenSeed');
  if (!Number.isInteger(token.digits) || token.digits < 1 || token.digits > 8) {
    throw invalidInput('securIdTokenDigits');
  }
  if (token.period !== 30 && token.period !== 60) {
    throw invalidInput('securIdTokenPeriod');
  }
}

/** Throws VALIDATION_FAILED naming the first field that no SecurID format could carry. */
export function checkSecurIdToken(token: SecurIdToken): void {
  checkTokencodeFields(token);
  const day = epochDay(token.expiresOn);
  if (day === undefined || day < 0) throw invalidInput('securIdTokenExpiry');
}

/** The features to write for a token: its own, or what stoken gives a new token. */
export function featuresOf(token: SecurIdToken): SecurIdFeatures {
  return token.features ?? DEFAULT_FEATURES;
}
