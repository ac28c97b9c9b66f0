import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TallyError } from '../../errors.js';
import { formatKeyring, generateMasterKey, keyVersionOf, makeKeyring, open, parseKeyring, seal } from './secret-box.js';

const seed = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

test('seals with the current key version and opens again', () => {
  const keyring = makeKeyring([generateMasterKey(1), generateMasterKey(2)]);
  const sealed = seal(keyring, seed, 'token:1:seed');
  assert.equal(keyVersionOf(sealed), 2);
  assert.ok(!sealed.includes(seed.toString('hex')));
  assert.deepEqual(open(keyring, sealed, 'token:1:seed'), seed);
});

test('refuses another context, another key, an altered ciphertext and an unknown version', () => {
  const keyring = makeKeyring([generateMasterKey(1)]);
  const sealed = seal(keyring, seed, 'token:1:seed');
  assert.throws(
    () => open(keyring, sealed, 'token:2:seed'),
    (e: unknown) => e instanceof TallyError && e.code === 'MASTER_KEY_INVALID',
  );
  const other = makeKeyring([generateMasterKey(1)]);
  assert.throws(() => open(other, sealed, 'token:1:seed'), TallyError);
  const raw = Buffer.from(sealed.slice(3), 'base64');
  raw[raw.length - 1]! ^= 1;
  assert.throws(() => open(keyring, `v1.${raw.toString('base64')}`, 'token:1:seed'), TallyError);
  assert.throws(() => open(keyring, sealed.replace(/^v1/, 'v9'), 'token:1:seed'), /version 9/);
  assert.throws(() => open(keyring, 'garbage', 'x'), TallyError);
});

test('keyring text round-trips; a bare key is version 1; bad text is refused clearly', () => {
  const keyring = makeKeyring([generateMasterKey(1), generateMasterKey(3)]);
  const again = parseKeyring(formatKeyring(keyring));
  assert.equal(again.current.version, 3);
  assert.deepEqual(again.byVersion.get(1), keyring.byVersion.get(1));
  const bare = parseKeyring(generateMasterKey(1).key.toString('base64'));
  assert.equal(bare.current.version, 1);
  assert.throws(
    () => parseKeyring(''),
    (e: unknown) => e instanceof TallyError && e.code === 'MASTER_KEY_MISSING',
  );
  assert.throws(() => parseKeyring('v1:c2hvcnQ='), /32 bytes/);
  assert.throws(() => parseKeyring('v1:***'), /not base64/);
  assert.throws(() => parseKeyring('key=abc:def'), /v<version>/);
});
