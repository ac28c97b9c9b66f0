/**
 * What `tally token import` reads: any source `formats/` reads (sdtid and PSKC files, CTF strings
 * and links, otpauth URIs), mapped to the client's tokens. Pure: the command hands over the text of
 * a file or the argument itself.
 */

import { TallyError } from '../errors.js';
import type { TokenFormat } from '../formats/detect.js';
import { type RefusedKey, readTokens, type TokenRecord } from '../formats/read.js';
import { type ClientToken, checkSerial } from './tokens.js';

export { detectFormat } from '../formats/detect.js';
export type SourceFormat = TokenFormat;
export type { RefusedKey };

export interface SourceSecrets {
  password?: string;
  /** CTF strings bound to a device need its ID. */
  deviceId?: string;
}

export interface ReadSource {
  format: SourceFormat;
  tokens: ClientToken[];
  /** PSKC keys that could not be taken, each with why; the others still come through. */
  refused: RefusedKey[];
}

function clientToken(record: TokenRecord): ClientToken {
  const { serial, seed, digits, attributes } = record;
  if (record.type === 'securid') {
    return {
      type: 'securid',
      serial,
      seed,
      digits,
      period: record.period === 30 ? 30 : 60,
      addPin: record.addPin,
      localPin: record.localPin,
      ...(record.expiresOn === null ? {} : { expiresOn: record.expiresOn }),
      ...(attributes.userLogin ? { userLogin: attributes.userLogin } : {}),
      ...(record.features ? { features: record.features } : {}),
    };
  }
  const common = {
    serial,
    secret: seed,
    algorithm: record.algorithm,
    digits,
    ...(attributes.issuer === undefined ? {} : { issuer: attributes.issuer }),
    ...(attributes.userId === undefined ? {} : { account: attributes.userId }),
  };
  return record.type === 'hotp' ? { type: 'hotp', ...common, counter: record.counter } : { type: 'totp', ...common, period: record.period };
}

/**
 * Reads every token of a source. A source that fails as a whole (syntax, password, MAC) throws and
 * yields nothing; so does one holding two tokens under the same serial.
 */
export function readSource(input: string, secrets: SourceSecrets = {}): ReadSource {
  const source = readTokens(input, secrets);
  const tokens = source.records.map(clientToken);
  const seen = new Set<string>();
  for (const token of tokens) {
    checkSerial(token.serial);
    if (seen.has(token.serial)) throw new TallyError('CONFLICT', `The input holds two tokens with serial ${token.serial}.`);
    seen.add(token.serial);
  }
  return { format: source.format, tokens, refused: source.refused };
}
