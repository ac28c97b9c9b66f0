import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { TallyError } from '../../errors.js';

/**
 * Seeds and private keys at rest: AES-256-GCM under a versioned master key. A ciphertext reads
 * `v<version>.<base64(iv || tag || ciphertext)>`, so a keyring can hold old keys while
 * `tally rotate-master-key` re-encrypts, and every value says which key opens it.
 */
export interface MasterKey {
  version: number;
  key: Buffer;
}

export interface Keyring {
  /** The key new ciphertexts use: the highest version. */
  current: MasterKey;
  byVersion: Map<number, Buffer>;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function makeKeyring(keys: MasterKey[]): Keyring {
  if (keys.length === 0) throw new TallyError('MASTER_KEY_MISSING');
  const byVersion = new Map<number, Buffer>();
  for (const { version, key } of keys) {
    if (key.length !== 32) {
      throw new TallyError('MASTER_KEY_INVALID', `Master key version ${version} must be 32 bytes (it is ${key.length}).`);
    }
    if (byVersion.has(version)) throw new TallyError('MASTER_KEY_INVALID', `Master key version ${version} appears twice.`);
    byVersion.set(version, key);
  }
  const current = keys.reduce((a, b) => (b.version > a.version ? b : a));
  return { current, byVersion };
}

/** Parses the keyring text: lines `v<N>:<base64 32 bytes>`, or one bare base64 key (version 1). */
export function parseKeyring(text: string): Keyring {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const [single, ...more] = lines;
  if (single !== undefined && more.length === 0 && !single.includes(':')) {
    return makeKeyring([{ version: 1, key: decodeKey(single, 1) }]);
  }
  return makeKeyring(
    lines.map((line) => {
      const match = /^v(\d{1,6}):(\S+)$/.exec(line);
      if (!match) throw new TallyError('MASTER_KEY_INVALID', 'Each master key line must read v<version>:<base64 key>.');
      const [, versionDigits = '', key = ''] = match;
      const version = Number(versionDigits);
      return { version, key: decodeKey(key, version) };
    }),
  );
}

function decodeKey(base64: string, version: number): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
    throw new TallyError('MASTER_KEY_INVALID', `Master key version ${version} is not base64.`);
  }
  return Buffer.from(base64, 'base64');
}

export function formatKeyring(keyring: Keyring): string {
  return `${[...keyring.byVersion.entries()]
    .sort(([a], [b]) => a - b)
    .map(([version, key]) => `v${version}:${key.toString('base64')}`)
    .join('\n')}\n`;
}

export function generateMasterKey(version: number): MasterKey {
  return { version, key: randomBytes(32) };
}

/** Seals plaintext; `context` binds the ciphertext to its place (e.g. `token:<serial>:seed`). */
export function seal(keyring: Keyring, plaintext: Uint8Array, context: string): string {
  const { version, key } = keyring.current;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`tally:${version}:${context}`));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `v${version}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

export function keyVersionOf(sealed: string): number {
  const match = /^v(\d+)\./.exec(sealed);
  if (!match) throw new TallyError('MASTER_KEY_INVALID', 'A stored secret is not in the sealed format.');
  return Number(match[1]);
}

export function open(keyring: Keyring, sealed: string, context: string): Buffer {
  const version = keyVersionOf(sealed);
  const key = keyring.byVersion.get(version);
  if (!key) {
    throw new TallyError('MASTER_KEY_INVALID', `A stored secret needs master key version ${version}, which the keyring lacks.`);
  }
  const raw = Buffer.from(sealed.slice(sealed.indexOf('.') + 1), 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new TallyError('MASTER_KEY_INVALID', 'A stored secret is truncated.');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(`tally:${version}:${context}`));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new TallyError('MASTER_KEY_INVALID', 'A stored secret does not open with the master key (wrong key or altered data).');
  }
}
