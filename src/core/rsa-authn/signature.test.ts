import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { checkSignature, type SignedRequest, signingString, signRequest } from './signature.js';

const NOW = Date.parse('2026-12-07T01:00:00Z');
const request: SignedRequest = {
  method: 'post',
  path: '/mfa/v1_1/authn/initialize',
  date: 'Mon, 07 Dec 2026 01:00:00 GMT',
  body: '{"clientId":"vpn-agent","subjectName":"pat","context":{"messageId":"m-1"}}',
  clientId: 'vpn-agent',
};

test('the signed text: method, SHA-512 of the body (Base64), path, date, client id, one per line', () => {
  const bodyHash = createHash('sha512').update(request.body).digest('base64');
  assert.equal(signingString(request), `POST\n${bodyHash}\n/mfa/v1_1/authn/initialize\nMon, 07 Dec 2026 01:00:00 GMT\nvpn-agent`);
  const expected = createHmac('sha256', 'tls_secret').update(signingString(request)).digest('base64');
  assert.equal(signRequest('tls_secret', request), expected);
});

test('a valid signature is remembered until its date leaves the skew', () => {
  const signature = signRequest('tls_secret', request);
  assert.deepEqual(checkSignature({ secret: 'tls_secret', request, signature, now: NOW + 299_000 }), {
    valid: true,
    expiresAt: NOW + 300_000,
  });
});

test('refused: no signature or date, an unreadable date, a date beyond the skew either way, any byte changed, another secret', () => {
  const signature = signRequest('tls_secret', request);
  const check = (overrides: Partial<SignedRequest> & { signature?: string; now?: number; secret?: string; date?: string }) =>
    checkSignature({
      secret: overrides.secret ?? 'tls_secret',
      request: { ...request, ...overrides },
      signature: 'signature' in overrides ? overrides.signature : signature,
      now: overrides.now ?? NOW,
    });
  assert.deepEqual(check({ signature: undefined }), { valid: false, reason: 'missing' });
  assert.deepEqual(checkSignature({ secret: 'tls_secret', request: { ...request, date: undefined }, signature, now: NOW }), {
    valid: false,
    reason: 'missing',
  });
  assert.deepEqual(check({ date: 'yesterday' }), { valid: false, reason: 'date' });
  assert.deepEqual(check({ now: NOW + 301_000 }), { valid: false, reason: 'skew' });
  assert.deepEqual(check({ now: NOW - 301_000 }), { valid: false, reason: 'skew' });
  assert.deepEqual(check({ body: request.body.replace('pat', 'pau') }), { valid: false, reason: 'mismatch' });
  assert.deepEqual(check({ path: '/mfa/v1_1/authn/verify' }), { valid: false, reason: 'mismatch' });
  assert.deepEqual(check({ clientId: 'other-agent' }), { valid: false, reason: 'mismatch' });
  assert.deepEqual(check({ date: 'Mon, 07 Dec 2026 01:00:01 GMT' }), { valid: false, reason: 'mismatch' });
  assert.deepEqual(check({ secret: 'tls_other' }), { valid: false, reason: 'mismatch' });
  assert.deepEqual(check({ signature: 'not base64 at all' }), { valid: false, reason: 'mismatch' });
});
