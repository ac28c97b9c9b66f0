/**
 * sdtid token files (RSA's XML batch format) as stoken reads and writes them: securid.md, "sdtid".
 * A batch has one TKNHeader, one or more TKN (RSA's batch files hold many, stoken writes one) and a
 * TKNTrailer, whose signature stoken does not check and neither does Tally.
 */
import { randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { invalidInput, TallyError } from '../../errors.js';
import { findDescendant, parseStrictXml, type XmlElement } from '../xml/strict.js';
import { xor } from './aes.js';
import {
  batchMacKey,
  canon,
  deriveK0,
  headerMac,
  secretFieldMask,
  seedFieldMask,
  tokenEncryptionKey,
  tokenMac,
  tokenMacKey,
} from './sdtid-keys.js';
import { checkSecurIdToken, epochDay, featuresOf, type SecurIdFeatures, type SecurIdToken } from './token.js';

export interface SdtidBatch {
  origin: string;
  dest: string;
  name: string;
  tokens: SecurIdToken[];
}

export interface SdtidReadOptions {
  /** The file password; absent or empty when the file has none. */
  password?: string;
  /** Larger inputs are refused before parsing (INPUT_TOO_LARGE). Default 1 MiB. */
  maxBytes?: number;
}

export interface SdtidWriteOptions {
  /** Header texts; each defaults to `N/A`, as stoken writes. */
  origin?: string;
  dest?: string;
  name?: string;
  /** Protects the file; absent or empty: none (the keys come from Origin). */
  password?: string;
  /** DefBirth, `YYYY-MM-DD`; default 2000-01-01, as `stoken export --sdtid` writes. */
  birthOn?: string;
  /** The 16-byte batch secret S; default fresh random bytes. */
  batchSecret?: Buffer;
  /** Source of the batch secret (when not given) and the trailer's filler signature. */
  randomBytes?: (size: number) => Buffer;
}

function formatError(message: string): TallyError {
  return new TallyError('FORMAT_INVALID', message);
}

// ---------------------------------------------------------------------------------------------
// Reading

interface TokenFields {
  /** The bytes its TokenMAC covers. */
  canon: Buffer;
  sn: string;
  seedField: Buffer;
  tokenMacField: Buffer;
  token: Omit<SecurIdToken, 'seed'>;
}

/** A field of a token: X anywhere under its TKN, then DefX, then X under TKNHeader. */
function lookup(tkn: XmlElement, header: XmlElement, field: string): string | undefined {
  return (findDescendant(tkn, field) ?? findDescendant(header, `Def${field}`) ?? findDescendant(header, field))?.text;
}

function required(value: string | undefined, field: string, where: string): string {
  if (value === undefined) throw formatError(`The sdtid file has no ${field} ${where}.`);
  return value;
}

const BASE64_16_BYTES = /^[A-Za-z0-9+/]{22}==$/;

function base64Block(text: string, field: string, where: string): Buffer {
  const trimmed = text.trim();
  if (!BASE64_16_BYTES.test(trimmed)) throw formatError(`The sdtid field ${field} ${where} is not 16 bytes of base64.`);
  return Buffer.from(trimmed, 'base64');
}

function integerField(text: string | undefined, field: string, where: string): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^\d{1,9}$/.test(trimmed)) throw formatError(`The sdtid field ${field} ${where} is not a whole number.`);
  return Number(trimmed);
}

function flagField(text: string | undefined, field: string, where: string): boolean {
  return (integerField(text, field, where) ?? 0) !== 0;
}

function readTokenFields(tkn: XmlElement, header: XmlElement, label: string): TokenFields {
  const field = (name: string) => lookup(tkn, header, name);
  const sn = required(field('SN'), 'SN', label).trim();
  if (!/^\d{1,12}$/.test(sn)) throw formatError(`The sdtid field SN ${label} must be 1 to 12 digits.`);

  const seedText = required(field('Seed'), 'Seed', label).trim();
  // The first character is a marker ("=" from stoken) that readers skip, whatever it is.
  const seedField = base64Block(seedText.slice(1), 'Seed', label);
  const tokenMacField = base64Block(required(field('TokenMAC'), 'TokenMAC', label), 'TokenMAC', label);

  const deathText = required(field('Death'), 'Death', label).trim();
  const death = /^(\d{4})\/(\d{2})\/(\d{2})$/.exec(deathText);
  const expiresOn = death ? `${death[1]}-${death[2]}-${death[3]}` : '';
  const deathDay = epochDay(expiresOn);
  if (deathDay === undefined || deathDay < 0) {
    throw formatError(`The sdtid field Death ${label} must be a YYYY/MM/DD date from 1970 on.`);
  }

  const digits = integerField(field('Digits'), 'Digits', label) ?? 6;
  if (digits < 1 || digits > 8) throw formatError(`The sdtid field Digits ${label} must be from 1 to 8.`);
  const interval = integerField(field('Interval'), 'Interval', label) ?? 60;
  const alg = integerField(field('Alg'), 'Alg', label);
  if (alg !== undefined && alg !== 1) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', `The sdtid token ${label} uses algorithm ${alg}; only 1 (AES-128) is supported.`);
  }

  const features: SecurIdFeatures = {
    timeDerivedSeeds: flagField(field('TimeDerivedSeeds'), 'TimeDerivedSeeds', label),
    appDerivedSeeds: flagField(field('AppDerivedSeeds'), 'AppDerivedSeeds', label),
    mode: flagField(field('Mode'), 'Mode', label),
  };
  const userLogin = field('UserLogin')?.trim();
  return {
    canon: canon(tkn),
    sn,
    seedField,
    tokenMacField,
    token: {
      serial: sn.padStart(12, '0'),
      digits,
      // stoken treats any interval but 60 as 30 seconds.
      period: interval === 60 ? 60 : 30,
      addPin: flagField(field('AddPIN'), 'AddPIN', label),
      localPin: flagField(field('LocalPIN'), 'LocalPIN', label),
      expiresOn,
      ...(userLogin ? { userLogin } : {}),
      features,
    },
  };
}

interface Unlocked {
  batchSecret: Buffer;
  /** The header MAC and every token MAC verified. */
  allVerified: boolean;
  /** At least one of them verified. */
  anyVerified: boolean;
}

function unlock(
  passwordOrOrigin: string,
  batch: { dest: string; name: string; secretField: Buffer; canonHeader: Buffer; headerMacField: Buffer },
  tokens: TokenFields[],
): Unlocked {
  const k0 = deriveK0(passwordOrOrigin, batch.dest, batch.name);
  const batchSecret = xor(batch.secretField, secretFieldMask(k0, batch.name));
  const results = [
    timingSafeEqual(headerMac(batchMacKey(batchSecret, batch.name), batch.canonHeader), batch.headerMacField),
    ...tokens.map((t) => timingSafeEqual(tokenMac(tokenMacKey(batchSecret, t.sn), t.canon), t.tokenMacField)),
  ];
  return { batchSecret, allVerified: results.every(Boolean), anyVerified: results.some(Boolean) };
}

function integrityError(): TallyError {
  return new TallyError(
    'INTEGRITY_CHECK_FAILED',
    'The sdtid file failed its MAC check: some of its MACs verify and others do not, so it was changed or damaged.',
  );
}

function openBatch(batch: { origin: string; dest: string; name: string }, tokens: TokenFields[], batchSecret: Buffer): SdtidBatch {
  return {
    origin: batch.origin,
    dest: batch.dest,
    name: batch.name,
    tokens: tokens.map((t) => ({
      ...t.token,
      seed: xor(t.seedField, seedFieldMask(tokenEncryptionKey(batchSecret, t.sn), t.sn)),
    })),
  };
}

/**
 * Reads an sdtid file: checks its HeaderMAC and every TokenMAC and decrypts each seed. Throws
 * PASSWORD_REQUIRED / WRONG_PASSWORD when no MAC verifies, INTEGRITY_CHECK_FAILED when only some do,
 * FORMAT_INVALID naming the field when the file is malformed. A password the file does not need is
 * ignored, as stoken does.
 */
export function readSdtid(input: string | Uint8Array, options: SdtidReadOptions = {}): SdtidBatch {
  const root = parseStrictXml(input, options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes });
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  if (!/^\uFEFF?\s*<\?xml\s/.test(text)) throw formatError('The sdtid file does not start with an <?xml ?> declaration.');
  if (root.name !== 'TKNBatch') throw formatError(`The sdtid root element is ${root.name}, not TKNBatch.`);
  const sections = (name: string) => root.children.filter((child) => child.name === name);
  const [header, ...extraHeaders] = sections('TKNHeader');
  if (!header || extraHeaders.length > 0) throw formatError('The sdtid file must have exactly one TKNHeader.');
  const tknElements = sections('TKN');
  if (tknElements.length === 0) throw formatError('The sdtid file has no TKN element.');
  if (sections('TKNTrailer').length !== 1) throw formatError('The sdtid file must have exactly one TKNTrailer.');

  // Batch-wide values come from the header alone, so every TKN of a batch shares one key schedule.
  const headerField = (name: string) => required(findDescendant(header, name)?.text, name, 'in TKNHeader');
  const batch = {
    origin: headerField('Origin').trim(),
    dest: headerField('Dest').trim(),
    name: headerField('Name').trim(),
    secretField: base64Block(headerField('Secret'), 'Secret', 'in TKNHeader'),
    headerMacField: base64Block(headerField('HeaderMAC'), 'HeaderMAC', 'in TKNHeader'),
    canonHeader: canon(header),
  };
  const tokens = tknElements.map((tkn, i) => readTokenFields(tkn, header, tknElements.length === 1 ? 'in TKN' : `in TKN ${i + 1}`));

  const password = options.password ? options.password : undefined;
  // Origin keys a file without a password. stoken's `export --sdtid --new-password=''` keys it with
  // the empty password instead, which is no secret either, so that is tried before asking for one.
  for (const secret of [batch.origin, '', ...(password === undefined ? [] : [password])]) {
    const unlocked = unlock(secret, batch, tokens);
    if (unlocked.allVerified) return openBatch(batch, tokens, unlocked.batchSecret);
    if (unlocked.anyVerified) throw integrityError();
  }
  throw new TallyError(password === undefined ? 'PASSWORD_REQUIRED' : 'WRONG_PASSWORD');
}

// ---------------------------------------------------------------------------------------------
// Writing

// The trailer as stoken writes it: random bytes where a signature would be, and this expired
// certificate. stoken checks neither; they are written so the file has the fields stoken's have.
const BATCH_CERTIFICATE = [
  'MIICeTCCAWGgAwIBAgIQM0NFNTU4NTMzMDlGODEzMDANBgkqhkiG9w0BAQQFADBBMT8wPQYDVQQDEzZTZWN1cml0eSBEeW5hbWljcyBUZWNo',
  'bm9sb2dpZXMsIEluYy4gUHJpbWFyeSBDQSBSb290IDEwHhcNMDIwNTE3MTkyMTU1WhcNMjIwNTEyMTkyMTU1WjA0MTIwMAYDVQQDEylTZWN1',
  'cml0eSBEeW5hbWljcyBUZWNobm9sb2dpZXMgQUNFL1NlcnZlcjCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEA1np1DIf3HOHAK2ahcRzZ',
  'CJsqIC1QMEqtsdanKSEn5CGtLCdLv9LbLUYo6cQxKSJtwvigpeDgBAb/UYcUNXy/7dY7rA5WpYlsaA9h5C9qzPMBHxVGSIe5k61uUbAwdFhC',
  'MfLh776wR//VZ7cuypo5d3cCbvgHGwqw4ZuECbKvONMCAwEAATANBgkqhkiG9w0BAQQFAAOCAQEAq8MMJs1SczwpfcZqn9loM+2RhFmN1IZi',
  'Xyevz1VvGD9GUrlLalm/Et989zR/dVhciGXmAAxYnV/MoZmshjXozmJgjRmfqqHLS46UJ9nLZ2BuEVcrHnn6f9meIjeMWm+Dvh+8Vi9KJOLo',
  'zYbDoaUMm+5F7ywKsUuBPRSJ1ykGJG6dOCBZlJGmM3kbZ54lRAK2TYcu2JM21i7BKdeE9xItyabJzEk3QCsX0erY7h3V//okIfKWLh8LieoW',
  'bV4+VtrQEoiUwyqdYswwgMOyRiKuGTkk3DhHdoqhG8SqHSxkPto42hEnpOx9j2rqcsOWosvNyfm9nwkqJfhuJClLwOzw5Q==',
].join('');

const BATCH_SIGNATURE_BYTES = 128;

function leaf(name: string, text: string): XmlElement {
  return { name, attributes: {}, children: [], text };
}

function container(name: string, children: XmlElement[]): XmlElement {
  return { name, attributes: {}, children, text: '' };
}

function fieldText(value: string | undefined, field: string): string {
  const text = (value ?? 'N/A').trim();
  if (text.length === 0 || /[\u0000-\u001f\u007f]/.test(text)) {
    throw invalidInput('sdtidFieldText', { name: field });
  }
  return text;
}

function sdtidDate(isoDate: string): string {
  return isoDate.replaceAll('-', '/');
}

const flag = (value: boolean) => (value ? '1' : '0');

/** The per-token settings, as sdtid field name and text, in the order TKN overrides are written. */
function tokenSettings(token: SecurIdToken): [string, string][] {
  const features = featuresOf(token);
  return [
    ['Death', sdtidDate(token.expiresOn)],
    ['Digits', String(token.digits)],
    ['Interval', String(token.period)],
    ['Mode', flag(features.mode)],
    ['AddPIN', flag(token.addPin)],
    ['LocalPIN', flag(token.localPin)],
    ['TimeDerivedSeeds', flag(features.timeDerivedSeeds)],
    ['AppDerivedSeeds', flag(features.appDerivedSeeds)],
  ];
}

function escapeText(text: string): string {
  return text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] as string);
}

function serialize(element: XmlElement, indent: string): string {
  if (element.children.length === 0) return `${indent}<${element.name}>${escapeText(element.text)}</${element.name}>\n`;
  const inner = element.children.map((child) => serialize(child, `${indent}  `)).join('');
  return `${indent}<${element.name}>\n${inner}${indent}</${element.name}>\n`;
}

/**
 * Writes an sdtid file holding the tokens, with the fields `stoken issue` writes. The header's
 * defaults come from the first token; a later token that differs gets its own TKN-level fields.
 */
export function writeSdtid(tokens: SecurIdToken | readonly SecurIdToken[], options: SdtidWriteOptions = {}): string {
  const list: readonly SecurIdToken[] = Array.isArray(tokens) ? tokens : [tokens as SecurIdToken];
  const [first] = list;
  if (first === undefined) throw invalidInput('sdtidNoTokens');
  list.forEach(checkSecurIdToken);
  const origin = fieldText(options.origin, 'Origin');
  const dest = fieldText(options.dest, 'Dest');
  const name = fieldText(options.name, 'Name');
  const birthOn = options.birthOn ?? '2000-01-01';
  if (epochDay(birthOn) === undefined) {
    throw invalidInput('sdtidBirthDate');
  }
  const random = options.randomBytes ?? cryptoRandomBytes;
  const batchSecret = options.batchSecret ?? random(16);
  if (batchSecret.length !== 16) throw invalidInput('sdtidBatchSecret');

  const k0 = deriveK0(options.password ? options.password : origin, dest, name);
  const defaults = new Map(tokenSettings(first));
  const def = (field: string) => leaf(`Def${field}`, defaults.get(field) as string);
  const header = container('TKNHeader', [
    leaf('Version', '0'),
    leaf('Origin', origin),
    leaf('Dest', dest),
    leaf('Name', name),
    leaf('FirstToken', 'N/A'),
    leaf('LastToken', 'N/A'),
    leaf('NumTokens', '0'),
    leaf('Secret', xor(batchSecret, secretFieldMask(k0, name)).toString('base64')),
    leaf('DefBirth', sdtidDate(birthOn)),
    def('Death'),
    def('Digits'),
    def('Interval'),
    leaf('DefAlg', '1'),
    def('Mode'),
    leaf('DefPrecision', '2400'),
    leaf('DefSmallWin', '630'),
    leaf('DefMediumWin', '4320'),
    leaf('DefLargeWin', '4320'),
    def('AddPIN'),
    def('LocalPIN'),
    leaf('DefCopyProtection', '1'),
    leaf('DefPinType', '0'),
    leaf('DefKeypad', '1'),
    leaf('DefProtLevel', '0'),
    leaf('DefRevision', '0'),
    def('TimeDerivedSeeds'),
    def('AppDerivedSeeds'),
    leaf('DefFormFactor', '20000001'),
  ]);
  header.children.push(leaf('HeaderMAC', headerMac(batchMacKey(batchSecret, name), canon(header)).toString('base64')));

  const tknElements = list.map((token) => {
    const userLogin = token.userLogin === undefined ? ' ' : fieldText(token.userLogin, 'UserLogin');
    const overrides = tokenSettings(token)
      .filter(([field, text]) => defaults.get(field) !== text)
      .map(([field, text]) => leaf(field, text));
    const seedField = xor(token.seed, seedFieldMask(tokenEncryptionKey(batchSecret, token.serial), token.serial));
    const tkn = container('TKN', [
      leaf('SN', token.serial),
      leaf('Seed', `=${seedField.toString('base64')}`),
      leaf('UserFirstName', ' '),
      leaf('UserLastName', ' '),
      leaf('UserLogin', userLogin),
      ...overrides,
      container('TokenAttributes', [leaf('DeviceSerialNumber', ' '), leaf('Nickname', ' ')]),
    ]);
    tkn.children.push(leaf('TokenMAC', tokenMac(tokenMacKey(batchSecret, token.serial), canon(tkn)).toString('base64')));
    return tkn;
  });

  const trailer = container('TKNTrailer', [
    leaf('BatchSignature', random(BATCH_SIGNATURE_BYTES).toString('base64')),
    leaf('BatchCertificate', BATCH_CERTIFICATE),
  ]);
  return `<?xml version="1.0"?>\n${serialize(container('TKNBatch', [header, ...tknElements, trailer]), '')}`;
}
