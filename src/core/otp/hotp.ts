import { createHmac } from 'node:crypto';
import { invalidInput, TallyError } from '../../errors.js';
import { hmacSha1 } from '../crypto/small-hash.js';

/** The HMAC hash of an OATH token, named as otpauth links and oathtool name it. */
export type OtpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export const OTP_ALGORITHMS: readonly OtpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];

const NODE_DIGEST: Record<OtpAlgorithm, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

/** What every OATH code computation needs; defaults are RFC 4226's (SHA-1, 6 digits). */
export interface OtpKey {
  secret: Uint8Array;
  algorithm?: OtpAlgorithm;
  /** 6, 7 or 8. */
  digits?: number;
}

const MAX_COUNTER = (1n << 64n) - 1n;

function counterBytes(counter: number | bigint): Buffer {
  if (typeof counter === 'number' && Number.isSafeInteger(counter) && counter >= 0) {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
    bytes.writeUInt32BE(counter % 2 ** 32, 4);
    return bytes;
  }
  const value = typeof counter === 'bigint' ? counter : Number.isSafeInteger(counter) ? BigInt(counter) : -1n;
  if (value < 0n || value > MAX_COUNTER) {
    throw invalidInput('otpCounterRange');
  }
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(value);
  return bytes;
}

/** Checks the parameters once so that every caller (HOTP, TOTP, windows) refuses the same things. */
function checkOtpKey(key: OtpKey): { secret: Uint8Array; algorithm: OtpAlgorithm; digits: number } {
  const algorithm = key.algorithm ?? 'SHA1';
  const digits = key.digits ?? 6;
  if (!OTP_ALGORITHMS.includes(algorithm)) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', 'OATH tokens use SHA1, SHA256 or SHA512.');
  }
  if (!Number.isInteger(digits) || digits < 6 || digits > 8) {
    throw invalidInput('oathDigits');
  }
  if (key.secret.length === 0) throw invalidInput('oathSecretEmpty');
  return { secret: key.secret, algorithm, digits };
}

/** HMAC(secret, counter as 8 bytes big-endian): RFC 4226 section 5.3 step 1. */
export function hotpHmac(secret: Uint8Array, counter: number | bigint, algorithm: OtpAlgorithm = 'SHA1'): Buffer {
  // SHA-1, nearly every token's, on the authentication hot path: the cheaper small-input HMAC.
  if (algorithm === 'SHA1') return hmacSha1(secret, counterBytes(counter));
  return createHmac(NODE_DIGEST[algorithm], secret).update(counterBytes(counter)).digest();
}

/** RFC 4226 dynamic truncation: 31 bits at the offset named by the low nibble of the last byte. */
export function dynamicTruncate(hmac: Uint8Array): number {
  // An HMAC is at least 20 bytes and the offset at most 15, so all four bytes are in range.
  const offset = hmac[hmac.length - 1]! & 0x0f;
  return ((hmac[offset]! & 0x7f) << 24) | (hmac[offset + 1]! << 16) | (hmac[offset + 2]! << 8) | hmac[offset + 3]!;
}

/** The HOTP code for one counter value, zero-padded to `digits`. */
export function hotp(key: OtpKey, counter: number | bigint): string {
  const { secret, algorithm, digits } = checkOtpKey(key);
  const value = dynamicTruncate(hotpHmac(secret, counter, algorithm)) % 10 ** digits;
  return String(value).padStart(digits, '0');
}
