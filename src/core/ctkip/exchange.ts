import { constants, createPublicKey, type KeyObject, privateDecrypt, publicEncrypt, timingSafeEqual } from 'node:crypto';
import { invalidInput, TallyError } from '../../errors.js';
import {
  ALGORITHM,
  buildClientHello,
  buildClientNonce,
  buildServerFinished,
  buildServerHello,
  buildServerProvisioningData,
  type ClientHello,
  type ClientNonce,
  type PinSettings,
  requirePinSettings,
  type ServerFinished,
  type ServerFinishedFields,
  type ServerHello,
  type ServerHelloFields,
} from './messages.js';
import { deriveTokenKey, keyConfirmationMac, modulusBytes } from './prf.js';

/** R_C and R_S are both 16 bytes in the dialect. */
export const NONCE_BYTES = 16;
const MIN_MODULUS_BITS = 1024;

// The dialect encrypts R_C with RSAES-OAEP (SHA-1, MGF1-SHA-1, empty label), whatever the
// advertised algorithm URI says.
const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' } as const;

function requireNonce(nonce: Uint8Array, what: string): void {
  if (nonce.length !== NONCE_BYTES) throw invalidInput('ctkipNonceLength', { what, bytes: NONCE_BYTES });
}

function requireSessionId(sessionId: string): void {
  if (!/^[\x21-\x7e]{1,256}$/.test(sessionId)) throw invalidInput('ctkipSessionId');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function rsaNumbers(key: KeyObject): { modulus: Buffer; exponent: Buffer } {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'rsa') throw invalidInput('ctkipServerKey');
  const jwk = publicKey.export({ format: 'jwk' });
  return { modulus: modulusBytes(Buffer.from(jwk.n ?? '', 'base64url')), exponent: Buffer.from(jwk.e ?? '', 'base64url') };
}

// ---------------------------------------------------------------------------------------------
// Server

export interface ServerHelloStep {
  hello: ClientHello;
  sessionId: string;
  /** R_S: 16 fresh random bytes, kept with the session for serverFinished. */
  serverNonce: Uint8Array;
  /** The server's RSA key (public, or private to take the public half from). */
  serverKey: KeyObject;
}

/** Answers a ClientHello with the ServerHello's fields, after checking the client offers the dialect. */
export function answerClientHello(step: ServerHelloStep): ServerHelloFields {
  const { hello } = step;
  const offered =
    hello.keyTypes.includes(ALGORITHM.securidAes) &&
    hello.encryptionAlgorithms.includes(ALGORITHM.rsa15) &&
    hello.macAlgorithms.includes(ALGORITHM.prfAes200511);
  if (!offered) throw new TallyError('CTKIP_UNSUPPORTED');
  requireSessionId(step.sessionId);
  requireNonce(step.serverNonce, 'The server nonce');
  return { sessionId: step.sessionId, serverNonce: step.serverNonce, ...rsaNumbers(step.serverKey) };
}

/** Answers a ClientHello with the ServerHello XML (answerClientHello, encoded). */
export function serverHello(step: ServerHelloStep): string {
  return buildServerHello(answerClientHello(step));
}

export interface TokenSettings extends PinSettings {
  /** 12 decimal digits. */
  serial: string;
  /** ISO-8601 date or date-time (e.g. `2027-11-29T00:00:00+00:00`); clients keep the date. */
  keyExpiryDate: string;
  userId: string;
  digits: 6 | 8;
  period: 30 | 60;
}

export interface ServerFinishedStep {
  message: ClientNonce;
  /** The session the server looked up for this request, and the R_S it sent in its ServerHello. */
  sessionId: string;
  serverNonce: Uint8Array;
  serverPrivateKey: KeyObject;
  token: TokenSettings;
}

export interface ServerFinishedResult {
  /** K_TOKEN, the token seed: store it (encrypted) before sending the response. */
  kToken: Buffer;
  responseXml: string;
  /** The second response's ProvisioningData document (the PIN settings). */
  provisioningData: string;
}

function checkTokenSettings(token: TokenSettings): void {
  if (!/^\d{12}$/.test(token.serial)) throw invalidInput('ctkipSerial');
  if (!/^\d{4}-\d{2}-\d{2}(T[\x21-\x7e]+)?$/.test(token.keyExpiryDate)) {
    throw invalidInput('ctkipExpiry');
  }
  if (token.digits !== 6 && token.digits !== 8) throw invalidInput('ctkipDigits');
  if (token.period !== 30 && token.period !== 60) throw invalidInput('ctkipPeriod');
  requirePinSettings(token);
}

/** The ServerFinished as values: what the server sends, and the seed it keeps. */
export interface ServerFinishedAnswer {
  /** K_TOKEN, the token seed: store it (encrypted) before sending the response. */
  kToken: Buffer;
  finished: ServerFinishedFields;
  /** The second response's ProvisioningData (the PIN settings). */
  pin: PinSettings;
}

/**
 * Checks a ClientNonce against the session, recovers R_C and derives the seed. Every failure is a
 * typed error; none of them names a nonce.
 */
export function answerClientNonce(step: ServerFinishedStep): ServerFinishedAnswer {
  const { message, token } = step;
  checkTokenSettings(token);
  requireNonce(step.serverNonce, 'The server nonce');
  if (message.sessionId !== step.sessionId) throw new TallyError('CTKIP_SESSION_UNKNOWN');
  if (!message.echoedServerNonce || !sameBytes(message.echoedServerNonce, step.serverNonce)) {
    throw new TallyError('CTKIP_NONCE_MISMATCH');
  }

  let clientNonce: Buffer;
  try {
    clientNonce = privateDecrypt({ key: step.serverPrivateKey, ...OAEP }, message.encryptedNonce);
  } catch {
    throw new TallyError('CTKIP_DECRYPT_FAILED');
  }
  // One error for both, so a caller learns nothing more about a forged ciphertext than that it failed.
  if (clientNonce.length !== NONCE_BYTES) throw new TallyError('CTKIP_DECRYPT_FAILED');

  const kToken = deriveTokenKey(clientNonce, rsaNumbers(step.serverPrivateKey).modulus, step.serverNonce);
  return {
    kToken,
    finished: {
      sessionId: step.sessionId,
      serial: token.serial,
      keyExpiryDate: token.keyExpiryDate,
      userId: token.userId,
      digits: token.digits,
      period: token.period,
      mac: keyConfirmationMac(kToken, clientNonce),
    },
    pin: { pinType: token.pinType, addPin: token.addPin },
  };
}

/** answerClientNonce with the ServerFinished and its ProvisioningData encoded. */
export function serverFinished(step: ServerFinishedStep): ServerFinishedResult {
  const { kToken, finished, pin } = answerClientNonce(step);
  return { kToken, responseXml: buildServerFinished(finished), provisioningData: buildServerProvisioningData(pin) };
}

// ---------------------------------------------------------------------------------------------
// Client

/** The first request's inner message. */
export function clientHello(): string {
  return buildClientHello();
}

/** What the client keeps between its two requests. */
export interface ClientSession {
  sessionId: string;
  serverNonce: Buffer;
  clientNonce: Buffer;
  modulus: Buffer;
}

export interface ClientNonceStep {
  hello: ServerHello;
  /** R_C: 16 fresh random bytes. */
  clientNonce: Uint8Array;
}

function serverPublicKey(hello: ServerHello): KeyObject {
  const notValid = new TallyError('CTKIP_BAD_MESSAGE', 'The ServerHello RSA key is not valid.');
  const modulus = modulusBytes(hello.modulus);
  if (modulus.length === 0 || modulus[0] === 0 || hello.exponent.length === 0) throw notValid;
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: { kty: 'RSA', n: modulus.toString('base64url'), e: hello.exponent.toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw notValid;
  }
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) {
    throw new TallyError('CTKIP_UNSUPPORTED', `The server's RSA key is shorter than ${MIN_MODULUS_BITS} bits.`);
  }
  return key;
}

/** Answers a ServerHello: encrypts R_C to the server key and echoes R_S. */
export function clientNonce(step: ClientNonceStep): { requestXml: string; session: ClientSession } {
  const { hello } = step;
  requireNonce(step.clientNonce, 'The client nonce');
  if (hello.status !== 'Continue') throw new TallyError('CTKIP_SERVER_FAULT', undefined, { status: hello.status });
  if (hello.keyType !== undefined && hello.keyType !== ALGORITHM.securidAes) throw new TallyError('CTKIP_UNSUPPORTED');
  if (hello.macAlgorithm !== undefined && !hello.macAlgorithm.endsWith('#ct-kip-prf-aes')) {
    throw new TallyError('CTKIP_UNSUPPORTED');
  }
  if (hello.serverNonce.length !== NONCE_BYTES) {
    throw new TallyError('CTKIP_BAD_MESSAGE', `The server nonce is not ${NONCE_BYTES} bytes.`);
  }
  const encryptedNonce = publicEncrypt({ key: serverPublicKey(hello), ...OAEP }, step.clientNonce);
  return {
    requestXml: buildClientNonce({ sessionId: hello.sessionId, encryptedNonce, serverNonce: hello.serverNonce }),
    session: {
      sessionId: hello.sessionId,
      serverNonce: Buffer.from(hello.serverNonce),
      clientNonce: Buffer.from(step.clientNonce),
      modulus: modulusBytes(hello.modulus),
    },
  };
}

export interface ClientFinishStep {
  session: ClientSession;
  message: ServerFinished;
  /** From the second response's ProvisioningData (parseServerProvisioningData). */
  pin: Partial<PinSettings>;
}

/** A provisioned token, with the clients' defaults filled in for what the server left out. */
export interface ActivatedToken {
  serial: string;
  seed: Buffer;
  /** `YYYY-MM-DD`, the first 10 characters of KeyExpiryDate. */
  expiresOn: string;
  digits: number;
  period: 30 | 60;
  pinType: number;
  addPin: boolean;
  userId: string;
  serviceId?: string;
}

/** Verifies the server's MAC (constant-time) and returns the token; nothing is trusted before that. */
export function clientFinish(step: ClientFinishStep): ActivatedToken {
  const { session, message } = step;
  if (message.status !== 'Success') throw new TallyError('CTKIP_SERVER_FAULT', undefined, { status: message.status });
  if (message.sessionId !== session.sessionId) {
    throw new TallyError('CTKIP_BAD_MESSAGE', 'The ServerFinished belongs to another session.');
  }
  const seed = deriveTokenKey(session.clientNonce, session.modulus, session.serverNonce);
  if (!message.mac || !sameBytes(message.mac, keyConfirmationMac(seed, session.clientNonce))) {
    throw new TallyError('CTKIP_MAC_MISMATCH');
  }

  const serial = message.keyId ?? message.tokenId;
  if (serial === undefined || !/^\d{1,12}$/.test(serial)) {
    throw new TallyError('CTKIP_BAD_MESSAGE', 'The ServerFinished has no serial number of up to 12 digits.');
  }
  const expiresOn = message.keyExpiryDate?.slice(0, 10);
  if (expiresOn === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(expiresOn)) {
    throw new TallyError('CTKIP_BAD_MESSAGE', 'The ServerFinished has no valid KeyExpiryDate.');
  }
  const digits = message.digits ?? 8;
  if (digits < 1 || digits > 8) throw new TallyError('CTKIP_BAD_MESSAGE', 'OTPLength must be 1 to 8.');
  const period = message.period ?? 60;
  if (period !== 30 && period !== 60) {
    throw new TallyError('CTKIP_BAD_MESSAGE', 'TimeInterval must be 30 or 60.');
  }
  return {
    serial,
    seed,
    expiresOn,
    digits,
    period,
    pinType: step.pin.pinType ?? 0,
    addPin: step.pin.addPin ?? true,
    userId: message.userId ?? '',
    ...(message.serviceId === undefined ? {} : { serviceId: message.serviceId }),
  };
}
