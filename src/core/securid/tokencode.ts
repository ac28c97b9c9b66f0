import { invalidInput } from '../../errors.js';
import { aesEncrypt } from './aes.js';
import { checkTokencodeFields, type SecurIdToken } from './token.js';

/** What the tokencode depends on; the other token fields do not change it. */
export type TokencodeKey = Pick<SecurIdToken, 'serial' | 'seed' | 'digits' | 'period'>;

function bcd(value: number): number {
  return (Math.floor(value / 10) % 10) * 16 + (value % 10);
}

/** The key chain is keyed by the time truncated at five points: year, month, day, hour, minute. */
const KEY_CHAIN_LENGTHS = [2, 3, 4, 5, 8] as const;

/**
 * The tokencode shown at `unixSeconds` (UTC): the last `digits` digits of one of four 32-bit values,
 * with no PIN added. Pure: the caller passes the time.
 */
export function computeTokencode(token: TokencodeKey, unixSeconds: number): string {
  checkTokencodeFields(token);
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0) {
    throw invalidInput('unixSeconds');
  }
  const when = new Date(unixSeconds * 1000);
  const year = when.getUTCFullYear();
  const minute = when.getUTCMinutes();
  const thirtySeconds = token.period === 30;
  // Four codes come out of each key chain, so the chain's time stops at 4 or 2 minutes.
  const chainMinute = thirtySeconds ? minute & ~1 : minute & ~3;
  const time = Buffer.from([
    bcd(Math.floor(year / 100)),
    bcd(year % 100),
    bcd(when.getUTCMonth() + 1),
    bcd(when.getUTCDate()),
    bcd(when.getUTCHours()),
    bcd(chainMinute),
    0,
    0,
  ]);
  const serialBcd = Buffer.from(token.serial.slice(4), 'hex');

  let key = token.seed;
  for (const length of KEY_CHAIN_LENGTHS) {
    const block = Buffer.alloc(16, 0xaa);
    time.copy(block, 0, 0, length);
    serialBcd.copy(block, 8);
    block.fill(0xbb, 12);
    key = aesEncrypt(key, block);
  }

  const offset = thirtySeconds ? (minute & 1) * 8 + (when.getUTCSeconds() >= 30 ? 4 : 0) : (minute & 3) * 4;
  const code = key.readUInt32BE(offset) % 10 ** token.digits;
  return String(code).padStart(token.digits, '0');
}

function checkPin(pin: string): void {
  if (typeof pin !== 'string' || !/^\d{4,8}$/.test(pin)) {
    throw invalidInput('pinDigits');
  }
}

/**
 * Adds a PIN into a tokencode digit by digit, modulo 10 without carry, aligned on the right; PIN
 * digits beyond the tokencode's length are dropped. The PIN is 4 to 8 digits.
 */
export function addPinToTokencode(tokencode: string, pin: string): string {
  checkPin(pin);
  const digits = [...tokencode];
  for (let i = 1; i <= Math.min(digits.length, pin.length); i++) {
    const at = digits.length - i;
    digits[at] = String((Number(digits[at]) + Number(pin[pin.length - i])) % 10);
  }
  return digits.join('');
}

/**
 * What the software token displays at `unixSeconds`: the tokencode with the PIN added when the token
 * requires it (addPin). Tokens without addPin ignore the PIN, as stoken does; it is still checked.
 */
export function computePasscode(token: TokencodeKey & Pick<SecurIdToken, 'addPin'>, unixSeconds: number, pin: string): string {
  checkPin(pin);
  const tokencode = computeTokencode(token, unixSeconds);
  return token.addPin ? addPinToTokencode(tokencode, pin) : tokencode;
}
