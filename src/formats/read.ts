/**
 * Reads every token of a source (sdtid or PSKC file, CTF string or link, otpauth URI) into neutral
 * records that the server's import and the `tally token` client each map to their own terms. Pure:
 * text or bytes in, records out. A source that fails as a whole (syntax, password, MAC) throws and
 * yields nothing; single PSKC keys that cannot be taken come back in `refused`, the others still
 * come through.
 */

import { Buffer } from 'node:buffer';
import type { OtpAlgorithm } from '../core/otp/hotp.js';
import { parseOtpauthUri } from '../core/otp/otpauth.js';
import type { PskcKey } from '../core/pskc/model.js';
import { type PskcKeyOutcome, readPskc } from '../core/pskc/read.js';
import { decodeCtf, readSdtid, type SecurIdFeatures, type SecurIdToken } from '../core/securid/index.js';
import { type ErrorCode, TallyError } from '../errors.js';
import { detectFormat, MAX_TOKEN_FILE_BYTES, TOKEN_FORMATS, type TokenFormat, tokenText } from './detect.js';
import { keyLabel } from './names.js';

/** Non-secret facts a source tells about a token, each under the one name Tally uses for it. */
export interface TokenAttributes {
  /** sdtid UserLogin. */
  userLogin?: string;
  /** PSKC UserId; the account of an otpauth URI. */
  userId?: string;
  /** PSKC Issuer; the issuer of an otpauth URI. */
  issuer?: string;
  /** PSKC DeviceInfo/Manufacturer. */
  manufacturer?: string;
}

/** A PSKC Policy's limits: usable from, until (epoch ms), and for how many codes. */
export interface TokenLimits {
  validFrom?: number;
  validUntil?: number;
  transactions?: number;
}

/** What every token of a source has, in neither the store's nor the client's terms. */
interface RecordCommon {
  /** The serial; for PSKC keys without one, the key's Id; for otpauth URIs, ISSUER:ACCOUNT or ACCOUNT. */
  serial: string;
  seed: Buffer;
  digits: number;
  /** Seconds per code; 0 for HOTP. */
  period: number;
  /** HOTP: the counter of the next code; 0 otherwise. */
  counter: number;
  /** SecurID: the PIN is added into the tokencode (false where the format cannot say, as in PSKC). */
  addPin: boolean;
  /** SecurID: the app checks the PIN itself. */
  localPin: boolean;
  /** The last day the token is valid (`YYYY-MM-DD`, UTC), or null when the source gives none. */
  expiresOn: string | null;
  attributes: TokenAttributes;
  /** SecurID: the sdtid/CTF feature flags, kept so that an export can carry them on. */
  features?: SecurIdFeatures;
  /** The PSKC Key Id, so that a report can name the key when serials repeat. */
  keyId?: string;
  /** From a PSKC key's Policy. */
  limits?: TokenLimits;
}

/** One token of a source: SecurID (AES-128) or OATH (HOTP, TOTP). */
export type TokenRecord =
  | (RecordCommon & { type: 'securid'; algorithm: 'AES128' })
  | (RecordCommon & { type: 'totp' | 'hotp'; algorithm: OtpAlgorithm });

/** A key of the source that Tally cannot take. */
export interface RefusedKey {
  /** The key's serial, else its Id, where printable; else its position: `key #3`. */
  label: string;
  keyId?: string;
  code?: ErrorCode;
  reason: string;
}

export interface TokenSource {
  format: TokenFormat;
  records: TokenRecord[];
  refused: RefusedKey[];
  /** What whoever imports should know about the source as a whole. */
  notes: string[];
}

export interface ReadOptions {
  password?: string;
  /** CTF strings bound to a device need its ID. */
  deviceId?: string;
  /** The formats taken; others are refused as detectFormat says. Default: all four. */
  accepted?: readonly TokenFormat[];
}

/** XML-DSig is not implemented: say so rather than let a signed file look checked. */
export const UNCHECKED_SIGNATURE =
  'The file carries an XML signature, which Tally does not check: make sure by other means that the file comes from its issuer.';

function fromSecurId(token: SecurIdToken): TokenRecord {
  return {
    type: 'securid',
    serial: token.serial,
    seed: token.seed,
    digits: token.digits,
    period: token.period,
    algorithm: 'AES128',
    counter: 0,
    addPin: token.addPin,
    localPin: token.localPin,
    expiresOn: token.expiresOn,
    attributes: token.userLogin ? { userLogin: token.userLogin } : {},
    ...(token.features ? { features: token.features } : {}),
  };
}

function fromPskc(key: PskcKey, serial: string): TokenRecord {
  const attributes: TokenAttributes = {
    ...(key.userId ? { userId: key.userId } : {}),
    ...(key.issuer ? { issuer: key.issuer } : {}),
    ...(key.manufacturer ? { manufacturer: key.manufacturer } : {}),
  };
  const policy = key.policy;
  const common = {
    serial,
    seed: Buffer.from(key.secret),
    digits: key.digits,
    // PSKC has no field for the PIN mode; a token that adds nothing is the one that still works.
    addPin: false,
    localPin: false,
    // The last day shown with the token (as an sdtid's expiry is): the day before the instant it stops.
    expiresOn: policy?.expiryDate === undefined ? null : new Date(policy.expiryDate - 1).toISOString().slice(0, 10),
    attributes,
    ...(key.id === undefined ? {} : { keyId: key.id }),
    ...(policy === undefined
      ? {}
      : { limits: { validFrom: policy.startDate, validUntil: policy.expiryDate, transactions: policy.numberOfTransactions } }),
  };
  switch (key.kind) {
    case 'hotp':
      return { type: 'hotp', ...common, period: 0, algorithm: key.algorithm, counter: key.counter };
    case 'totp':
      return { type: 'totp', ...common, period: key.period, algorithm: key.algorithm, counter: 0 };
    case 'securid-aes':
      return { type: 'securid', ...common, period: key.period, algorithm: 'AES128', counter: 0 };
  }
}

/** One PSKC key as a token record, or why it is refused (the whole-file and the streaming reader alike). */
export function pskcRecordOf(outcome: PskcKeyOutcome): { record: TokenRecord } | { refused: TokenSource['refused'][number] } {
  const keyId = outcome.status === 'refused' ? outcome.id : outcome.key.id;
  const named = {
    label: keyLabel(outcome.status === 'refused' ? outcome : outcome.key, outcome.index),
    ...(keyId === undefined ? {} : { keyId }),
  };
  if (outcome.status === 'refused') return { refused: { ...named, code: outcome.code, reason: outcome.reason } };
  // A name made up from the position would clash between files (a client store merges by serial).
  const serial = outcome.key.serial || outcome.key.id;
  if (!serial) return { refused: { ...named, reason: 'The key has neither a serial number nor an Id.' } };
  return { record: fromPskc(outcome.key, serial) };
}

function readPskcSource(text: string, password: string | undefined): TokenSource {
  const pskc = readPskc(text, { password, maxBytes: MAX_TOKEN_FILE_BYTES });
  const source: TokenSource = { format: 'pskc', records: [], refused: [], notes: pskc.signed ? [UNCHECKED_SIGNATURE] : [] };
  for (const outcome of pskc.keys) {
    const read = pskcRecordOf(outcome);
    if ('refused' in read) source.refused.push(read.refused);
    else source.records.push(read.record);
  }
  return source;
}

function readOtpauth(text: string): TokenRecord {
  const uri = parseOtpauthUri(text);
  const common = {
    serial: uri.issuer === undefined ? uri.account : `${uri.issuer}:${uri.account}`,
    seed: Buffer.from(uri.secret),
    digits: uri.digits,
    algorithm: uri.algorithm,
    addPin: false,
    localPin: false,
    expiresOn: null,
    attributes: { userId: uri.account, ...(uri.issuer === undefined ? {} : { issuer: uri.issuer }) },
  };
  return uri.type === 'hotp'
    ? { type: 'hotp', ...common, period: 0, counter: uri.counter }
    : { type: 'totp', ...common, period: uri.period, counter: 0 };
}

function readByFormat(format: TokenFormat, text: string, options: ReadOptions): TokenSource {
  const whole = (records: TokenRecord[]): TokenSource => ({ format, records, refused: [], notes: [] });
  switch (format) {
    case 'sdtid':
      return whole(readSdtid(text, { password: options.password, maxBytes: MAX_TOKEN_FILE_BYTES }).tokens.map(fromSecurId));
    case 'pskc':
      return readPskcSource(text, options.password);
    case 'ctf':
      return whole([fromSecurId(decodeCtf(text, { password: options.password, deviceId: options.deviceId }))]);
    case 'otpauth':
      return whole([readOtpauth(text)]);
  }
}

/** Reads every token of a source; text, or the bytes of a file (UTF-8). */
export function readTokens(input: string | Uint8Array, options: ReadOptions = {}): TokenSource {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (bytes > MAX_TOKEN_FILE_BYTES) {
    throw new TallyError('INPUT_TOO_LARGE', `The token file is ${bytes} bytes; at most ${MAX_TOKEN_FILE_BYTES} are accepted.`);
  }
  const text = tokenText(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
  return readByFormat(detectFormat(text, options.accepted ?? TOKEN_FORMATS), text, options);
}
