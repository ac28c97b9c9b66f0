import { createHash, createHmac } from 'node:crypto';
import { constantTimeEqual } from '../crypto/random.js';

/**
 * Tally's request signing for the Authentication API. RSA documents the string an agent signs
 * (the method, the body's SHA-512, the path, a date and the agent's id, one per line, under
 * HMAC-SHA256, Base64) but not the headers that carry it; Tally's headers are `date` (an HTTP date)
 * and `client-key-hmac` (the Base64 signature), and the key is the agent's own signing secret.
 */
export const SIGNATURE_HEADER = 'client-key-hmac';
/** How far a request's date may be from the server's clock; a signature is taken once within it. */
export const SIGNATURE_SKEW_SECONDS = 300;

export interface SignedRequest {
  method: string;
  /** The request's path without the query, e.g. `/mfa/v1_1/authn/initialize`. */
  path: string;
  /** The `date` header as sent. */
  date: string;
  /** The body as sent (bytes as UTF-8 text). */
  body: string;
  clientId: string;
}

/** The text an agent signs: one line each, the body as the Base64 of its SHA-512. */
export function signingString(request: SignedRequest): string {
  const bodyHash = createHash('sha512').update(request.body, 'utf8').digest('base64');
  return [request.method.toUpperCase(), bodyHash, request.path, request.date, request.clientId].join('\n');
}

export function signRequest(secret: string, request: SignedRequest): string {
  return createHmac('sha256', secret).update(signingString(request), 'utf8').digest('base64');
}

export type SignatureCheck = { valid: true; expiresAt: number } | { valid: false; reason: 'missing' | 'date' | 'skew' | 'mismatch' };

/**
 * Whether `signature` signs `request` under `secret` at `now` (ms): present, its date an HTTP date
 * within the skew, the HMAC equal. A valid one says until when it must be remembered as taken.
 */
export function checkSignature(input: {
  secret: string;
  request: Omit<SignedRequest, 'date'> & { date: string | undefined };
  signature: string | undefined;
  now: number;
  skewSeconds?: number;
}): SignatureCheck {
  const { request, signature } = input;
  if (signature === undefined || request.date === undefined) return { valid: false, reason: 'missing' };
  const dated = Date.parse(request.date);
  if (Number.isNaN(dated)) return { valid: false, reason: 'date' };
  const skew = (input.skewSeconds ?? SIGNATURE_SKEW_SECONDS) * 1000;
  if (Math.abs(input.now - dated) > skew) return { valid: false, reason: 'skew' };
  const expected = signRequest(input.secret, { ...request, date: request.date });
  if (!constantTimeEqual(expected, signature)) return { valid: false, reason: 'mismatch' };
  return { valid: true, expiresAt: dated + skew };
}
