/**
 * CTF v3 token strings (the newer apps' format): a 291-byte container, base64, with PBKDF2-derived
 * AES-256-CBC and HMAC-SHA256 keys; securid.md "CTF v3". These functions handle the plain base64;
 * ctf.ts adds the percent-encoding and the app link around it.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidInput, TallyError } from '../../errors.js';
import { type CtfSecrets, checkCtfPassword, deviceIdRequired, passwordRequired, wrongDeviceId, wrongPassword } from './ctf-secrets.js';
import { checkSecurIdToken, dateOfEpochDay, epochDay, featuresOf, type SecurIdToken } from './token.js';

const VERSION = 3;
const CONTAINER_BYTES = 291;
const NONCE_BYTES = 16;
const PAYLOAD_BYTES = 176;
const DEVICE_ID_BYTES = 48;

// Offsets in the container.
const DEVICE_HASH_AT = 3;
const PASSWORD_HASH_AT = 35;
const NONCE_AT = 67;
const PAYLOAD_AT = 83;
const MAC_AT = 259;

// Offsets in the decrypted payload.
const SERIAL_AT = 0;
const SEED_AT = 16;
/** Two bytes every v3 payload has set to 1. */
const FIXED_ONES_AT = 32;
const MODE_AT = 34;
const DIGITS_AT = 35;
const PIN_AT = 36;
const INTERVAL_AT = 37;
const EXPIRY_AT = 48;
const PADDING_AT = 160;

const PIN_NOT_REQUIRED = 0x1f;
const PIN_REQUIRED = 0x21;
/** The expiry is a count of 1/337500 days since 1970-01-01 in 40 bits (room up to year 10000). */
const EXPIRY_UNITS_PER_DAY = 337_500;

const MAC_KEY_CONSTANT = Buffer.from('d014433c6d179febda09abfc3249634c', 'hex');
const ENCRYPTION_KEY_CONSTANT = Buffer.from('3bafff4d918d89b68160de444e05c0dd', 'hex');
const PBKDF2_ITERATIONS = 1000;

/** The device ID as the format hashes it: alphanumerics, upper-cased, at most 48, zero-padded. */
function deviceIdBlock(deviceId: string | undefined): Buffer {
  const block = Buffer.alloc(DEVICE_ID_BYTES);
  if (deviceId) {
    Buffer.from(deviceId.replace(/[^0-9A-Za-z]/g, '').toUpperCase(), 'latin1').copy(block, 0, 0, DEVICE_ID_BYTES);
  }
  return block;
}

function deriveKey(password: Buffer, device: Buffer, constant: Buffer, nonce: Buffer): Buffer {
  const material = Buffer.concat([password, device, constant, nonce]);
  // The apps feed PBKDF2 every other byte of this material (a UTF-16 mix-up kept for compatibility).
  const everyOther = Buffer.alloc(Math.floor(material.length / 2));
  for (let i = 0; i < everyOther.length; i++) everyOther[i] = material.readUInt8(2 * i + 1);
  return pbkdf2Sync(everyOther, nonce, PBKDF2_ITERATIONS, 32, 'sha256');
}

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function fortyBitExpiry(expiresOn: string): Buffer {
  const out = Buffer.alloc(5);
  out.writeUIntBE((epochDay(expiresOn) as number) * EXPIRY_UNITS_PER_DAY, 0, 5);
  return out;
}

/** Encodes a token as a CTF v3 string (plain base64; see ctf.ts for the app link). */
export function encodeCtfV3(token: SecurIdToken, options: CtfSecrets & { nonce?: Buffer } = {}): string {
  checkSecurIdToken(token);
  const nonce = options.nonce ?? randomBytes(NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES) throw invalidInput('ctfV3Nonce');
  checkCtfPassword(options.password);
  const password = Buffer.from(options.password ?? '', 'utf8');
  const device = deviceIdBlock(options.deviceId);

  const payload = Buffer.alloc(PAYLOAD_BYTES);
  payload.write(token.serial, SERIAL_AT, 'latin1');
  token.seed.copy(payload, SEED_AT);
  payload.fill(1, FIXED_ONES_AT, FIXED_ONES_AT + 2);
  payload[MODE_AT] = featuresOf(token).mode ? 1 : 0;
  payload[DIGITS_AT] = token.digits;
  payload[PIN_AT] = token.addPin ? PIN_REQUIRED : PIN_NOT_REQUIRED;
  payload[INTERVAL_AT] = token.period;
  fortyBitExpiry(token.expiresOn).copy(payload, EXPIRY_AT);
  payload.fill(0x10, PADDING_AT);

  const cipher = createCipheriv('aes-256-cbc', deriveKey(password, device, ENCRYPTION_KEY_CONSTANT, nonce), nonce);
  cipher.setAutoPadding(false);
  const head = Buffer.concat([
    Buffer.from([VERSION, password.length > 0 ? 1 : 0, options.deviceId ? 1 : 0]),
    sha256(nonce, device),
    sha256(nonce, device, password),
    nonce,
    cipher.update(payload),
    cipher.final(),
  ]);
  const mac = createHmac('sha256', deriveKey(password, device, MAC_KEY_CONSTANT, nonce))
    .update(head)
    .digest();
  return Buffer.concat([head, mac]).toString('base64');
}

function formatError(message: string): TallyError {
  return new TallyError('FORMAT_INVALID', message);
}

/**
 * Decodes a CTF v3 string (plain base64). Throws FORMAT_INVALID for one that is not, PASSWORD_REQUIRED
 * / WRONG_PASSWORD for a missing or wrong password or device ID (`details.secret` says which), and
 * INTEGRITY_CHECK_FAILED when the MAC does not verify.
 */
export function decodeCtfV3(base64: string, options: CtfSecrets = {}): SecurIdToken {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw formatError('A CTF v3 string is base64; this one has other characters.');
  const container = Buffer.from(base64, 'base64');
  if (container.length !== CONTAINER_BYTES) {
    throw formatError(`A CTF v3 string holds ${CONTAINER_BYTES} bytes; this one holds ${container.length}.`);
  }
  if (container[0] !== VERSION) throw formatError(`The CTF string is version ${container[0]}, not 3.`);
  const [passwordLocked, deviceLocked] = [container.readUInt8(1), container.readUInt8(2)];
  if (passwordLocked > 1 || deviceLocked > 1) throw formatError('The CTF v3 lock flags must be 0 or 1.');
  if (deviceLocked && !options.deviceId) throw deviceIdRequired();
  if (passwordLocked && !options.password) throw passwordRequired();

  const nonce = container.subarray(NONCE_AT, NONCE_AT + NONCE_BYTES);
  const device = deviceIdBlock(deviceLocked ? options.deviceId : undefined);
  const password = Buffer.from(passwordLocked ? (options.password as string) : '', 'utf8');
  if (!timingSafeEqual(sha256(nonce, device), container.subarray(DEVICE_HASH_AT, DEVICE_HASH_AT + 32))) {
    if (deviceLocked) throw wrongDeviceId();
    throw new TallyError('INTEGRITY_CHECK_FAILED', 'The CTF v3 string is damaged (its device check does not verify).');
  }
  if (!timingSafeEqual(sha256(nonce, device, password), container.subarray(PASSWORD_HASH_AT, PASSWORD_HASH_AT + 32))) {
    if (passwordLocked) throw wrongPassword();
    throw new TallyError('INTEGRITY_CHECK_FAILED', 'The CTF v3 string is damaged (its password check does not verify).');
  }
  const head = container.subarray(0, MAC_AT);
  const mac = createHmac('sha256', deriveKey(password, device, MAC_KEY_CONSTANT, nonce))
    .update(head)
    .digest();
  if (!timingSafeEqual(mac, container.subarray(MAC_AT))) {
    throw new TallyError('INTEGRITY_CHECK_FAILED', 'The CTF v3 string failed its MAC check; it is damaged or was changed.');
  }

  const decipher = createDecipheriv('aes-256-cbc', deriveKey(password, device, ENCRYPTION_KEY_CONSTANT, nonce), nonce);
  decipher.setAutoPadding(false);
  const payload = Buffer.concat([decipher.update(container.subarray(PAYLOAD_AT, MAC_AT)), decipher.final()]);
  const serial = payload.toString('latin1', SERIAL_AT, SERIAL_AT + 12);
  if (!/^\d{12}$/.test(serial)) throw formatError('The CTF v3 serial is not 12 digits.');
  const digits = payload.readUInt8(DIGITS_AT);
  if (digits < 1 || digits > 8) throw formatError('The CTF v3 digits must be from 1 to 8.');
  const interval = payload.readUInt8(INTERVAL_AT);
  if (interval !== 30 && interval !== 60) throw formatError('The CTF v3 interval must be 30 or 60 seconds.');
  const expiryDay = Math.floor(payload.readUIntBE(EXPIRY_AT, 5) / EXPIRY_UNITS_PER_DAY);

  return {
    serial,
    seed: Buffer.from(payload.subarray(SEED_AT, SEED_AT + 16)),
    digits,
    period: interval,
    addPin: payload[PIN_AT] !== PIN_NOT_REQUIRED,
    // v3 carries no local-PIN or seed-derivation flags; these are what stoken assumes for it.
    localPin: false,
    expiresOn: dateOfEpochDay(expiryDay),
    features: { timeDerivedSeeds: true, appDerivedSeeds: false, mode: payload[MODE_AT] !== 0 },
  };
}
