import { invalidInput } from '../../errors.js';
import { hotp, type OtpKey } from './hotp.js';

/** RFC 6238 parameters beyond the HOTP key; defaults are the RFC's (30 s steps from the epoch). */
export interface TotpKey extends OtpKey {
  /** Seconds per step (X): 30 or 60 in practice. */
  period?: number;
  /** Unix time the steps count from (T0). */
  t0?: number;
}

/** floor((unixTime - T0) / period): the moving factor TOTP feeds to HOTP. */
export function totpCounter(unixTime: number, period = 30, t0 = 0): number {
  if (!Number.isSafeInteger(period) || period <= 0) {
    throw invalidInput('totpPeriod');
  }
  if (!Number.isFinite(unixTime) || !Number.isFinite(t0) || unixTime < t0) {
    throw invalidInput('totpTime');
  }
  return Math.floor((unixTime - t0) / period);
}

/** The TOTP code at `unixTime` (seconds, given by the caller: core code has no clock). */
export function totp(key: TotpKey, unixTime: number): string {
  return hotp(key, totpCounter(unixTime, key.period, key.t0));
}
