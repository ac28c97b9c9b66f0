import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { decodeBase32, encodeBase32 } from './base32.js';

const isFormatInvalid = (e: unknown) => e instanceof TallyError && e.code === 'FORMAT_INVALID';

// RFC 4648 section 10, with the padding dropped as otpauth links drop it.
const RFC4648 = [
  ['', ''],
  ['f', 'MY'],
  ['fo', 'MZXQ'],
  ['foo', 'MZXW6'],
  ['foob', 'MZXW6YQ'],
  ['fooba', 'MZXW6YTB'],
  ['foobar', 'MZXW6YTBOI'],
];

test('encodes and decodes the RFC 4648 vectors', () => {
  for (const [text = '', base32 = ''] of RFC4648) {
    assert.equal(encodeBase32(Buffer.from(text)), base32);
    assert.equal(decodeBase32(base32).toString(), text);
  }
});

test('agrees with the secrets of the OATH vectors', () => {
  const hotp = readVectorJson('oath/rfc4226-appendix-d.json');
  assert.equal(encodeBase32(Buffer.from(hotp.secret_hex, 'hex')), hotp.secret_base32);
  for (const uri of readVectorJson('oath/otpauth-uris.json').uris) {
    assert.equal(encodeBase32(Buffer.from(uri.secret_hex, 'hex')), uri.secret_base32);
    assert.equal(decodeBase32(uri.secret_base32).toString('hex'), uri.secret_hex);
  }
});

test('decoding tolerates case, spaces, line breaks and padding', () => {
  assert.equal(decodeBase32('mzxw6ytboi').toString(), 'foobar');
  assert.equal(decodeBase32('MZXW 6YTB OI').toString(), 'foobar');
  assert.equal(decodeBase32(' mzxw\n6ytb\toi======\n').toString(), 'foobar');
  assert.equal(decodeBase32('MZXW6YQ=').toString(), 'foob');
});

test('decoding refuses characters outside the alphabet, inner padding and impossible lengths', () => {
  for (const bad of ['MZXW1', 'MZXW0YQ', 'MZXW8YQ', 'MZ=XW6', 'MZXW6-YQ', 'MZXW6YQ!', 'é']) {
    assert.throws(() => decodeBase32(bad), isFormatInvalid, bad);
  }
  for (const bad of ['M', 'MZX', 'MZXW6Y', 'MZXW6YTBO']) {
    assert.throws(() => decodeBase32(bad), isFormatInvalid, bad);
  }
});

test('messages give the position, not the character', () => {
  assert.throws(
    () => decodeBase32('ab cd9fgh'),
    (e: unknown) => isFormatInvalid(e) && /position 6/.test((e as Error).message) && !(e as Error).message.includes('9'),
  );
});

test('round-trips random bytes', () => {
  for (let i = 0; i < 500; i++) {
    const bytes = randomBytes(randomInt(0, 80));
    const text = encodeBase32(bytes);
    assert.match(text, /^[A-Z2-7]*$/);
    assert.equal(text.length, Math.ceil((bytes.length * 8) / 5));
    assert.deepEqual(decodeBase32(text), bytes);
    assert.deepEqual(decodeBase32(text.toLowerCase().replace(/(.{4})/g, '$1 ')), bytes);
  }
});
