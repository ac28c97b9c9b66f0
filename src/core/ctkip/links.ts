import { invalidInput, TallyError } from '../../errors.js';

/**
 * The link shapes the SecurID apps take (ctkip.md, "Links and QR codes for the apps"):
 * - `securid`: `com.rsa.securid://ctkip?scheme=https&url=HOST:PORT/PATH&activationCode=CODE`, the
 *   only form that carries the code;
 * - `securid-url`: `com.rsa.securid://ctkip?url=https://HOST:PORT/PATH`;
 * - `android`: `http://127.0.0.1/securid/ctf?schema=https&url=HOST:PORT/PATH` (newer Android apps);
 * - `windows`: `securidauthenticator://ctkip?scheme=https&url=HOST:PORT/PATH` (Windows 6.0/6.1);
 * - `plain`: the service URL itself (Windows 6.2+, desktop profiles, Tally's client).
 * All but `securid` leave the activation code to be given separately.
 */
export type AppLinkForm = 'securid' | 'securid-url' | 'android' | 'windows' | 'plain';

export type AppLinkRequest =
  | { form: 'securid'; serviceUrl: string; activationCode: string }
  | { form: Exclude<AppLinkForm, 'securid'>; serviceUrl: string };

export type ParsedAppLink =
  | { kind: 'ctkip'; serviceUrl: string; activationCode?: string }
  /** A compressed-token link: the SecurID token module reads the whole link (the prefix matters). */
  | { kind: 'ctf'; link: string };

const MAX_CODE_DIGITS = 64;

function codeIsValid(code: string): boolean {
  return code.length <= MAX_CODE_DIGITS && /^\d+$/.test(code);
}

interface ServiceUrlParts {
  scheme: 'http' | 'https';
  /** `HOST:PORT/PATH`, with the port always written, as the reported links have it. */
  location: string;
}

function serviceUrlParts(serviceUrl: string): ServiceUrlParts {
  let url: URL;
  try {
    url = new URL(serviceUrl);
  } catch {
    throw invalidInput('ctkipServiceUrl');
  }
  const scheme = url.protocol.slice(0, -1);
  if ((scheme !== 'http' && scheme !== 'https') || url.username || url.password || url.search || url.hash) {
    throw invalidInput('ctkipServiceUrlShape');
  }
  const port = url.port || (scheme === 'https' ? '443' : '80');
  return { scheme, location: `${url.hostname}:${port}${url.pathname}` };
}

/**
 * Apps read these query values without percent-decoding them (the reported links are written raw),
 * so the values are written as they are; serviceUrlParts guarantees they hold no `&`, `?` or `#`.
 */
export function buildAppLink(request: AppLinkRequest): string {
  const { scheme, location } = serviceUrlParts(request.serviceUrl);
  switch (request.form) {
    case 'securid':
      if (!codeIsValid(request.activationCode)) {
        throw invalidInput('ctkipLinkCode', { max: MAX_CODE_DIGITS });
      }
      return `com.rsa.securid://ctkip?scheme=${scheme}&url=${location}&activationCode=${request.activationCode}`;
    case 'securid-url':
      return `com.rsa.securid://ctkip?url=${scheme}://${location}`;
    case 'android':
      return `http://127.0.0.1/securid/ctf?schema=${scheme}&url=${location}`;
    case 'windows':
      return `securidauthenticator://ctkip?scheme=${scheme}&url=${location}`;
    case 'plain':
      return `${scheme}://${location}`;
  }
}

function notALink(): TallyError {
  return new TallyError('FORMAT_INVALID', 'This is neither a CT-KIP URL nor a SecurID app link.');
}

/** Query parameters by lower-cased name; `+` stays `+` (it is base64 in ctfData, not a space). */
function queryParameters(query: string): Map<string, string> {
  const parameters = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = (equals < 0 ? pair : pair.slice(0, equals)).toLowerCase();
    const raw = equals < 0 ? '' : pair.slice(equals + 1);
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw notALink();
    }
    if (!parameters.has(name)) parameters.set(name, value);
  }
  return parameters;
}

function plainServiceUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw notALink();
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.username || url.password) {
    throw notALink();
  }
  url.hash = '';
  return url.href;
}

function ctkipFromParameters(parameters: Map<string, string>): ParsedAppLink {
  const location = parameters.get('url');
  if (!location) throw notALink();
  // `schema` is how newer Android links are reported to spell it.
  const scheme = parameters.get('scheme') ?? parameters.get('schema') ?? 'https';
  const serviceUrl = plainServiceUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : `${scheme}://${location}`);
  const activationCode = parameters.get('activationcode');
  if (activationCode === undefined) return { kind: 'ctkip', serviceUrl };
  if (!codeIsValid(activationCode)) {
    throw new TallyError('FORMAT_INVALID', 'The activation code in the link is not a string of digits.');
  }
  return { kind: 'ctkip', serviceUrl, activationCode };
}

/**
 * Accepts what a user may paste as the activation URL: any of the app links above, or the plain
 * service URL. A compressed-token (`ctfData`) link is recognised and handed back whole.
 */
export function parseAppLink(input: string): ParsedAppLink {
  const text = input.trim();
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?(?:#.*)?$/i.exec(text);
  if (!match) throw notALink();
  const [, schemeName = '', hostName = '', path = '', query = ''] = match;
  const scheme = schemeName.toLowerCase();
  const host = hostName.toLowerCase();
  const parameters = queryParameters(query);

  const appHost = scheme === 'com.rsa.securid' || scheme === 'com.rsa.securid.iphone' || scheme === 'securidauthenticator';
  const androidLink = (scheme === 'http' || scheme === 'https') && host === '127.0.0.1' && path === '/securid/ctf';
  if (parameters.has('ctfdata') && ((appHost && host === 'ctf') || androidLink)) return { kind: 'ctf', link: text };
  if ((appHost && host === 'ctkip') || androidLink) return ctkipFromParameters(parameters);
  if (appHost) throw notALink();
  return { kind: 'ctkip', serviceUrl: plainServiceUrl(text) };
}
