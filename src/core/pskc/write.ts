import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { invalidInput, type TallyError } from '../../errors.js';
import { escapeXml } from '../xml/strict.js';
import { derivePbkdf2, encryptAes128Cbc, hmac } from './cipher.js';
import {
  AES128_CBC_URI,
  HOTP_URI,
  PBKDF2_URI,
  PSKC_HMACS,
  PSKC_NS,
  type PskcHmac,
  type PskcKey,
  SECURID_AES_URI,
  TOTP_URI,
  XENC_NS,
  XENC11_NS,
} from './model.js';

export interface PskcWriteOptions {
  /** Encrypt every secret under this password (PBKDF2, aes128-cbc, ValueMACs). Absent: a plain file. */
  password?: string;
  /** PBKDF2 iterations; default 100,000, at least 1,000. */
  iterations?: number;
  /**
   * PBKDF2 PRF. Default hmac-sha1: RFC 6030's example uses it and readers assume it when PRF is
   * absent, so it is written as an absent PRF; hmac-sha256 is written as PRF Algorithm="...".
   */
  prf?: PskcHmac;
  /** ValueMAC algorithm; default hmac-sha1, RFC 6030's example and python-pskc's default. */
  mac?: PskcHmac;
  /** Source of the salt, IVs and MAC key; tests inject a deterministic one. */
  randomBytes?: (size: number) => Uint8Array;
}

const DEFAULT_ITERATIONS = 100_000;
const MIN_ITERATIONS = 1_000;
const SALT_BYTES = 16;
const IV_BYTES = 16;
const AES128_KEY_BYTES = 16;

interface XmlNode {
  name: string;
  attributes?: Record<string, string | undefined>;
  text?: string;
  children?: (XmlNode | undefined)[];
}

function render(node: XmlNode, indent = ''): string {
  const attributes = Object.entries(node.attributes ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
  const children = (node.children ?? []).filter((child): child is XmlNode => child !== undefined);
  if (children.length > 0) {
    const inner = children.map((child) => render(child, `${indent}  `)).join('');
    return `${indent}<${node.name}${attributes}>\n${inner}${indent}</${node.name}>\n`;
  }
  if (node.text !== undefined) return `${indent}<${node.name}${attributes}>${escapeXml(node.text)}</${node.name}>\n`;
  return `${indent}<${node.name}${attributes}/>\n`;
}

function refuse(problem: string): TallyError {
  return invalidInput('pskcUnwritable', { problem });
}

// XML 1.0 cannot carry these at all, not even escaped; lone surrogates are not text in any encoding.
const NOT_XML_TEXT = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkText(value: string, what: string): string {
  if (NOT_XML_TEXT.test(value)) throw refuse(`${what} has characters XML cannot carry`);
  return value;
}

function optionalText(name: string, value: string | undefined, where: string): XmlNode | undefined {
  return value === undefined ? undefined : { name: `pskc:${name}`, text: checkText(value, `the ${name} of ${where}`) };
}

function checkKey(key: PskcKey, where: string): void {
  if (key.secret.length === 0) throw refuse(`${where} has an empty secret`);
  if (!Number.isInteger(key.digits) || key.digits < 6 || key.digits > 8) throw refuse(`${where} must have 6 to 8 digits`);
  if (key.kind === 'hotp' && (!Number.isSafeInteger(key.counter) || key.counter < 0)) {
    throw refuse(`the counter of ${where} must be a whole number, 0 or more`);
  }
  if (key.kind !== 'hotp' && (!Number.isSafeInteger(key.period) || key.period <= 0)) {
    throw refuse(`the time interval of ${where} must be a whole number of seconds above 0`);
  }
  if (key.kind === 'totp' && [key.time, key.timeDrift].some((v) => v !== undefined && !Number.isSafeInteger(v))) {
    throw refuse(`the time and time drift of ${where} must be whole numbers`);
  }
  if (key.kind === 'securid-aes' && (!/^[0-9]{1,12}$/.test(key.serial) || key.secret.length !== 16)) {
    throw refuse(`${where} needs a serial of up to 12 digits and a 16-byte seed`);
  }
}

/** Encrypts and MACs values for a password-protected file; absent for a plain one. */
interface Sealer {
  header: XmlNode[];
  seal(plaintext: Uint8Array): XmlNode[];
}

function passwordSealer(password: string, options: PskcWriteOptions): Sealer {
  const random = options.randomBytes ?? cryptoRandomBytes;
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < MIN_ITERATIONS) throw refuse(`PBKDF2 needs at least ${MIN_ITERATIONS} iterations`);
  const prf = options.prf ?? 'hmac-sha1';
  const mac = options.mac ?? 'hmac-sha1';
  if (!Object.hasOwn(PSKC_HMACS, prf) || !Object.hasOwn(PSKC_HMACS, mac))
    throw refuse('the PRF and the MAC must be hmac-sha1 or hmac-sha256');

  const salt = Buffer.from(random(SALT_BYTES));
  const cipherKey = derivePbkdf2(password, salt, iterations, AES128_KEY_BYTES, PSKC_HMACS[prf].digest);
  const macKey = Buffer.from(random(PSKC_HMACS[mac].keyBytes));
  const encrypt = (plaintext: Uint8Array) => encryptAes128Cbc(cipherKey, Buffer.from(random(IV_BYTES)), plaintext);
  const encryptedValue = (name: string, ivAndCiphertext: Buffer): XmlNode => ({
    name,
    children: [
      { name: 'xenc:EncryptionMethod', attributes: { Algorithm: AES128_CBC_URI } },
      { name: 'xenc:CipherData', children: [{ name: 'xenc:CipherValue', text: ivAndCiphertext.toString('base64') }] },
    ],
  });

  const header: XmlNode[] = [
    {
      name: 'pskc:EncryptionKey',
      children: [
        {
          name: 'xenc11:DerivedKey',
          children: [
            {
              name: 'xenc11:KeyDerivationMethod',
              attributes: { Algorithm: PBKDF2_URI },
              children: [
                {
                  // XML Encryption 1.1 defines PBKDF2-params in its own namespace; python-pskc writes it there too.
                  name: 'xenc11:PBKDF2-params',
                  children: [
                    { name: 'Salt', children: [{ name: 'Specified', text: salt.toString('base64') }] },
                    { name: 'IterationCount', text: String(iterations) },
                    { name: 'KeyLength', text: String(AES128_KEY_BYTES) },
                    prf === 'hmac-sha1' ? undefined : { name: 'PRF', attributes: { Algorithm: PSKC_HMACS[prf].uri } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    },
    {
      name: 'pskc:MACMethod',
      attributes: { Algorithm: PSKC_HMACS[mac].uri },
      children: [encryptedValue('pskc:MACKey', encrypt(macKey))],
    },
  ];
  return {
    header,
    seal(plaintext) {
      const ivAndCiphertext = encrypt(plaintext);
      return [
        encryptedValue('pskc:EncryptedValue', ivAndCiphertext),
        { name: 'pskc:ValueMAC', text: hmac(PSKC_HMACS[mac].digest, macKey, ivAndCiphertext).toString('base64') },
      ];
    },
  };
}

function plainValue(name: string, value: number | undefined): XmlNode | undefined {
  return value === undefined ? undefined : { name: `pskc:${name}`, children: [{ name: 'pskc:PlainValue', text: String(value) }] };
}

function keyPackage(key: PskcKey, index: number, sealer: Sealer | undefined): XmlNode {
  const where = `key ${index + 1}`;
  checkKey(key, where);
  const secret = Buffer.from(key.secret);
  const algorithm = key.kind === 'hotp' ? HOTP_URI : key.kind === 'totp' ? TOTP_URI : SECURID_AES_URI;
  const hasDevice = key.manufacturer !== undefined || key.serial !== undefined;
  return {
    name: 'pskc:KeyPackage',
    children: [
      hasDevice
        ? {
            name: 'pskc:DeviceInfo',
            children: [optionalText('Manufacturer', key.manufacturer, where), optionalText('SerialNo', key.serial, where)],
          }
        : undefined,
      {
        name: 'pskc:Key',
        // RFC 6030 requires an Id; the position stands in when the caller has none.
        attributes: { Id: checkText(key.id ?? String(index + 1), `the Id of ${where}`), Algorithm: algorithm },
        children: [
          optionalText('Issuer', key.issuer, where),
          {
            name: 'pskc:AlgorithmParameters',
            children: [
              key.kind === 'securid-aes' ? undefined : { name: 'pskc:Suite', text: `HMAC-${key.algorithm}` },
              { name: 'pskc:ResponseFormat', attributes: { Length: String(key.digits), Encoding: 'DECIMAL' } },
            ],
          },
          optionalText('FriendlyName', key.friendlyName, where),
          {
            name: 'pskc:Data',
            children: [
              {
                name: 'pskc:Secret',
                children: sealer ? sealer.seal(secret) : [{ name: 'pskc:PlainValue', text: secret.toString('base64') }],
              },
              plainValue('Counter', key.kind === 'hotp' ? key.counter : undefined),
              plainValue('Time', key.kind === 'totp' ? key.time : undefined),
              plainValue('TimeInterval', key.kind === 'hotp' ? undefined : key.period),
              plainValue('TimeDrift', key.kind === 'totp' ? key.timeDrift : undefined),
            ],
          },
          optionalText('UserId', key.userId, where),
        ],
      },
    ],
  };
}

/**
 * Writes keys as an RFC 6030 PSKC file. With a password, every secret is encrypted (aes128-cbc
 * under a PBKDF2 key from a random salt, a random IV each) and carries a ValueMAC under a random
 * MAC key that travels encrypted in MACMethod/MACKey, as python-pskc and RFC 6030 figure 7 do.
 */
export function writePskc(keys: readonly PskcKey[], options: PskcWriteOptions = {}): string {
  if (options.password === '') throw refuse('the password is empty');
  const ids = keys.map((key, index) => key.id ?? String(index + 1));
  if (new Set(ids).size !== ids.length) throw refuse('two keys have the same Id');
  const sealer = options.password === undefined ? undefined : passwordSealer(options.password, options);
  const container: XmlNode = {
    name: 'pskc:KeyContainer',
    attributes: {
      'xmlns:pskc': PSKC_NS,
      ...(sealer ? { 'xmlns:xenc': XENC_NS, 'xmlns:xenc11': XENC11_NS } : {}),
      Version: '1.0',
    },
    children: [...(sealer?.header ?? []), ...keys.map((key, index) => keyPackage(key, index, sealer))],
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${render(container)}`;
}
