/**
 * What `tally token import` reads, told apart by content: sdtid and PSKC files, CTF strings and
 * links, otpauth URIs. Pure: the command hands over the text of a file or the argument itself.
 */

import { parseAppLink } from '../core/ctkip/links.js';
import { parseOtpauthUri } from '../core/otp/otpauth.js';
import type { PskcKey } from '../core/pskc/model.js';
import { readPskc } from '../core/pskc/read.js';
import { decodeCtf, readSdtid } from '../core/securid/index.js';
import { TallyError } from '../errors.js';
import { MAX_TOKEN_FILE_BYTES } from '../tokens/files.js';
import { type ClientToken, checkSerial, fromSecurId, isPrintableSerial } from './tokens.js';

export type SourceFormat = 'sdtid' | 'pskc' | 'ctf' | 'otpauth';

const EXPECTED = 'an sdtid or PSKC file, a CTF string or link, or an otpauth:// URI';

/** Names the format of a token source, or says why it is none that Tally reads. */
export function detectFormat(input: string): SourceFormat {
  const text = input.replace(/^\uFEFF/, '').trim();
  if (text.startsWith('<')) {
    const head = text.slice(0, 4096);
    if (/<TKNBatch[\s>]/.test(head)) return 'sdtid';
    if (/<([\w.-]+:)?KeyContainer[\s>]/.test(head)) return 'pskc';
    throw new TallyError(
      'FORMAT_INVALID',
      `The XML is neither an sdtid file (TKNBatch) nor a PSKC file (KeyContainer); expected ${EXPECTED}.`,
    );
  }
  if (/^otpauth:\/\//i.test(text)) return 'otpauth';
  // A CTF v2 string is 81 digits; anything long that starts with one is taken as a (mistyped) CTF
  // string so that the CTF decoder can say what is wrong with it.
  if (/^\d[\w -]{19,}$/.test(text)) return 'ctf';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let link: ReturnType<typeof parseAppLink> | undefined;
    try {
      link = parseAppLink(text);
    } catch {
      link = undefined;
    }
    if (link?.kind === 'ctf') return 'ctf';
    // Every http(s) URL could be a CT-KIP service URL; only the apps' own links surely are.
    if (link?.kind === 'ctkip' && !/^https?:\/\/(?!127\.0\.0\.1\/securid\/)/i.test(text)) {
      throw new TallyError('FORMAT_INVALID', 'This is a CT-KIP activation link, not a token; use `tally token activate LINK`.');
    }
    if (link?.kind === 'ctkip') {
      throw new TallyError(
        'FORMAT_INVALID',
        `The URL is no token; expected ${EXPECTED}. A CT-KIP service URL goes to \`tally token activate\`.`,
      );
    }
  }
  throw new TallyError('FORMAT_INVALID', `The input is not a token format Tally reads; expected ${EXPECTED}.`);
}

export interface SourceSecrets {
  password?: string;
  /** CTF strings bound to a device need its ID. */
  deviceId?: string;
}

export interface RefusedKey {
  /** The key's serial or Id, or its position in the file. */
  label: string;
  reason: string;
}

export interface ReadSource {
  format: SourceFormat;
  tokens: ClientToken[];
  /** PSKC keys that could not be taken, each with why; the others still come through. */
  refused: RefusedKey[];
}

function fromPskc(key: PskcKey, position: number): ClientToken {
  if (key.kind === 'securid-aes') {
    return {
      type: 'securid',
      serial: key.serial,
      seed: Buffer.from(key.secret),
      digits: key.digits,
      intervalSeconds: key.timeInterval === 30 ? 30 : 60,
      // PSKC has no field for the PIN mode; a token that adds nothing is the one that still works.
      addPin: false,
      localPin: false,
    };
  }
  const common = {
    serial: key.serial ?? key.id ?? `key-${position}`,
    secret: Buffer.from(key.secret),
    algorithm: key.algorithm,
    digits: key.digits,
    ...(key.issuer === undefined ? {} : { issuer: key.issuer }),
    ...(key.userId === undefined ? {} : { account: key.userId }),
  };
  return key.kind === 'hotp'
    ? { type: 'hotp', ...common, counter: key.counter }
    : { type: 'totp', ...common, periodSeconds: key.timeInterval };
}

function readPskcSource(text: string, secrets: SourceSecrets): ReadSource {
  const result = readPskc(text, { password: secrets.password, maxBytes: MAX_TOKEN_FILE_BYTES });
  const tokens: ClientToken[] = [];
  const refused: RefusedKey[] = [];
  for (const outcome of result.keys) {
    const position = outcome.index + 1;
    if (outcome.status === 'imported') {
      tokens.push(fromPskc(outcome.key, position));
      continue;
    }
    // The name comes from the file and is printed, so only a printable one is used.
    const named = outcome.serial ?? outcome.id;
    refused.push({ label: named !== undefined && isPrintableSerial(named) ? named : `key ${position}`, reason: outcome.reason });
  }
  return { format: 'pskc', tokens, refused };
}

function readOtpauth(text: string): ClientToken {
  const uri = parseOtpauthUri(text);
  const common = {
    serial: uri.issuer === undefined ? uri.account : `${uri.issuer}:${uri.account}`,
    secret: Buffer.from(uri.secret),
    algorithm: uri.algorithm,
    digits: uri.digits,
    ...(uri.issuer === undefined ? {} : { issuer: uri.issuer }),
    account: uri.account,
  };
  return uri.type === 'hotp' ? { type: 'hotp', ...common, counter: uri.counter } : { type: 'totp', ...common, periodSeconds: uri.period };
}

function readByFormat(format: SourceFormat, text: string, secrets: SourceSecrets): ReadSource {
  switch (format) {
    case 'sdtid':
      return {
        format,
        tokens: readSdtid(text, { password: secrets.password, maxBytes: MAX_TOKEN_FILE_BYTES }).tokens.map(fromSecurId),
        refused: [],
      };
    case 'pskc':
      return readPskcSource(text, secrets);
    case 'ctf':
      return { format, tokens: [fromSecurId(decodeCtf(text, secrets))], refused: [] };
    case 'otpauth':
      return { format, tokens: [readOtpauth(text)], refused: [] };
  }
}

/**
 * Reads every token of a source. A source that fails as a whole (syntax, password, MAC) throws and
 * yields nothing; so does one holding two tokens under the same serial.
 */
export function readSource(input: string, secrets: SourceSecrets = {}): ReadSource {
  if (Buffer.byteLength(input, 'utf8') > MAX_TOKEN_FILE_BYTES) {
    throw new TallyError('INPUT_TOO_LARGE', `A token file is at most ${MAX_TOKEN_FILE_BYTES} bytes.`);
  }
  const text = input.replace(/^\uFEFF/, '').trim();
  const source = readByFormat(detectFormat(text), text, secrets);
  const seen = new Set<string>();
  for (const token of source.tokens) {
    checkSerial(token.serial);
    if (seen.has(token.serial)) throw new TallyError('CONFLICT', `The input holds two tokens with serial ${token.serial}.`);
    seen.add(token.serial);
  }
  return source;
}
