import { invalidInput, TallyError } from '../../errors.js';
import { decodeBase32, encodeBase32 } from './base32.js';
import { OTP_ALGORITHMS, type OtpAlgorithm } from './hotp.js';

interface OtpauthCommon {
  /** Who the account is with; shown by apps above the account name. */
  issuer?: string;
  account: string;
  secret: Uint8Array;
  algorithm: OtpAlgorithm;
  digits: number;
}

/** What an otpauth:// link (Google's Key-Uri-Format) carries. */
export type OtpauthToken = (OtpauthCommon & { type: 'totp'; period: number }) | (OtpauthCommon & { type: 'hotp'; counter: number });

function invalid(message: string): TallyError {
  return new TallyError('FORMAT_INVALID', `The otpauth link is not valid: ${message}.`);
}

function refuse(problem: string): TallyError {
  return invalidInput('otpauthUnwritable', { problem });
}

function encode(text: string, what: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    throw refuse(`the ${what} is not valid Unicode text`);
  }
}

/** Renders a token as an otpauth link: label ISSUER:ACCOUNT, then secret, issuer, algorithm, digits, period or counter. */
export function buildOtpauthUri(token: OtpauthToken): string {
  const { issuer, account } = token;
  if (account.trim() === '') throw refuse('the account name is empty');
  // Readers trim these, so they would not survive a round trip.
  if (account !== account.trim() || (issuer !== undefined && issuer !== issuer.trim())) {
    throw refuse('the issuer and account name cannot start or end with spaces');
  }
  // Readers split the label at its first colon, so a colon is only safe after an issuer prefix.
  if (issuer !== undefined && (issuer === '' || issuer.includes(':'))) {
    throw refuse('the issuer must be non-empty and contain no colon');
  }
  if (issuer === undefined && account.includes(':')) {
    throw refuse('an account name with a colon needs an issuer');
  }
  if (token.secret.length === 0) throw refuse('the secret is empty');
  if (!OTP_ALGORITHMS.includes(token.algorithm)) throw refuse('the algorithm must be SHA1, SHA256 or SHA512');
  if (!Number.isInteger(token.digits) || token.digits < 6 || token.digits > 8) throw refuse('digits must be 6, 7 or 8');
  const encodedAccount = encode(account, 'account name');
  const encodedIssuer = issuer === undefined ? undefined : encode(issuer, 'issuer');
  const label = encodedIssuer === undefined ? encodedAccount : `${encodedIssuer}:${encodedAccount}`;
  const params = [`secret=${encodeBase32(token.secret)}`];
  if (encodedIssuer !== undefined) params.push(`issuer=${encodedIssuer}`);
  params.push(`algorithm=${token.algorithm}`, `digits=${token.digits}`);
  if (token.type === 'totp') {
    if (!Number.isSafeInteger(token.period) || token.period <= 0) throw refuse('the period must be a whole number of seconds above 0');
    params.push(`period=${token.period}`);
  } else {
    if (!Number.isSafeInteger(token.counter) || token.counter < 0) throw refuse('the counter must be a whole number, 0 or more');
    params.push(`counter=${token.counter}`);
  }
  return `otpauth://${token.type}/${label}?${params.join('&')}`;
}

function percentDecode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(`${what} has a broken percent-encoding`);
  }
}

/** Echoes a value into a message only when it is short and plain, so messages stay safe to log. */
function quoted(value: string): string {
  return /^[A-Za-z0-9._-]{1,20}$/.test(value) ? ` "${value}"` : '';
}

function wholeNumber(params: Map<string, string>, name: string): number | undefined {
  const text = params.get(name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) throw invalid(`${name}${quoted(text)} is not a whole number`);
  return value;
}

function readParams(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const equals = piece.indexOf('=');
    const rawName = equals < 0 ? piece : piece.slice(0, equals);
    const rawValue = equals < 0 ? '' : piece.slice(equals + 1);
    const name = percentDecode(rawName.replace(/\+/g, ' '), 'a parameter name').toLowerCase();
    if (params.has(name)) throw invalid(`the parameter${quoted(name)} appears more than once`);
    params.set(name, percentDecode(rawValue.replace(/\+/g, ' '), `the parameter${quoted(name)}`));
  }
  return params;
}

/**
 * Parses an otpauth link as authenticator apps do: type and parameter names in any case, label
 * issuer optional, unknown parameters (image, lock, ...) ignored. Everything it cannot read
 * exactly is refused with FORMAT_INVALID naming the part; the secret itself is never echoed.
 */
export function parseOtpauthUri(uri: string): OtpauthToken {
  const match = /^otpauth:\/\/([^/?#]*)\/([^?#]*)(?:\?([^#]*))?(?:#.*)?$/is.exec(uri.trim());
  if (!match) throw invalid('it does not have the form otpauth://TYPE/LABEL?PARAMETERS');
  const [, typeName = '', labelText = '', query = ''] = match;
  const type = typeName.toLowerCase();
  if (type !== 'totp' && type !== 'hotp') throw invalid(`the type${quoted(typeName)} is neither totp nor hotp`);

  const label = percentDecode(labelText, 'the label');
  const colon = label.indexOf(':');
  const labelIssuer = colon < 0 ? '' : label.slice(0, colon).trim();
  const account = (colon < 0 ? label : label.slice(colon + 1)).trim();
  if (account === '') throw invalid('the label has no account name');

  const params = readParams(query);
  const secretText = params.get('secret');
  if (secretText === undefined || secretText.trim() === '') throw invalid('the secret parameter is missing');
  let secret: Buffer;
  try {
    secret = decodeBase32(secretText);
  } catch (error) {
    const detail = error instanceof TallyError ? `: ${error.message.replace(/\.$/, '')}` : '';
    throw invalid(`the secret is not base32${detail}`);
  }

  const issuerParam = params.get('issuer')?.trim() || undefined;
  if (issuerParam !== undefined && labelIssuer !== '' && issuerParam !== labelIssuer) {
    throw invalid('the issuer parameter and the issuer in the label differ');
  }
  const issuer = issuerParam ?? (labelIssuer || undefined);

  const algorithmText = params.get('algorithm') ?? 'SHA1';
  const algorithm = algorithmText.toUpperCase().replace(/-/g, '') as OtpAlgorithm;
  if (!OTP_ALGORITHMS.includes(algorithm)) {
    throw invalid(`the algorithm${quoted(algorithmText)} is not SHA1, SHA256 or SHA512`);
  }
  const digits = wholeNumber(params, 'digits') ?? 6;
  if (digits < 6 || digits > 8) throw invalid(`digits must be 6, 7 or 8, not ${digits}`);

  const common = { ...(issuer === undefined ? {} : { issuer }), account, secret, algorithm, digits };
  if (type === 'totp') {
    const period = wholeNumber(params, 'period') ?? 30;
    if (period === 0) throw invalid('the period is 0');
    return { type, ...common, period };
  }
  const counter = wholeNumber(params, 'counter');
  if (counter === undefined) throw invalid('an hotp link needs a counter parameter');
  return { type, ...common, counter };
}
