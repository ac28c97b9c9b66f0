/**
 * The tokens a `tally token` store holds, and the codes they show. The code rules are the token
 * type registry's, so a passcode printed here is the one Tally's server checks.
 */

import type { OtpAlgorithm } from '../core/otp/hotp.js';
import type { SecurIdToken } from '../core/securid/index.js';
import { invalidInput, TallyError } from '../errors.js';
import { isPrintableSerial, SERIAL_RULE } from '../formats/names.js';
import { tokenType } from '../tokens/registry.js';
import type { TokenMaterial } from '../tokens/types.js';

/** A SecurID token as the store keeps it; PSKC files carry no expiry date, so it may be absent. */
export interface SecurIdClientToken extends Omit<SecurIdToken, 'expiresOn'> {
  type: 'securid';
  expiresOn?: string;
}

interface OathClientToken {
  /** The name the store knows it by: a serial, or the otpauth label when there is none. */
  serial: string;
  secret: Buffer;
  algorithm: OtpAlgorithm;
  digits: number;
  issuer?: string;
  account?: string;
}

export interface TotpClientToken extends OathClientToken {
  type: 'totp';
  period: number;
}

export interface HotpClientToken extends OathClientToken {
  type: 'hotp';
  /** The counter of the next code to show. */
  counter: number;
}

export type OathToken = TotpClientToken | HotpClientToken;
export type ClientToken = SecurIdClientToken | OathToken;

/** Serials are printed to terminals, so one with control characters (escape sequences) is refused rather than echoed. */
export function checkSerial(serial: string): void {
  if (!isPrintableSerial(serial)) {
    throw new TallyError('FORMAT_INVALID', `A token serial or label must be ${SERIAL_RULE}.`);
  }
}

export function fromSecurId(token: SecurIdToken): SecurIdClientToken {
  return {
    type: 'securid',
    serial: token.serial,
    seed: token.seed,
    digits: token.digits,
    period: token.period,
    addPin: token.addPin,
    localPin: token.localPin,
    expiresOn: token.expiresOn,
    ...(token.userLogin ? { userLogin: token.userLogin } : {}),
    ...(token.features ? { features: token.features } : {}),
  };
}

/** The token as the SecurID formats need it; sdtid and CTF cannot go without an expiry date. */
export function toSecurId(token: SecurIdClientToken): SecurIdToken {
  const { type: _type, expiresOn, ...rest } = token;
  if (expiresOn === undefined) {
    throw invalidInput('exportNeedsExpiry', { serial: token.serial });
  }
  return { ...rest, expiresOn };
}

function material(token: ClientToken): TokenMaterial {
  if (token.type === 'securid') {
    return {
      serial: token.serial,
      seed: token.seed,
      settings: { digits: token.digits, period: token.period, algorithm: 'AES128', addPin: token.addPin },
    };
  }
  return {
    serial: token.serial,
    seed: token.secret,
    settings: {
      digits: token.digits,
      period: token.type === 'totp' ? token.period : 0,
      algorithm: token.algorithm,
      addPin: false,
    },
  };
}

export interface ShownCode {
  /** The tokencode, or the passcode when a PIN was given. */
  code: string;
  /** HOTP: the token with its counter moved on, to be stored before the code is shown. */
  advanced?: HotpClientToken;
}

/**
 * The code a token shows at `unixSeconds`. With a PIN, the passcode a server expects: SecurID
 * tokens that add the PIN do the digit-wise sum, every other token puts the PIN in front.
 */
export function showCode(token: ClientToken, unixSeconds: number, pin?: string): ShownCode {
  if (pin !== undefined && !/^\d{4,8}$/.test(pin)) throw invalidInput('pinDigits');
  const type = tokenType(token.type);
  const tokenMaterial = material(token);
  const step = token.type === 'hotp' ? token.counter : Math.floor(unixSeconds / (token.type === 'totp' ? token.period : token.period));
  const tokencode = type.codeAt(tokenMaterial, step);
  const code = pin === undefined ? tokencode : type.passcode(tokenMaterial, tokencode, pin);
  return token.type === 'hotp' ? { code, advanced: { ...token, counter: token.counter + 1 } } : { code };
}

/**
 * The expiry date of a token that has expired by `unixSeconds`, else undefined. SecurID tokens stop
 * after their expiry date (the sdtid Death day, UTC); OATH tokens have none.
 */
export function expiredOn(token: ClientToken, unixSeconds: number): string | undefined {
  if (token.type !== 'securid' || token.expiresOn === undefined) return undefined;
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10) > token.expiresOn ? token.expiresOn : undefined;
}

/** The tokens with `incoming` added: one with a serial already there takes that token's place. */
export function mergeTokens(existing: readonly ClientToken[], incoming: readonly ClientToken[]): ClientToken[] {
  const bySerial = new Map(incoming.map((token) => [token.serial, token]));
  const merged = existing.map((token) => bySerial.get(token.serial) ?? token);
  const present = new Set(existing.map((token) => token.serial));
  return [...merged, ...incoming.filter((token) => !present.has(token.serial))];
}

/** What `tally token list` shows: never the seed. */
export interface TokenSummary {
  serial: string;
  type: ClientToken['type'];
  algorithm: string;
  digits: number;
  /** Seconds per code; null for HOTP. */
  period: number | null;
  /** HOTP only: the counter of the next code. */
  counter?: number;
  expiresOn: string | null;
  /** SecurID only: the PIN is added into the tokencode. */
  addPin?: boolean;
  issuer?: string;
  account?: string;
}

export function summarise(token: ClientToken): TokenSummary {
  if (token.type === 'securid') {
    return {
      serial: token.serial,
      type: token.type,
      algorithm: 'AES128',
      digits: token.digits,
      period: token.period,
      expiresOn: token.expiresOn ?? null,
      addPin: token.addPin,
    };
  }
  return {
    serial: token.serial,
    type: token.type,
    algorithm: token.algorithm,
    digits: token.digits,
    period: token.type === 'totp' ? token.period : null,
    ...(token.type === 'hotp' ? { counter: token.counter } : {}),
    expiresOn: null,
    ...(token.issuer === undefined ? {} : { issuer: token.issuer }),
    ...(token.account === undefined ? {} : { account: token.account }),
  };
}
