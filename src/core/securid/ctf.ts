/**
 * The app links that carry CTF strings, and one entry point that reads whatever form a user pastes:
 * a bare v2 string (with or without dashes) or a link carrying v2 or v3.
 */
import { TallyError } from '../../errors.js';
import type { CtfSecrets } from './ctf-secrets.js';
import { decodeCtfV2, encodeCtfV2 } from './ctf-v2.js';
import { decodeCtfV3, encodeCtfV3 } from './ctf-v3.js';
import type { SecurIdToken } from './token.js';

/** The apps' link prefixes; the token string follows `ctfData=`. */
export const CTF_LINK_PREFIXES = {
  /** The RSA Android app's link (also what `stoken export --android` and `--v3` write). */
  android: 'http://127.0.0.1/securid/ctf?ctfData=',
  /** The RSA iPhone app's link. */
  iphone: 'com.rsa.securid.iphone://ctf?ctfData=',
  /** The newer RSA SecurID apps' own scheme. */
  securid: 'com.rsa.securid://ctf?ctfData=',
} as const;

export type CtfLinkApp = keyof typeof CTF_LINK_PREFIXES;

export interface CtfLink {
  app: CtfLinkApp;
  version: 2 | 3;
  /** The token string: 81 digits (v2) or plain base64 (v3, percent-decoding undone). */
  data: string;
}

/** Token strings and links are short; anything far longer is refused before any work. */
const MAX_INPUT_CHARS = 4096;

function checkSize(text: string): void {
  if (text.length > MAX_INPUT_CHARS) {
    throw new TallyError('INPUT_TOO_LARGE', `A token string or link is at most ${MAX_INPUT_CHARS} characters.`);
  }
}

function linkApp(text: string): CtfLinkApp | undefined {
  return (Object.keys(CTF_LINK_PREFIXES) as CtfLinkApp[]).find((app) => text.startsWith(CTF_LINK_PREFIXES[app]));
}

/** Splits an app link into its app, CTF version and token string. */
export function parseCtfLink(link: string): CtfLink {
  checkSize(link);
  const text = link.trim();
  const app = linkApp(text);
  if (app === undefined) throw new TallyError('FORMAT_INVALID', 'The link is not a SecurID token link (…/ctf?ctfData=…).');
  let data: string;
  try {
    data = decodeURIComponent(text.slice(CTF_LINK_PREFIXES[app].length));
  } catch {
    throw new TallyError('FORMAT_INVALID', 'The ctfData in the link has a malformed percent-encoding.');
  }
  if (data.length === 0) throw new TallyError('FORMAT_INVALID', 'The link has an empty ctfData.');
  return { app, version: /^[0-9-]+$/.test(data) ? 2 : 3, data };
}

/** Percent-encodes every character but letters and digits, as the apps expect. */
function percentEncode(base64: string): string {
  return base64.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export interface CtfLinkOptions extends CtfSecrets {
  /** Default `android`. */
  app?: CtfLinkApp;
  /** Default 2: every RSA app and stoken read v2 links; v3 is for the newer apps. */
  version?: 2 | 3;
  /** v3 only: the container nonce; default fresh random bytes. */
  nonce?: Buffer;
}

/** Encodes a token and wraps it in an app link. */
export function buildCtfLink(token: SecurIdToken, options: CtfLinkOptions = {}): string {
  const { app = 'android', version = 2, password, deviceId, nonce } = options;
  const data =
    version === 2
      ? encodeCtfV2(token, { password, deviceId, inLink: true })
      : percentEncode(encodeCtfV3(token, { password, deviceId, nonce }));
  return CTF_LINK_PREFIXES[app] + data;
}

/**
 * Decodes any CTF form: a bare v2 string (dashes allowed) or an app link carrying v2 or v3. Throws
 * FORMAT_INVALID, INTEGRITY_CHECK_FAILED, PASSWORD_REQUIRED or WRONG_PASSWORD (see the decoders).
 */
export function decodeCtf(text: string, secrets: CtfSecrets = {}): SecurIdToken {
  checkSize(text);
  const trimmed = text.trim();
  if (linkApp(trimmed) === undefined) return decodeCtfV2(trimmed, { ...secrets, inLink: false });
  const link = parseCtfLink(trimmed);
  return link.version === 2 ? decodeCtfV2(link.data, { ...secrets, inLink: true }) : decodeCtfV3(link.data, secrets);
}
