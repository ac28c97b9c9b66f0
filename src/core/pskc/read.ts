import { type ErrorCode, TallyError } from '../../errors.js';
import type { OtpAlgorithm } from '../otp/hotp.js';
import { childNamed, childrenNamed, localName, parseStrictXml, type XmlElement } from '../xml/strict.js';
import { decryptAes128Cbc, derivePbkdf2, hmacDigest, macMatches } from './cipher.js';
import {
  AES128_CBC_URI,
  HOTP_URI,
  PBKDF2_URI,
  PSKC_NS,
  type PskcKey,
  type PskcPolicy,
  SECURID_AES_URI,
  TOTP_URI,
  XENC11_NS,
} from './model.js';

export interface PskcReadOptions {
  /** The file's password; needed only when its values are encrypted. */
  password?: string;
  /** Larger inputs are refused (INPUT_TOO_LARGE) before parsing. Default 16 MiB. */
  maxBytes?: number;
  /** A file asking for more PBKDF2 iterations is refused rather than burn the CPU. Default 2,000,000. */
  maxIterations?: number;
}

/** Per key, in document order: what was read, or why it was refused. */
export type PskcKeyOutcome =
  | { status: 'imported'; index: number; key: PskcKey }
  | { status: 'refused'; index: number; id?: string; serial?: string; code: ErrorCode; reason: string };

export interface PskcReadResult {
  /** Whether values were encrypted under the password (and their ValueMACs all checked). */
  passwordProtected: boolean;
  /** Whether the KeyContainer carries an XML signature (RFC 6030, section 7); it is not checked. */
  signed: boolean;
  keys: PskcKeyOutcome[];
}

export function isEncrypted(raw: RawKey): boolean {
  return [...raw.values.values()].some((value) => value.encrypted);
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_ITERATIONS = 2_000_000;
const AES128_KEY_BYTES = 16;

const KEY_ALGORITHMS = new Map<string, PskcKey['kind']>([
  [HOTP_URI, 'hotp'],
  [TOTP_URI, 'totp'],
  // Drafts before RFC 6030 named the profiles with a fragment.
  [`${PSKC_NS}#hotp`, 'hotp'],
  [`${PSKC_NS}#totp`, 'totp'],
  [SECURID_AES_URI, 'securid-aes'],
  ['http://www.rsasecurity.com/rsalabs/otps/schemas/2005/09/otps-wst#SecurID-AES', 'securid-aes'],
]);

const PBKDF2_URIS = new Set([PBKDF2_URI, `${XENC11_NS}pbkdf2`]);

const DATA_NAMES = ['Secret', 'Counter', 'Time', 'TimeInterval', 'TimeDrift'] as const;
type DataName = (typeof DATA_NAMES)[number];

interface EncryptedData {
  where: string;
  algorithm: string;
  ivAndCiphertext: Buffer;
  mac?: Buffer;
}

interface RawValue {
  plain?: string;
  encrypted?: EncryptedData;
}

/** A key as found, before its values are decoded (for the streaming reader too). */
export interface RawKey {
  index: number;
  element: XmlElement;
  deviceInfo?: XmlElement;
  values: Map<DataName, RawValue>;
}

export interface Protection {
  cipherKey: Buffer;
  macKey: Buffer;
  macDigest: string;
}

function malformed(message: string): TallyError {
  return new TallyError('FORMAT_INVALID', message);
}

/** Quotes a name from the file into a message only when it is printable and short. */
function describe(value: string): string {
  return /^[\x21-\x7e]{1,200}$/.test(value) ? `"${value}"` : '(unprintable)';
}

function textOf(parent: XmlElement | undefined, name: string): string | undefined {
  const text = parent && childNamed(parent, name)?.text.trim();
  return text === '' ? undefined : text;
}

function strictBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    throw malformed(`${what} is not valid base64.`);
  }
  return Buffer.from(compact, 'base64');
}

function integer(text: string, what: string): number {
  const value = Number(text);
  if (!/^[+-]?[0-9]+$/.test(text) || !Number.isSafeInteger(value)) throw malformed(`${what} is not a whole number.`);
  return value;
}

export function namespaceOf(element: XmlElement): string | undefined {
  const colon = element.name.indexOf(':');
  return element.attributes[colon < 0 ? 'xmlns' : `xmlns:${element.name.slice(0, colon)}`];
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function keyLabel(raw: RawKey): string {
  const id = raw.element.attributes.Id;
  return `key ${raw.index + 1}${id === undefined ? '' : ` (Id ${describe(id)})`}`;
}

// Step 1: strict XML, then the container itself.
function parseContainer(input: string | Uint8Array, maxBytes: number): XmlElement {
  return checkContainer(parseStrictXml(input, { maxBytes }));
}

/** The root must be a PSKC 1.0 KeyContainer. */
export function checkContainer(root: XmlElement): XmlElement {
  if (localName(root.name) !== 'KeyContainer' || namespaceOf(root) !== PSKC_NS) {
    throw malformed(`The file is not a PSKC KeyContainer in the ${PSKC_NS} namespace.`);
  }
  if (root.attributes.Version !== '1.0') throw malformed('The KeyContainer must have Version="1.0".');
  return root;
}

function readEncryptedValue(element: XmlElement, where: string): { algorithm: string; ivAndCiphertext: Buffer } {
  const algorithm = childNamed(element, 'EncryptionMethod')?.attributes.Algorithm;
  const cipherValue = childNamed(element, 'CipherData');
  const text = cipherValue && childNamed(cipherValue, 'CipherValue')?.text;
  if (algorithm === undefined || text === undefined) {
    throw malformed(`${capitalised(where)} needs an EncryptionMethod Algorithm and a CipherData/CipherValue.`);
  }
  return { algorithm: algorithm.trim(), ivAndCiphertext: strictBase64(text, `The CipherValue of ${where}`) };
}

// Step 2: every key and its data values, encrypted ones decoded far enough to check their MACs.
export function collectKeys(container: XmlElement, firstIndex = 0): RawKey[] {
  const keys: RawKey[] = [];
  for (const keyPackage of childrenNamed(container, 'KeyPackage')) {
    const deviceInfo = childNamed(keyPackage, 'DeviceInfo');
    for (const element of childrenNamed(keyPackage, 'Key')) {
      const raw: RawKey = { index: firstIndex + keys.length, element, deviceInfo, values: new Map() };
      const data = childNamed(element, 'Data');
      for (const name of DATA_NAMES) {
        const holder = data && childNamed(data, name);
        if (!holder) continue;
        const where = `the ${name} of ${keyLabel(raw)}`;
        const plain = childNamed(holder, 'PlainValue');
        const encrypted = childNamed(holder, 'EncryptedValue');
        if (plain && encrypted) throw malformed(`${capitalised(where)} has both a PlainValue and an EncryptedValue.`);
        if (encrypted) {
          const mac = childNamed(holder, 'ValueMAC');
          raw.values.set(name, {
            encrypted: {
              where,
              ...readEncryptedValue(encrypted, where),
              ...(mac ? { mac: strictBase64(mac.text, `The ValueMAC of ${where}`) } : {}),
            },
          });
        } else if (plain) {
          raw.values.set(name, { plain: plain.text.trim() });
        }
      }
      keys.push(raw);
    }
  }
  return keys;
}

function readPbkdf2(derivedKey: XmlElement, maxIterations: number): { salt: Buffer; iterations: number; digest: string } {
  const method = childNamed(derivedKey, 'KeyDerivationMethod');
  const algorithm = method?.attributes.Algorithm?.trim();
  if (!method || algorithm === undefined || !PBKDF2_URIS.has(algorithm)) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', 'The file key is derived with a method other than PBKDF2, which Tally does not read.');
  }
  // RFC 6030's example puts PBKDF2-params in the pkcs5 namespace, XML Encryption 1.1 (and python-pskc) in xenc11.
  const params = childNamed(method, 'PBKDF2-params');
  if (!params) throw malformed('The PBKDF2 key derivation has no PBKDF2-params.');
  const specified = textOf(childNamed(params, 'Salt'), 'Specified');
  if (specified === undefined) throw malformed('The PBKDF2 parameters have no Salt/Specified.');
  const salt = strictBase64(specified, 'The PBKDF2 salt');
  const iterationText = textOf(params, 'IterationCount');
  if (iterationText === undefined) throw malformed('The PBKDF2 parameters have no IterationCount.');
  const iterations = integer(iterationText, 'The PBKDF2 IterationCount');
  if (iterations < 1) throw malformed('The PBKDF2 IterationCount must be 1 or more.');
  if (iterations > maxIterations) {
    throw new TallyError('INPUT_TOO_LARGE', `The file asks for ${iterations} PBKDF2 iterations; at most ${maxIterations} are accepted.`);
  }
  const keyLength = textOf(params, 'KeyLength');
  if (keyLength !== undefined && integer(keyLength, 'The PBKDF2 KeyLength') !== AES128_KEY_BYTES) {
    throw malformed(`The PBKDF2 KeyLength must be ${AES128_KEY_BYTES} for aes128-cbc.`);
  }
  // RFC 6030 names the PRF in an Algorithm attribute; python-pskc writes the URI as the element's text.
  const prf = childNamed(params, 'PRF');
  const prfUri = (prf?.attributes.Algorithm ?? prf?.text ?? '').trim();
  const digest = prfUri === '' ? 'sha1' : hmacDigest(prfUri.slice(prfUri.lastIndexOf('#') + 1));
  if (digest === undefined) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', `The PBKDF2 PRF ${describe(prfUri)} is not an HMAC-SHA variant.`);
  }
  return { salt, iterations, digest };
}

// Step 3: the file key from the password, proven by decrypting the MAC key.
export function readProtection(container: XmlElement, options: PskcReadOptions): Protection {
  const encryptionKey = childNamed(container, 'EncryptionKey');
  if (!encryptionKey) throw malformed('The file has encrypted values but no EncryptionKey.');
  const derivedKey = childNamed(encryptionKey, 'DerivedKey');
  if (!derivedKey) {
    throw new TallyError(
      'UNSUPPORTED_ALGORITHM',
      'The file is encrypted with a pre-shared key or certificate; Tally reads password-protected (PBKDF2) files.',
    );
  }
  const pbkdf2 = readPbkdf2(derivedKey, options.maxIterations ?? DEFAULT_MAX_ITERATIONS);

  const macMethod = childNamed(container, 'MACMethod');
  if (!macMethod) throw malformed('The file has encrypted values but no MACMethod to check them with.');
  const macUri = macMethod.attributes.Algorithm?.trim() ?? '';
  const macDigest = hmacDigest(macUri.slice(macUri.lastIndexOf('#') + 1));
  if (macDigest === undefined) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', `The MACMethod ${describe(macUri)} is not an HMAC-SHA variant.`);
  }
  const macKeyElement = childNamed(macMethod, 'MACKey');
  if (!macKeyElement) throw malformed('The MACMethod has no MACKey.');
  const encryptedMacKey = readEncryptedValue(macKeyElement, 'the MACKey');
  if (encryptedMacKey.algorithm !== AES128_CBC_URI) {
    throw new TallyError(
      'UNSUPPORTED_ALGORITHM',
      `The MACKey is encrypted with ${describe(encryptedMacKey.algorithm)}; Tally reads aes128-cbc.`,
    );
  }

  if (options.password === undefined || options.password === '') throw new TallyError('PASSWORD_REQUIRED');
  const cipherKey = derivePbkdf2(options.password, pbkdf2.salt, pbkdf2.iterations, AES128_KEY_BYTES, pbkdf2.digest);
  const macKey = decryptAes128Cbc(cipherKey, encryptedMacKey.ivAndCiphertext);
  if (!macKey.ok && macKey.reason === 'length') throw malformed('The MACKey ciphertext has an impossible length.');
  // A wrong key leaves the padding intact only about once in 256; checkValueMacs handles that case.
  if (!macKey.ok || macKey.plaintext.length === 0) throw new TallyError('WRONG_PASSWORD');
  return { cipherKey, macKey: macKey.plaintext, macDigest };
}

// Step 4: every ValueMAC, before anything is decrypted or returned.
export function checkValueMacs(keys: RawKey[], protection: Protection): void {
  const encrypted = keys.flatMap((raw) => [...raw.values.values()].flatMap((value) => (value.encrypted ? [value.encrypted] : [])));
  const missing = encrypted.find((value) => !value.mac);
  if (missing) {
    throw new TallyError('INTEGRITY_CHECK_FAILED', `The encrypted ${missing.where} has no ValueMAC, so its integrity cannot be checked.`);
  }
  const mismatched = encrypted.filter(
    (value) => !macMatches(protection.macDigest, protection.macKey, value.ivAndCiphertext, value.mac as Buffer),
  );
  const [firstMismatch] = mismatched;
  if (firstMismatch === undefined) return;
  // PSKC has no password check of its own. A wrong password passes the MAC key's padding about
  // once in 256; then no ValueMAC matches and the values' padding (nearly always) fails as well.
  // One matching ValueMAC, or intact padding, means the password is right and the file was altered.
  const wrongKey =
    mismatched.length === encrypted.length &&
    mismatched.every((value) => !decryptAes128Cbc(protection.cipherKey, value.ivAndCiphertext).ok);
  if (wrongKey) throw new TallyError('WRONG_PASSWORD');
  throw new TallyError(
    'INTEGRITY_CHECK_FAILED',
    `The ValueMAC of ${firstMismatch.where} does not match: the file is corrupt or was altered.`,
  );
}

function valueBytes(value: RawValue, cipherKey: Buffer | undefined, what: string): Buffer | string {
  const encrypted = value.encrypted;
  if (!encrypted) return value.plain ?? '';
  if (encrypted.algorithm !== AES128_CBC_URI) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', `${what} is encrypted with ${describe(encrypted.algorithm)}; Tally reads aes128-cbc.`);
  }
  // cipherKey is always set when a value is encrypted: readProtection ran first.
  const result = decryptAes128Cbc(cipherKey as Buffer, encrypted.ivAndCiphertext);
  if (!result.ok) throw malformed(`${what} cannot be decrypted (bad ${result.reason}).`);
  return result.plaintext;
}

function secretOf(raw: RawKey, cipherKey: Buffer | undefined): Buffer {
  const value = raw.values.get('Secret');
  if (!value) throw malformed('The key has no Data/Secret.');
  const bytes = valueBytes(value, cipherKey, 'The secret');
  const secret = typeof bytes === 'string' ? strictBase64(bytes, 'The secret') : bytes;
  if (secret.length === 0) throw malformed('The secret is empty.');
  return secret;
}

/** A Data integer: decimal text in PlainValue, big-endian bytes when encrypted (as RFC 6030 and python-pskc write it). */
function integerOf(raw: RawKey, name: DataName, cipherKey: Buffer | undefined): number | undefined {
  const value = raw.values.get(name);
  if (!value) return undefined;
  const bytes = valueBytes(value, cipherKey, `The ${name}`);
  if (typeof bytes === 'string') return integer(bytes, `The ${name}`);
  const big = bytes.reduce((sum, byte) => (sum << 8n) | BigInt(byte), 0n);
  if (bytes.length === 0 || big > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`The encrypted ${name} is not a usable number.`);
  return Number(big);
}

function hashOf(suite: string | undefined): OtpAlgorithm {
  if (suite === undefined) return 'SHA1';
  const name = suite
    .toUpperCase()
    .replace(/^HMAC-?/, '')
    .replace(/-/g, '');
  if (name === 'SHA1' || name === 'SHA256' || name === 'SHA512') return name;
  throw new TallyError('UNSUPPORTED_ALGORITHM', `The Suite ${describe(suite)} is not HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512.`);
}

function digitsOf(key: XmlElement): number {
  const parameters = childNamed(key, 'AlgorithmParameters');
  const format = parameters && childNamed(parameters, 'ResponseFormat');
  const length = format?.attributes.Length;
  if (!format || length === undefined) throw malformed('The key has no AlgorithmParameters/ResponseFormat Length.');
  // python-pskc leaves Encoding out unless told; decimal is what every OATH and SecurID token shows.
  const encoding = format.attributes.Encoding ?? 'DECIMAL';
  if (encoding !== 'DECIMAL') {
    throw new TallyError(
      'UNSUPPORTED_ALGORITHM',
      `The response encoding ${describe(encoding)} is not supported; Tally's tokens show DECIMAL codes.`,
    );
  }
  if (['true', '1'].includes(format.attributes.CheckDigits ?? '')) {
    throw new TallyError('UNSUPPORTED_ALGORITHM', 'Codes with a check digit are not supported.');
  }
  const digits = integer(length, 'The ResponseFormat Length');
  if (digits < 6 || digits > 8) throw new TallyError('UNSUPPORTED_ALGORITHM', `Codes of ${digits} digits are not supported; 6 to 8 are.`);
  return digits;
}

function policyRefused(message: string): TallyError {
  return new TallyError('KEY_POLICY_UNSUPPORTED', message);
}

/** An xs:dateTime as RFC 6030 writes it (UTC, `Z` or none; an explicit offset is honoured), in milliseconds. */
function dateTime(text: string, what: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!match) throw policyRefused(`The ${what} ${describe(text)} is not a date and time (such as 2026-05-01T00:00:00Z).`);
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const ms = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Math.floor(Number(fraction ?? 0) * 1000),
  );
  const check = new Date(ms);
  // Date.UTC rolls 31 February over into March; a date that does not exist is refused instead.
  if (
    check.getUTCMonth() !== Number(month) - 1 ||
    check.getUTCDate() !== Number(day) ||
    Number(hour) > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    throw policyRefused(`The ${what} ${describe(text)} is not a valid date and time.`);
  }
  if (zone === undefined || zone === 'Z') return ms;
  const offset = (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  return zone.startsWith('+') ? ms - offset : ms + offset;
}

/**
 * Step 5a: the key's Policy. RFC 6030, section 4.3.4: a recipient that does not understand a
 * policy element or value must assume the key may not be used, so anything Tally cannot enforce
 * refuses the key. A PINPolicy whose PIN the device checks (PINUsageMode Local) asks nothing of
 * the server; any other mode would need the file's PIN checked here, which Tally does not do.
 */
function policyOf(key: XmlElement): PskcPolicy | undefined {
  const policy = childNamed(key, 'Policy');
  if (!policy) return undefined;
  const read: PskcPolicy = {};
  const usages: string[] = [];
  const seen = new Set<string>();
  for (const element of policy.children) {
    const name = localName(element.name);
    if (name !== 'KeyUsage' && seen.has(name)) throw policyRefused(`The Policy has more than one ${name}.`);
    seen.add(name);
    const text = element.text.trim();
    switch (name) {
      case 'StartDate':
        read.startDate = dateTime(text, 'Policy StartDate');
        break;
      case 'ExpiryDate':
        read.expiryDate = dateTime(text, 'Policy ExpiryDate');
        break;
      case 'NumberOfTransactions': {
        const count = Number(text);
        if (!/^[0-9]{1,9}$/.test(text))
          throw policyRefused(`The Policy NumberOfTransactions ${describe(text)} is not a whole number Tally can count down.`);
        read.numberOfTransactions = count;
        break;
      }
      case 'KeyUsage':
        usages.push(text);
        break;
      case 'PINPolicy': {
        const mode = element.attributes.PINUsageMode?.trim();
        if (mode !== 'Local') {
          throw policyRefused(
            `The Policy's PINPolicy has PINUsageMode ${mode === undefined ? '(none)' : describe(mode)}; Tally takes keys whose PIN the device checks (Local), and sets its own PINs.`,
          );
        }
        break;
      }
      default:
        throw policyRefused(`The Policy has a ${describe(name)} element, which Tally cannot enforce.`);
    }
  }
  if (usages.length > 0 && !usages.includes('OTP')) {
    throw new TallyError(
      'KEY_USAGE_NOT_OTP',
      `The key's Policy allows ${usages.map(describe).join(', ')} but not OTP, so it may not be used for one-time passwords.`,
    );
  }
  if (read.startDate !== undefined && read.expiryDate !== undefined && read.expiryDate <= read.startDate) {
    throw policyRefused('The Policy ExpiryDate is not after its StartDate.');
  }
  return Object.keys(read).length > 0 ? read : undefined;
}

function decodeKey(raw: RawKey, cipherKey: Buffer | undefined): PskcKey {
  const element = raw.element;
  const algorithmUri = element.attributes.Algorithm?.trim();
  if (!algorithmUri) throw malformed('The key has no Algorithm.');
  const kind = KEY_ALGORITHMS.get(algorithmUri);
  if (kind === undefined) {
    throw new TallyError(
      'UNSUPPORTED_ALGORITHM',
      `The algorithm ${describe(algorithmUri)} is not supported; Tally reads HOTP, TOTP and SecurID-AES keys.`,
    );
  }
  const id = element.attributes.Id;
  const serial = textOf(raw.deviceInfo, 'SerialNo');
  const manufacturer = textOf(raw.deviceInfo, 'Manufacturer');
  const userId = textOf(element, 'UserId') ?? textOf(raw.deviceInfo, 'UserId');
  const issuer = textOf(element, 'Issuer');
  const friendlyName = textOf(element, 'FriendlyName');
  const policy = policyOf(element);
  const common = {
    ...(id === undefined ? {} : { id }),
    secret: secretOf(raw, cipherKey),
    digits: digitsOf(element),
    ...(manufacturer === undefined ? {} : { manufacturer }),
    ...(userId === undefined ? {} : { userId }),
    ...(issuer === undefined ? {} : { issuer }),
    ...(friendlyName === undefined ? {} : { friendlyName }),
    ...(policy === undefined ? {} : { policy }),
  };
  const period = integerOf(raw, 'TimeInterval', cipherKey);
  if (period !== undefined && period <= 0) throw malformed('The TimeInterval must be above 0.');

  if (kind === 'securid-aes') {
    if (serial === undefined || !/^[0-9]{1,12}$/.test(serial)) {
      throw malformed('A SecurID key needs a DeviceInfo/SerialNo of up to 12 digits.');
    }
    if (common.secret.length !== 16) throw malformed('A SecurID-AES seed is 16 bytes.');
    const interval = period ?? 60;
    if (interval !== 30 && interval !== 60) throw new TallyError('UNSUPPORTED_ALGORITHM', 'SecurID tokens change every 30 or 60 seconds.');
    return { kind, ...common, serial: serial.padStart(12, '0'), period: interval };
  }
  const algorithm = hashOf(textOf(childNamed(element, 'AlgorithmParameters'), 'Suite'));
  const withSerial = { ...common, ...(serial === undefined ? {} : { serial }), algorithm };
  if (kind === 'hotp') {
    const counter = integerOf(raw, 'Counter', cipherKey) ?? 0;
    if (counter < 0) throw malformed('The Counter cannot be negative.');
    return { kind, ...withSerial, counter };
  }
  const time = integerOf(raw, 'Time', cipherKey);
  const timeDrift = integerOf(raw, 'TimeDrift', cipherKey);
  return {
    kind,
    ...withSerial,
    period: period ?? 30,
    ...(time === undefined ? {} : { time }),
    ...(timeDrift === undefined ? {} : { timeDrift }),
  };
}

// Step 5: each key on its own; a key that cannot be used is reported, the others still come through.
export function outcomeOf(raw: RawKey, cipherKey: Buffer | undefined): PskcKeyOutcome {
  try {
    return { status: 'imported', index: raw.index, key: decodeKey(raw, cipherKey) };
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    const id = raw.element.attributes.Id;
    const serial = textOf(raw.deviceInfo, 'SerialNo');
    return {
      status: 'refused',
      index: raw.index,
      ...(id === undefined ? {} : { id }),
      ...(serial === undefined ? {} : { serial }),
      code: error.code,
      reason: error.message,
    };
  }
}

/**
 * Reads an RFC 6030 PSKC file, plain or protected by a password (PBKDF2, aes128-cbc, HMAC
 * ValueMACs). A file that fails as a whole throws and yields nothing: malformed (FORMAT_INVALID,
 * XML_FORBIDDEN_CONSTRUCT, INPUT_TOO_LARGE), PASSWORD_REQUIRED, WRONG_PASSWORD, or any ValueMAC
 * mismatch (INTEGRITY_CHECK_FAILED). Otherwise each key comes back imported or refused with why.
 */
export function readPskc(input: string | Uint8Array, options: PskcReadOptions = {}): PskcReadResult {
  const container = parseContainer(input, options.maxBytes ?? DEFAULT_MAX_BYTES);
  const keys = collectKeys(container);
  const signed = childNamed(container, 'Signature') !== undefined;
  const anyEncrypted = keys.some(isEncrypted);
  if (!anyEncrypted) return { passwordProtected: false, signed, keys: keys.map((raw) => outcomeOf(raw, undefined)) };
  const protection = readProtection(container, options);
  checkValueMacs(keys, protection);
  return { passwordProtected: true, signed, keys: keys.map((raw) => outcomeOf(raw, protection.cipherKey)) };
}
