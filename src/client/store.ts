/**
 * The token client's store, as text: a small JSON envelope naming where its key comes from, and
 * the tokens sealed with AES-256-GCM (core/crypto/secret-box) under that key. The key is either a
 * random 32-byte key kept in a file beside the store, or derived from a passphrase with scrypt and a
 * per-store salt. The envelope's key description is bound into the seal, so it cannot be swapped.
 * Pure: store-file.ts does the reading, writing and locking.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { makeKeyring, open, seal } from '../core/crypto/secret-box.js';
import { OTP_ALGORITHMS, type OtpAlgorithm } from '../core/otp/hotp.js';
import type { SecurIdFeatures } from '../core/securid/index.js';
import { TallyError } from '../errors.js';
import { type ClientToken, checkSerial } from './tokens.js';

const STORE_FORMAT = 'tally-token-store';
const STORE_VERSION = 1;
export const STORE_KEY_BYTES = 32;

export type StoreKeySource =
  | { kind: 'key-file' }
  | { kind: 'passphrase'; kdf: 'scrypt'; salt: string; cost: number; blockSize: number; parallelization: number };

export interface StoreEnvelope {
  key: StoreKeySource;
  sealed: string;
}

// scrypt at N = 2^15, r = 8 takes about 0.1 s and 32 MiB: fine once per command.
const SCRYPT = { cost: 2 ** 15, blockSize: 8, parallelization: 1 };
const SALT_BYTES = 16;
// A store file could be edited to ask for a huge scrypt; these bound the memory and time it gets.
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
const MAX_PARALLELIZATION = 16;

function notAStore(label: string, why: string): TallyError {
  return new TallyError('FORMAT_INVALID', `${label} is not a Tally token store (${why}); it was left as it is.`);
}

export function newPassphraseSource(random: (size: number) => Buffer = randomBytes): PassphraseSource {
  return { kind: 'passphrase', kdf: 'scrypt', salt: random(SALT_BYTES).toString('base64'), ...SCRYPT };
}

function scryptMemory(source: { cost: number; blockSize: number }): number {
  return 128 * source.cost * source.blockSize;
}

/** The store key from a passphrase and the store's own salt and scrypt parameters. */
export function passphraseKey(source: PassphraseSource, passphrase: string): Buffer {
  const { cost: N, blockSize: r, parallelization: p } = source;
  return scryptSync(Buffer.from(passphrase, 'utf8'), Buffer.from(source.salt, 'base64'), STORE_KEY_BYTES, {
    N,
    r,
    p,
    maxmem: scryptMemory(source) + 1024 * 1024,
  });
}

function context(source: StoreKeySource): string {
  return `token-store:${STORE_VERSION}:${JSON.stringify(source)}`;
}

/** The tokens as they are kept inside the seal: binary values as hex. */
function tokenToJson(token: ClientToken): Record<string, unknown> {
  if (token.type === 'securid') {
    const { seed, ...rest } = token;
    return { ...rest, seed: seed.toString('hex') };
  }
  const { secret, ...rest } = token;
  return { ...rest, secret: secret.toString('hex') };
}

/** Seals the tokens under `key` and returns the whole store file's text. */
export function sealStore(tokens: readonly ClientToken[], key: Buffer, source: StoreKeySource): string {
  const plaintext = Buffer.from(JSON.stringify({ tokens: tokens.map(tokenToJson) }), 'utf8');
  const sealed = seal(makeKeyring([{ version: 1, key }]), plaintext, context(source));
  return `${JSON.stringify({ format: STORE_FORMAT, version: STORE_VERSION, key: source, sealed }, null, 2)}\n`;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type PassphraseSource = Extract<StoreKeySource, { kind: 'passphrase' }>;

function readKeySource(value: unknown, label: string): StoreKeySource {
  if (!isObject(value)) throw notAStore(label, 'no key description');
  if (value.kind === 'key-file') return { kind: 'key-file' };
  const { kdf, salt, cost, blockSize, parallelization } = value;
  const valid =
    value.kind === 'passphrase' &&
    kdf === 'scrypt' &&
    typeof salt === 'string' &&
    /^[A-Za-z0-9+/]{16,}={0,2}$/.test(salt) &&
    typeof cost === 'number' &&
    typeof blockSize === 'number' &&
    typeof parallelization === 'number' &&
    [cost, blockSize, parallelization].every(Number.isSafeInteger) &&
    cost >= 2 &&
    (cost & (cost - 1)) === 0 &&
    blockSize >= 1 &&
    parallelization >= 1 &&
    parallelization <= MAX_PARALLELIZATION &&
    scryptMemory({ cost, blockSize }) <= MAX_SCRYPT_MEMORY;
  if (!valid) throw notAStore(label, 'its key description is not one Tally writes');
  // Rebuilt in the writer's field order: the description is part of the seal's associated data.
  const source: PassphraseSource = { kind: 'passphrase', kdf, salt, cost, blockSize, parallelization };
  return source;
}

/** Reads the envelope of a store file; `label` (the path) names it in messages. */
export function readEnvelope(text: string, label: string): StoreEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw notAStore(label, 'not JSON');
  }
  if (!isObject(value) || value.format !== STORE_FORMAT) throw notAStore(label, `no "format": "${STORE_FORMAT}"`);
  if (value.version !== STORE_VERSION) {
    throw new TallyError(
      'FORMAT_INVALID',
      `${label} is a version ${String(value.version)} token store; this Tally reads version ${STORE_VERSION}.`,
    );
  }
  if (typeof value.sealed !== 'string') throw notAStore(label, 'no sealed tokens');
  return { key: readKeySource(value.key, label), sealed: value.sealed };
}

// ---------------------------------------------------------------------------------------------
// The sealed tokens. They were authenticated on opening, so a token that does not read back is a
// store written by another version, not an attack; it is still refused rather than half-used.

function damaged(label: string): TallyError {
  return new TallyError('FORMAT_INVALID', `${label} holds a token this Tally cannot read.`);
}

function text(value: unknown, label: string): string {
  if (typeof value !== 'string') throw damaged(label);
  return value;
}

function optionalText(value: unknown, label: string): string | undefined {
  return value === undefined ? undefined : text(value, label);
}

function integer(value: unknown, label: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) throw damaged(label);
  return value as number;
}

function flag(value: unknown, label: string): boolean {
  if (typeof value !== 'boolean') throw damaged(label);
  return value;
}

function hexBytes(value: unknown, label: string, length?: number): Buffer {
  const hex = text(value, label);
  if (!/^([0-9a-f]{2})+$/.test(hex) || (length !== undefined && hex.length !== length * 2)) throw damaged(label);
  return Buffer.from(hex, 'hex');
}

function features(value: unknown, label: string): SecurIdFeatures | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw damaged(label);
  return {
    timeDerivedSeeds: flag(value.timeDerivedSeeds, label),
    appDerivedSeeds: flag(value.appDerivedSeeds, label),
    mode: flag(value.mode, label),
  };
}

/** Optional fields as the writer left them: absent, not undefined. */
function present<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Stores written before the code period had one name hold it as `intervalSeconds` (SecurID) or
 * `periodSeconds` (TOTP); those are read too, so an upgrade opens every existing store.
 */
function tokenFromJson(value: unknown, label: string): ClientToken {
  if (!isObject(value)) throw damaged(label);
  const serial = text(value.serial, label);
  checkSerial(serial);
  if (value.type === 'securid') {
    const period = value.period ?? value.intervalSeconds;
    if (period !== 30 && period !== 60) throw damaged(label);
    return {
      type: 'securid',
      serial,
      seed: hexBytes(value.seed, label, 16),
      digits: integer(value.digits, label, 1, 8),
      period,
      addPin: flag(value.addPin, label),
      localPin: flag(value.localPin, label),
      ...present({
        expiresOn: optionalText(value.expiresOn, label),
        userLogin: optionalText(value.userLogin, label),
        features: features(value.features, label),
      }),
    };
  }
  if (value.type !== 'totp' && value.type !== 'hotp') throw damaged(label);
  const algorithm = text(value.algorithm, label) as OtpAlgorithm;
  if (!OTP_ALGORITHMS.includes(algorithm)) throw damaged(label);
  const common = {
    serial,
    secret: hexBytes(value.secret, label),
    algorithm,
    digits: integer(value.digits, label, 6, 8),
    ...present({ issuer: optionalText(value.issuer, label), account: optionalText(value.account, label) }),
  };
  return value.type === 'hotp'
    ? { type: 'hotp', ...common, counter: integer(value.counter, label, 0) }
    : { type: 'totp', ...common, period: integer(value.period ?? value.periodSeconds, label, 1) };
}

/**
 * Opens the sealed tokens with `key`. GCM cannot tell a wrong key from altered bytes, so the
 * message names both; a passphrase store says WRONG_PASSWORD, a key-file store
 * INTEGRITY_CHECK_FAILED.
 */
export function openStore(envelope: StoreEnvelope, key: Buffer, label: string): ClientToken[] {
  let plaintext: Buffer;
  try {
    plaintext = open(makeKeyring([{ version: 1, key }]), envelope.sealed, context(envelope.key));
  } catch {
    if (envelope.key.kind === 'passphrase') {
      throw new TallyError('WRONG_PASSWORD', `The passphrase does not open ${label}: it is wrong, or the store was altered.`);
    }
    throw new TallyError(
      'INTEGRITY_CHECK_FAILED',
      `${label} does not open with its key file: the key file is not the one it was sealed with, or the store was altered.`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(plaintext.toString('utf8'));
  } catch {
    throw damaged(label);
  }
  if (!isObject(value) || !Array.isArray(value.tokens)) throw damaged(label);
  return value.tokens.map((token) => tokenFromJson(token, label));
}

/** The key file's text: the key in base64 on one line. */
export function formatKeyFile(key: Buffer): string {
  return `${key.toString('base64')}\n`;
}

export function parseKeyFile(content: string, label: string): Buffer {
  const trimmed = content.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== STORE_KEY_BYTES) {
    throw new TallyError('INTEGRITY_CHECK_FAILED', `${label} is not a token store key file (${STORE_KEY_BYTES} bytes in base64).`);
  }
  return key;
}
