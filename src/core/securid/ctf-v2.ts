/**
 * CTF v2 token strings: 81 decimal digits, per securid.md "CTF v2". The same string means slightly
 * different things bare and inside an app link (the device ID is hashed over 32 or 40 characters),
 * so both directions take `inLink`.
 */
import { timingSafeEqual } from 'node:crypto';
import { invalidInput, TallyError } from '../../errors.js';
import { aesDecrypt, aesEncrypt, xor } from './aes.js';
import { type CtfSecrets, checkCtfPassword, deviceIdRequired, passwordRequired, wrongDeviceId, wrongPassword } from './ctf-secrets.js';
import { checkSecurIdToken, dateOfEpochDay, epochDay, featuresOf, type SecurIdToken } from './token.js';

export interface CtfV2Options extends CtfSecrets {
  /** The string is (or will be) carried in one of the app links rather than given bare. */
  inLink?: boolean;
}

const FLAG_128_BIT = 1 << 14;
const FLAG_PASSWORD = 1 << 13;
const FLAG_DEVICE_ID = 1 << 12;
const FLAG_APP_DERIVED_SEEDS = 1 << 11;
const FLAG_MODE = 1 << 10;
const FLAG_TIME_DERIVED_SEEDS = 1 << 9;
const DIGITS_SHIFT = 6;
const PIN_MODE_SHIFT = 3;

const KEY_MAGIC = Buffer.from('d8f532538289', 'hex');
/** Keys use at most this many password bytes. */
const MAX_PASSWORD_BYTES = 40;
/** Days from 1970-01-01 to 2000-01-01, the CTF v2 expiry epoch. */
const CTF_V2_EPOCH_DAY = 10_957;
const MAX_EXPIRY_DAYS = (1 << 14) - 1;

/**
 * The AES-based hash of the CTF formats: a Davies-Meyer chain over zero-padded 16-byte chunks, an
 * extra zero chunk after an odd number of non-final chunks, a chunk with the bit length, and a final
 * round keyed by the state itself.
 */
function ctfHash(data: Buffer): Buffer {
  let state: Buffer = Buffer.alloc(16, 0xff);
  const absorb = (chunk: Buffer) => {
    state = xor(state, aesEncrypt(chunk, state));
  };
  const chunks = Math.max(1, Math.ceil(data.length / 16));
  for (let i = 0; i < chunks; i++) {
    const chunk = Buffer.alloc(16);
    data.copy(chunk, 0, 16 * i, 16 * i + 16);
    absorb(chunk);
  }
  if ((chunks - 1) % 2 === 1) absorb(Buffer.alloc(16));
  const bitLength = Buffer.alloc(16);
  bitLength.writeUInt32BE(data.length * 8, 12);
  absorb(bitLength);
  return xor(state, aesEncrypt(state, state));
}

/** The 15-bit short form of ctfHash used for the checksum, seed check and device-ID check. */
function ctfHash15(data: Buffer): number {
  const hash = ctfHash(data);
  return hash.readUInt16BE(0) >> 1;
}

function filteredDeviceId(deviceId: string, inLink: boolean): Buffer {
  const considered = deviceId.slice(0, inLink ? 40 : 32);
  return Buffer.from(considered.replace(/[^0-9a-fA-F]/g, '').toUpperCase(), 'latin1');
}

function sameHash15(a: number, b: number): boolean {
  const pair = Buffer.alloc(4);
  pair.writeUInt16BE(a, 0);
  pair.writeUInt16BE(b, 2);
  return timingSafeEqual(pair.subarray(0, 2), pair.subarray(2));
}

function deviceIdHash15(filtered: Buffer, inLink: boolean): number {
  const padded = Buffer.alloc(inLink ? 40 : 32);
  filtered.copy(padded);
  return ctfHash15(padded);
}

function seedKey(password: string | undefined, filteredDevice: Buffer | undefined): Buffer {
  const passwordBytes = Buffer.from(password ?? '', 'utf8').subarray(0, MAX_PASSWORD_BYTES);
  return ctfHash(Buffer.concat([passwordBytes, filteredDevice ?? Buffer.alloc(0), KEY_MAGIC]));
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width, '0');
}

function checksum(first76: string): string {
  return octal(ctfHash15(Buffer.from(first76, 'latin1')), 5);
}

/** Encodes a token as an 81-digit CTF v2 string, optionally protected by a password and/or device ID. */
export function encodeCtfV2(token: SecurIdToken, options: CtfV2Options & { dashes?: boolean } = {}): string {
  checkSecurIdToken(token);
  const inLink = options.inLink ?? false;
  const password = options.password ? options.password : undefined;
  checkCtfPassword(password);
  const device = options.deviceId ? filteredDeviceId(options.deviceId, inLink) : undefined;
  const expiryDays = (epochDay(token.expiresOn) as number) - CTF_V2_EPOCH_DAY;
  if (expiryDays < 0 || expiryDays > MAX_EXPIRY_DAYS) {
    throw invalidInput('ctfV2Expiry');
  }
  const features = featuresOf(token);
  const flags =
    FLAG_128_BIT |
    (password !== undefined ? FLAG_PASSWORD : 0) |
    (device !== undefined ? FLAG_DEVICE_ID : 0) |
    (features.appDerivedSeeds ? FLAG_APP_DERIVED_SEEDS : 0) |
    (features.mode ? FLAG_MODE : 0) |
    (features.timeDerivedSeeds ? FLAG_TIME_DERIVED_SEEDS : 0) |
    ((token.digits - 1) << DIGITS_SHIFT) |
    (((token.addPin ? 2 : 0) | (token.localPin ? 1 : 0)) << PIN_MODE_SHIFT) |
    (token.period === 60 ? 1 : 0);
  const encryptedSeed = aesEncrypt(seedKey(password, device), token.seed);
  const bits =
    (BigInt(`0x${encryptedSeed.toString('hex')}`) << 61n) |
    (BigInt(flags) << 45n) |
    (BigInt(expiryDays) << 31n) |
    (BigInt(ctfHash15(token.seed)) << 15n) |
    BigInt(deviceIdHash15(device ?? Buffer.alloc(0), inLink));
  const first76 = `2${token.serial}${bits.toString(8).padStart(63, '0')}`;
  const digits = first76 + checksum(first76);
  return options.dashes ? (digits.match(/.{1,5}/g) as string[]).join('-') : digits;
}

function bitsAt(value: bigint, shift: bigint, width: bigint): number {
  return Number((value >> shift) & ((1n << width) - 1n));
}

function formatError(message: string): TallyError {
  return new TallyError('FORMAT_INVALID', message);
}

/**
 * Decodes an 81-digit CTF v2 string (dashes allowed). Throws FORMAT_INVALID for a string that is not
 * one, INTEGRITY_CHECK_FAILED for a wrong checksum, PASSWORD_REQUIRED / WRONG_PASSWORD for a missing
 * or wrong password or device ID (`details.secret` says which).
 */
export function decodeCtfV2(text: string, options: CtfV2Options = {}): SecurIdToken {
  const inLink = options.inLink ?? false;
  const digits = text.replace(/-/g, '');
  if (/[^0-9]/.test(digits)) {
    throw formatError('A CTF v2 string holds only digits (and dashes); this one has other characters.');
  }
  if (digits.length !== 81) throw formatError(`A CTF v2 string has 81 digits; this one has ${digits.length}.`);
  if (digits[0] !== '2') {
    throw formatError(`This is a version ${digits[0]} CTF string; only version 2 (and 3 in links) is supported.`);
  }
  if (/[89]/.test(digits.slice(13))) {
    throw formatError('The CTF v2 string has an 8 or 9 after the serial, where only octal digits can be.');
  }
  const expected = Buffer.from(checksum(digits.slice(0, 76)), 'latin1');
  if (!timingSafeEqual(expected, Buffer.from(digits.slice(76), 'latin1'))) {
    throw new TallyError('INTEGRITY_CHECK_FAILED', 'The CTF v2 checksum does not match; a digit is probably mistyped.');
  }

  const bits = BigInt(`0o${digits.slice(13, 76)}`);
  const flags = bitsAt(bits, 45n, 16n);
  if (!(flags & FLAG_128_BIT)) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', 'The CTF v2 string holds a 64-bit token; only 128-bit (AES) tokens are supported.');
  }

  let device: Buffer | undefined;
  if (flags & FLAG_DEVICE_ID) {
    if (!options.deviceId) throw deviceIdRequired();
    device = filteredDeviceId(options.deviceId, inLink);
    if (!sameHash15(bitsAt(bits, 0n, 15n), deviceIdHash15(device, inLink))) throw wrongDeviceId();
  }
  const passwordProtected = (flags & FLAG_PASSWORD) !== 0;
  if (passwordProtected && !options.password) throw passwordRequired();

  const encryptedSeed = Buffer.from((bits >> 61n).toString(16).padStart(32, '0'), 'hex');
  const seed = aesDecrypt(seedKey(passwordProtected ? options.password : undefined, device), encryptedSeed);
  if (!sameHash15(bitsAt(bits, 15n, 15n), ctfHash15(seed))) {
    if (passwordProtected) throw wrongPassword();
    // The 15-bit device check lets one wrong ID in 32768 through; the seed check catches it here.
    if (device) throw wrongDeviceId();
    throw new TallyError('INTEGRITY_CHECK_FAILED', 'The CTF v2 seed does not match its check value; the string is damaged.');
  }

  const pinMode = (flags >> PIN_MODE_SHIFT) & 3;
  return {
    serial: digits.slice(1, 13),
    seed,
    digits: ((flags >> DIGITS_SHIFT) & 7) + 1,
    period: (flags & 3) !== 0 ? 60 : 30,
    addPin: (pinMode & 2) !== 0,
    localPin: (pinMode & 1) !== 0,
    expiresOn: dateOfEpochDay(CTF_V2_EPOCH_DAY + bitsAt(bits, 31n, 14n)),
    features: {
      timeDerivedSeeds: (flags & FLAG_TIME_DERIVED_SEEDS) !== 0,
      appDerivedSeeds: (flags & FLAG_APP_DERIVED_SEEDS) !== 0,
      mode: (flags & FLAG_MODE) !== 0,
    },
  };
}
