import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { makeKeyring, seal } from '../core/crypto/secret-box.js';
import {
  formatKeyFile,
  newPassphraseSource,
  openStore,
  parseKeyFile,
  passphraseKey,
  readEnvelope,
  type StoreKeySource,
  sealStore,
} from './store.js';
import type { ClientToken } from './tokens.js';

const tokens: ClientToken[] = [
  {
    type: 'securid',
    serial: '000123456789',
    seed: randomBytes(16),
    digits: 8,
    period: 30,
    addPin: true,
    localPin: true,
    expiresOn: '2030-01-01',
    userLogin: 'alice',
    features: { timeDerivedSeeds: true, appDerivedSeeds: false, mode: true },
  },
  { type: 'securid', serial: '000000000042', seed: randomBytes(16), digits: 6, period: 60, addPin: false, localPin: false },
  {
    type: 'totp',
    serial: 'ACME:bob',
    secret: randomBytes(32),
    algorithm: 'SHA256',
    digits: 8,
    period: 60,
    issuer: 'ACME',
    account: 'bob',
  },
  { type: 'hotp', serial: 'K-1', secret: randomBytes(20), algorithm: 'SHA1', digits: 6, counter: 12 },
];

const keyFile: StoreKeySource = { kind: 'key-file' };

test('a store round-trips every token type, optional fields left out stay out', () => {
  const key = randomBytes(32);
  const text = sealStore(tokens, key, keyFile);
  assert.deepEqual(openStore(readEnvelope(text, 'S'), key, 'S'), tokens);
  assert.deepEqual(openStore(readEnvelope(sealStore([], key, keyFile), 'S'), key, 'S'), []);
});

test('a store written before the period had one name (intervalSeconds, periodSeconds) still opens', () => {
  const key = randomBytes(32);
  const securIdSeed = randomBytes(16);
  const totpSecret = randomBytes(20);
  // What version 1 stores held before the rename, sealed as sealStore seals them.
  const plaintext = JSON.stringify({
    tokens: [
      {
        type: 'securid',
        serial: '000123456789',
        seed: securIdSeed.toString('hex'),
        digits: 8,
        intervalSeconds: 60,
        addPin: true,
        localPin: false,
      },
      { type: 'totp', serial: 'OLD-1', secret: totpSecret.toString('hex'), algorithm: 'SHA1', digits: 6, periodSeconds: 60 },
    ],
  });
  const sealed = seal(makeKeyring([{ version: 1, key }]), Buffer.from(plaintext, 'utf8'), 'token-store:1:{"kind":"key-file"}');
  const text = JSON.stringify({ format: 'tally-token-store', version: 1, key: keyFile, sealed });
  assert.deepEqual(openStore(readEnvelope(text, 'S'), key, 'S'), [
    { type: 'securid', serial: '000123456789', seed: securIdSeed, digits: 8, period: 60, addPin: true, localPin: false },
    { type: 'totp', serial: 'OLD-1', secret: totpSecret, algorithm: 'SHA1', digits: 6, period: 60 },
  ]);
});

test('the file shows how it is keyed and nothing of the tokens', () => {
  const text = sealStore(tokens, randomBytes(32), keyFile);
  const json = JSON.parse(text);
  assert.deepEqual(Object.keys(json), ['format', 'version', 'key', 'sealed']);
  assert.deepEqual(json.key, { kind: 'key-file' });
  for (const token of tokens) {
    assert.ok(!text.includes(token.serial));
    const secret = token.type === 'securid' ? token.seed : token.secret;
    assert.ok(!text.includes(secret.toString('hex')) && !text.includes(secret.toString('base64')));
  }
});

test('a passphrase store opens with its passphrase only; the salt is per store', () => {
  const source = newPassphraseSource();
  const text = sealStore(tokens, passphraseKey(source, 'correct horse'), source);
  const envelope = readEnvelope(text, 'S');
  assert.deepEqual(envelope.key, source);
  assert.deepEqual(openStore(envelope, passphraseKey(envelope.key as typeof source, 'correct horse'), 'S'), tokens);
  assert.throws(() => openStore(envelope, passphraseKey(source, 'correct horsf'), 'S'), {
    code: 'WRONG_PASSWORD',
    message: 'The passphrase does not open S: it is wrong, or the store was altered.',
  });
  assert.notEqual(newPassphraseSource().salt, source.salt);
  assert.notDeepEqual(passphraseKey(newPassphraseSource(), 'correct horse'), passphraseKey(source, 'correct horse'));
});

test('a wrong key, a changed byte, or a swapped key description does not open the store', () => {
  const key = randomBytes(32);
  const text = sealStore(tokens, key, keyFile);
  const envelope = readEnvelope(text, 'S');
  const wrongKey = { code: 'INTEGRITY_CHECK_FAILED', message: /S does not open with its key file/ };
  assert.throws(() => openStore(envelope, randomBytes(32), 'S'), wrongKey);
  const sealed = Buffer.from(envelope.sealed.slice(3), 'base64');
  sealed[sealed.length - 1]! ^= 1;
  assert.throws(() => openStore({ ...envelope, sealed: `v1.${sealed.toString('base64')}` }, key, 'S'), wrongKey);
  // The key description is authenticated: a store cannot be moved to a weaker one.
  const source = newPassphraseSource();
  const passphraseText = sealStore(tokens, passphraseKey(source, 'pw'), source);
  const rightKey = passphraseKey(source, 'pw');
  assert.throws(() => openStore({ ...readEnvelope(passphraseText, 'S'), key: { ...source, cost: 2 } }, rightKey, 'S'), {
    code: 'WRONG_PASSWORD',
  });
  assert.throws(() => openStore({ ...readEnvelope(passphraseText, 'S'), key: keyFile }, rightKey, 'S'), wrongKey);
});

test('what is not a store is named as such, and a store cannot ask for unbounded scrypt work', () => {
  const notAStore = { code: 'FORMAT_INVALID', message: /^S is not a Tally token store \(.*\); it was left as it is\.$/ };
  for (const text of [
    '',
    'not json',
    '[]',
    '{}',
    '{"format":"other"}',
    '{"format":"tally-token-store","version":1,"key":{"kind":"key-file"}}',
  ]) {
    assert.throws(() => readEnvelope(text, 'S'), notAStore, text);
  }
  assert.throws(() => readEnvelope('{"format":"tally-token-store","version":2}', 'S'), {
    code: 'FORMAT_INVALID',
    message: /version 2 token store/,
  });
  const source = newPassphraseSource();
  const text = sealStore([], passphraseKey(source, 'pw'), source);
  for (const change of [{ cost: 2 ** 30 }, { cost: 1000 }, { blockSize: 0 }, { parallelization: 1000 }, { kdf: 'pbkdf2' }, { salt: 42 }]) {
    const json = JSON.parse(text);
    json.key = { ...json.key, ...change };
    assert.throws(() => readEnvelope(JSON.stringify(json), 'S'), notAStore, JSON.stringify(change));
  }
});

test('the key file holds 32 bytes in base64, and nothing else is taken for one', () => {
  const key = randomBytes(32);
  assert.deepEqual(parseKeyFile(formatKeyFile(key), 'K'), key);
  for (const text of ['', 'short', randomBytes(16).toString('base64'), `${key.toString('base64')}!`]) {
    assert.throws(() => parseKeyFile(text, 'K'), { code: 'INTEGRITY_CHECK_FAILED', message: /K is not a token store key file/ });
  }
});
