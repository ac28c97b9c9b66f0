import type { PskcKey } from '../core/pskc/model.js';
import { readPskc } from '../core/pskc/read.js';
import { readSdtid, type SecurIdToken } from '../core/securid/index.js';
import { TallyError } from '../errors.js';
import type { TokenSettings, TokenType } from './types.js';

/** The largest token file an admin may import; big enough for batches of tens of thousands. */
export const MAX_TOKEN_FILE_BYTES = 16 * 1024 * 1024;

/** A token read from a file, in the store's terms. */
export interface TokenCandidate {
  serial: string;
  tokenType: TokenType;
  seed: Buffer;
  settings: TokenSettings;
  expiresOn: string | null;
  /** HOTP: the next counter. */
  counter: number;
  /** Non-secret facts to keep (e.g. the sdtid UserLogin). */
  attributes: Record<string, string>;
  /** The PSKC Key Id, so that a report can name the key when serials repeat. */
  keyId?: string;
  /** A PSKC Policy's limits: usable from, until (epoch ms), and for how many codes. */
  limits?: { validFrom?: number; validUntil?: number; transactions?: number };
}

export interface TokenFileContents {
  format: 'sdtid' | 'pskc';
  candidates: TokenCandidate[];
  /** Keys the file holds that Tally cannot take, each with the reason. */
  refused: { serial: string; keyId?: string; code?: string; reason: string }[];
  /** What the importer should know about the file as a whole. */
  notes: string[];
}

/** XML-DSig is not implemented: say so rather than let a signed file look checked. */
const UNCHECKED_SIGNATURE =
  'The file carries an XML signature, which Tally does not check: make sure by other means that the file comes from its issuer.';

export function securIdCandidate(token: SecurIdToken): TokenCandidate {
  return {
    serial: token.serial,
    tokenType: 'securid',
    seed: token.seed,
    settings: { digits: token.digits, periodSeconds: token.intervalSeconds, algorithm: 'AES128', addPin: token.addPin },
    expiresOn: token.expiresOn,
    counter: 0,
    attributes: token.userLogin ? { userLogin: token.userLogin } : {},
  };
}

function pskcCandidate(key: PskcKey): TokenCandidate {
  const serial = key.serial ?? key.id ?? '';
  const attributes: Record<string, string> = {};
  if (key.userId) attributes.userId = key.userId;
  if (key.issuer) attributes.issuer = key.issuer;
  if (key.manufacturer) attributes.manufacturer = key.manufacturer;
  const seed = Buffer.from(key.secret);
  const policy = key.policy;
  const extra = {
    ...(key.id === undefined ? {} : { keyId: key.id }),
    ...(policy === undefined
      ? {}
      : { limits: { validFrom: policy.startDate, validUntil: policy.expiryDate, transactions: policy.numberOfTransactions } }),
  };
  // The last day shown with the token (as an sdtid's expiry is): the day before the instant it stops.
  const expiresOn = policy?.expiryDate === undefined ? null : new Date(policy.expiryDate - 1).toISOString().slice(0, 10);
  switch (key.kind) {
    case 'hotp':
      return {
        serial,
        tokenType: 'hotp',
        seed,
        settings: { digits: key.digits, periodSeconds: 0, algorithm: key.algorithm, addPin: false },
        expiresOn,
        counter: key.counter,
        attributes,
        ...extra,
      };
    case 'totp':
      return {
        serial,
        tokenType: 'totp',
        seed,
        settings: { digits: key.digits, periodSeconds: key.timeInterval, algorithm: key.algorithm, addPin: false },
        expiresOn,
        counter: 0,
        attributes,
        ...extra,
      };
    case 'securid-aes':
      return {
        serial,
        tokenType: 'securid',
        seed,
        settings: { digits: key.digits, periodSeconds: key.timeInterval, algorithm: 'AES128', addPin: false },
        expiresOn,
        counter: 0,
        attributes,
        ...extra,
      };
  }
}

function sniff(text: string): 'sdtid' | 'pskc' {
  const head = text.slice(0, 4096);
  if (/<TKNBatch[\s>]/.test(head)) return 'sdtid';
  if (/<([\w-]+:)?KeyContainer[\s>]/.test(head)) return 'pskc';
  throw new TallyError('FORMAT_INVALID', 'The file is neither an sdtid token file (TKNBatch) nor a PSKC file (KeyContainer).');
}

/**
 * Reads an sdtid or PSKC file. A file that fails as a whole (password, MAC, syntax) throws and
 * yields nothing; single keys Tally cannot take come back in `refused`.
 */
export function readTokenFile(content: Uint8Array, password?: string): TokenFileContents {
  if (content.byteLength > MAX_TOKEN_FILE_BYTES) {
    throw new TallyError('INPUT_TOO_LARGE', `The token file is ${content.byteLength} bytes; at most ${MAX_TOKEN_FILE_BYTES} are accepted.`);
  }
  const text = Buffer.from(content).toString('utf8');
  const format = sniff(text);
  if (format === 'sdtid') {
    const batch = readSdtid(text, { password, maxBytes: MAX_TOKEN_FILE_BYTES });
    return { format, candidates: batch.tokens.map(securIdCandidate), refused: [], notes: [] };
  }
  const pskc = readPskc(text, { password, maxBytes: MAX_TOKEN_FILE_BYTES });
  const contents: TokenFileContents = { format, candidates: [], refused: [], notes: pskc.signed ? [UNCHECKED_SIGNATURE] : [] };
  for (const outcome of pskc.keys) {
    if (outcome.status === 'refused') {
      contents.refused.push({
        serial: outcome.serial ?? outcome.id ?? `key #${outcome.index + 1}`,
        ...(outcome.id === undefined ? {} : { keyId: outcome.id }),
        code: outcome.code,
        reason: outcome.reason,
      });
    } else if (!outcome.key.serial && !outcome.key.id) {
      contents.refused.push({ serial: `key #${outcome.index + 1}`, reason: 'The key has neither a serial number nor an Id.' });
    } else {
      contents.candidates.push(pskcCandidate(outcome.key));
    }
  }
  return contents;
}
