import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { aesCmac, ctkipPrf, deriveTokenKey, keyConfirmationMac, modulusBytes } from './prf.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// RFC 4493 section 4 (the same as NIST SP 800-38B's AES-128 examples).
const RFC4493_KEY = hex('2b7e1516 28aed2a6 abf71588 09cf4f3c');
const RFC4493_MESSAGE = hex(
  '6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51' +
    '30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710',
);
const RFC4493_EXAMPLES = [
  { length: 0, tag: 'bb1d6929 e9593728 7fa37d12 9b756746' },
  { length: 16, tag: '070a16b4 6b4d4144 f79bdd9d d04a287c' },
  { length: 40, tag: 'dfa66747 de9ae630 30ca3261 1497c827' },
  { length: 64, tag: '51f0bebf 7e3b9d92 fc497417 79363cfe' },
];

test('AES-CMAC matches the RFC 4493 examples (empty, one block, partial block, four blocks)', () => {
  for (const { length, tag } of RFC4493_EXAMPLES) {
    assert.equal(aesCmac(RFC4493_KEY, RFC4493_MESSAGE.subarray(0, length)).toString('hex'), hex(tag).toString('hex'), `length ${length}`);
  }
});

test('AES-CMAC takes only 128-bit keys', () => {
  assert.throws(
    () => aesCmac(Buffer.alloc(24), Buffer.alloc(0)),
    (e) => e instanceof TallyError && e.code === 'VALIDATION_FAILED',
  );
});

test('the dialect PRF appends the block counter 1 to the message', () => {
  const message = Buffer.from('anything');
  assert.deepEqual(ctkipPrf(RFC4493_KEY, message), aesCmac(RFC4493_KEY, Buffer.concat([message, hex('00000001')])));
});

test('known answer from RSA software (ctkip.md)', () => {
  const rC = hex('846cd036914f3bf536e7354ece07b35a');
  const rS = hex('79956b2fd8502465ad5c5fe99b9e7786');
  const modulus = Buffer.from(
    '1np1DIf3HOHAK2ahcRzZCJsqIC1QMEqtsdanKSEn5CGtLCdLv9LbLUYo6cQxKSJtwvigpeDgBAb/UYcUNXy/7dY7rA5WpYlsaA9h5C9qzPMBHxVGSIe5k61uUbAwdFhCMfLh776wR//VZ7cuypo5d3cCbvgHGwqw4ZuECbKvONM=',
    'base64',
  );
  const kToken = deriveTokenKey(rC, modulus, rS);
  assert.equal(kToken.toString('hex'), '4e410e4057f9cff2fab36e56695d904c');
  assert.equal(keyConfirmationMac(kToken, rC).toString('hex'), 'eca98d8e5bf211fb5167dada9c262296');
});

for (const exchange of ['mock-exchange', 'fakeserver-exchange']) {
  test(`K_TOKEN and MAC of the captured ${exchange}`, () => {
    const vector = readVectorJson(`ctkip/${exchange}/exchange.json`);
    const rC = hex(vector.R_C_hex);
    const kToken = deriveTokenKey(rC, hex(vector.server_rsa.modulus_hex), hex(vector.R_S_hex));
    assert.equal(kToken.toString('hex'), vector.K_TOKEN_hex);
    assert.equal(kToken.toString('hex'), vector.client_result.stoken_show_seed);
    const mac = keyConfirmationMac(kToken, rC);
    assert.equal(mac.toString('hex'), vector.MAC_hex);
    assert.equal(mac.toString('base64'), vector.MAC_b64);
  });
}

test('a modulus with a leading zero byte derives the same key as without it', () => {
  const vector = readVectorJson('ctkip/mock-exchange/exchange.json');
  const modulus = hex(vector.server_rsa.modulus_hex);
  assert.deepEqual(modulusBytes(Buffer.concat([Buffer.alloc(1), modulus])), modulus);
  assert.equal(
    deriveTokenKey(hex(vector.R_C_hex), Buffer.concat([Buffer.alloc(1), modulus]), hex(vector.R_S_hex)).toString('hex'),
    vector.K_TOKEN_hex,
  );
});
