/**
 * The admin token import's view of a token file: `formats/` reads it, this maps each record to the
 * store's terms. The admin import takes sdtid and PSKC files only.
 */

import { PskcStream } from '../core/pskc/stream.js';
import { TOKEN_FILE_FORMATS } from '../formats/detect.js';
import { pskcRecordOf, readTokens, type TokenRecord, type TokenSource, UNCHECKED_SIGNATURE } from '../formats/read.js';
import type { TokenSettings, TokenType } from './types.js';

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

function candidate(record: TokenRecord): TokenCandidate {
  const { type, serial, seed, digits, period, algorithm, addPin, expiresOn, counter, attributes, keyId, limits } = record;
  return {
    serial,
    tokenType: type,
    seed,
    settings: { digits, period, algorithm, addPin },
    expiresOn,
    counter,
    attributes: { ...attributes },
    ...(keyId === undefined ? {} : { keyId }),
    ...(limits === undefined ? {} : { limits }),
  };
}

/**
 * Reads an sdtid or PSKC file. A file that fails as a whole (password, MAC, syntax) throws and
 * yields nothing; single keys Tally cannot take come back in `refused`.
 */
export function readTokenFile(content: Uint8Array, password?: string): TokenFileContents {
  const source = readTokens(content, { password, accepted: TOKEN_FILE_FORMATS });
  return {
    format: source.format === 'sdtid' ? 'sdtid' : 'pskc',
    candidates: source.records.map(candidate),
    refused: source.refused.map(refusedKey),
    notes: source.notes,
  };
}

function refusedKey({ label, keyId, code, reason }: TokenSource['refused'][number]): TokenFileContents['refused'][number] {
  return { serial: label, ...(keyId === undefined ? {} : { keyId }), ...(code === undefined ? {} : { code }), reason };
}

/** One key of a streamed file: a token to import, or why the file's key is refused. */
export type StreamedKey = { candidate: TokenCandidate } | { refused: TokenFileContents['refused'][number] };

/**
 * Reads a PSKC file of any size as it arrives (`core/pskc/stream.ts`): each key as soon as its
 * KeyPackage is complete, only that package held. Throws as the whole-file reader does on a bad
 * file, at the point where it is found to be bad. `notes` is filled at the end (a signature).
 */
export async function* streamPskcFile(
  chunks: AsyncIterable<Uint8Array>,
  password: string | undefined,
  notes: string[] = [],
): AsyncGenerator<StreamedKey> {
  const stream = new PskcStream({ password });
  const keysOf = function* (outcomes: ReturnType<PskcStream['push']>): Generator<StreamedKey> {
    for (const outcome of outcomes) {
      const read = pskcRecordOf(outcome);
      if ('record' in read) yield { candidate: candidate(read.record) };
      else yield { refused: refusedKey(read.refused) };
    }
  };
  for await (const chunk of chunks) yield* keysOf(stream.push(chunk));
  yield* keysOf(stream.end());
  if (stream.signed) notes.push(UNCHECKED_SIGNATURE);
}
