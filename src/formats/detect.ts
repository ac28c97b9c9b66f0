/**
 * Which token format a text is, told apart by content: sdtid and PSKC files (XML), CTF strings
 * and links, otpauth URIs. Pure; one set of messages for the server's import and the client's.
 */

import { parseAppLink } from '../core/ctkip/links.js';
import { TallyError } from '../errors.js';

export type TokenFormat = 'sdtid' | 'pskc' | 'ctf' | 'otpauth';
export const TOKEN_FORMATS: readonly TokenFormat[] = ['sdtid', 'pskc', 'ctf', 'otpauth'];
/** What a token file (an upload, not a string) can be: the admin import takes only these. */
export const TOKEN_FILE_FORMATS: readonly TokenFormat[] = ['sdtid', 'pskc'];

/** The largest token file read; big enough for batches of tens of thousands. */
export const MAX_TOKEN_FILE_BYTES = 16 * 1024 * 1024;

/** The text as detection and the readers see it: no byte order mark, no surrounding space. */
export function tokenText(input: string): string {
  return input.replace(/^\uFEFF/, '').trim();
}

const EXPECTED = 'an sdtid or PSKC file, a CTF string or link, or an otpauth:// URI';

/** Every refusal of detection; where only files are accepted, one message says which. */
const MESSAGES = {
  notATokenFile: 'The file is neither an sdtid token file (TKNBatch) nor a PSKC file (KeyContainer).',
  xmlNeither: `The XML is neither an sdtid file (TKNBatch) nor a PSKC file (KeyContainer); expected ${EXPECTED}.`,
  ctkipLink: 'This is a CT-KIP activation link, not a token; use `tally token activate LINK`.',
  ctkipServiceUrl: `The URL is no token; expected ${EXPECTED}. A CT-KIP service URL goes to \`tally token activate\`.`,
  unknown: `The input is not a token format Tally reads; expected ${EXPECTED}.`,
} as const;

function refuse(message: keyof typeof MESSAGES): TallyError {
  return new TallyError('FORMAT_INVALID', MESSAGES[message]);
}

function sniff(text: string): TokenFormat {
  if (text.startsWith('<')) {
    const head = text.slice(0, 4096);
    if (/<TKNBatch[\s>]/.test(head)) return 'sdtid';
    if (/<([\w.-]+:)?KeyContainer[\s>]/.test(head)) return 'pskc';
    throw refuse('xmlNeither');
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
    if (link?.kind === 'ctkip') throw refuse(/^https?:\/\/(?!127\.0\.0\.1\/securid\/)/i.test(text) ? 'ctkipServiceUrl' : 'ctkipLink');
  }
  throw refuse('unknown');
}

/**
 * Names the format of a token source, or says why it is none of `accepted`. A source that is a
 * format outside `accepted`, or none at all, is refused with one message when only files are
 * accepted (the admin import), else with what would have been taken.
 */
export function detectFormat(input: string, accepted: readonly TokenFormat[] = TOKEN_FORMATS): TokenFormat {
  const filesOnly = accepted.every((format) => TOKEN_FILE_FORMATS.includes(format));
  let format: TokenFormat;
  try {
    format = sniff(tokenText(input));
  } catch (error) {
    if (filesOnly) throw refuse('notATokenFile');
    throw error;
  }
  if (!accepted.includes(format)) throw refuse(filesOnly ? 'notATokenFile' : 'unknown');
  return format;
}
