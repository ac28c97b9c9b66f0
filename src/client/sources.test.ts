import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { firstItem } from '../../test/support/items.js';
import { readVector, readVectorJson } from '../../test/support/vectors.js';
import { writePskc } from '../core/pskc/write.js';
import { type SecurIdToken, writeSdtid } from '../core/securid/index.js';
import { readSource } from './sources.js';

const t3 = readVectorJson<{ serial: string; seed_hex: string; password: string; ctf_v2: string; ctf_v3_android_link: string }>(
  'securid/t3-6d-60s-password.json',
);
const otpauth = readVectorJson<{ uris: { uri: string; secret_hex: string }[] }>('oath/otpauth-uris.json').uris;

function securId(serial: string): SecurIdToken {
  return { serial, seed: randomBytes(16), digits: 8, period: 60, addPin: true, localPin: false, expiresOn: '2031-01-31' };
}

test('every form of a SecurID token reads to the same token', () => {
  const forms = [
    readSource(readVector('securid/t3-6d-60s-password.sdtid'), { password: t3.password }),
    readSource(t3.ctf_v2, { password: t3.password }),
    readSource(t3.ctf_v3_android_link, { password: t3.password }),
  ];
  for (const source of forms) {
    assert.equal(source.tokens.length, 1);
    const token = firstItem(source.tokens);
    assert.equal(token.type, 'securid');
    assert.equal(token.serial, t3.serial);
    assert.equal(token.type === 'securid' && token.seed.toString('hex'), t3.seed_hex);
  }
  assert.deepEqual(
    forms.map((f) => f.format),
    ['sdtid', 'ctf', 'ctf'],
  );
});

test('otpauth URIs are named by their label; PSKC keys by serial, then Id', () => {
  const totp = firstItem(readSource(firstItem(otpauth).uri).tokens);
  assert.equal(totp.serial, 'Tally:alice@example.com');
  assert.equal(totp.type === 'totp' && totp.secret.toString('hex'), firstItem(otpauth).secret_hex);
  const pskc = readVectorJson<{ password: string; serial: string; secret_hex: string }>('pskc/totp-pbkdf2.json');
  const fromFile = readSource(readVector('pskc/totp-pbkdf2.pskcxml'), { password: pskc.password });
  assert.equal(fromFile.format, 'pskc');
  assert.equal(firstItem(fromFile.tokens).serial, pskc.serial);
  assert.throws(() => readSource(readVector('pskc/totp-pbkdf2.pskcxml')), { code: 'PASSWORD_REQUIRED' });
  const noSerial = writePskc([{ kind: 'hotp', id: 'K-1', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', counter: 3 }]);
  assert.equal(firstItem(readSource(noSerial).tokens).serial, 'K-1');
});

test('PSKC keys Tally cannot use are refused one by one; the others come through', () => {
  const file = writePskc([
    { kind: 'totp', id: 'good', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', period: 30 },
    { kind: 'totp', id: 'odd', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', period: 30 },
  ]).replace(/(Id="odd" Algorithm=")[^"]+/, '$1urn:example:unknown');
  const source = readSource(file);
  assert.deepEqual(
    source.tokens.map((t) => t.serial),
    ['good'],
  );
  assert.equal(source.refused.length, 1);
  assert.equal(firstItem(source.refused).label, 'odd');
  assert.match(firstItem(source.refused).reason, /not supported/);
});

test('two tokens under one serial, control characters in a label and oversized input are refused', () => {
  const twins = writeSdtid([securId('000000000007'), securId('000000000007')]);
  assert.throws(() => readSource(twins), { code: 'CONFLICT', message: /two tokens with serial 000000000007/ });
  assert.throws(() => readSource('otpauth://totp/evil%1B%5B2J?secret=JBSWY3DPEHPK3PXP'), { code: 'FORMAT_INVALID', message: /printable/ });
  assert.throws(() => readSource(`<?xml version="1.0"?><TKNBatch>${' '.repeat(17 * 1024 * 1024)}</TKNBatch>`), { code: 'INPUT_TOO_LARGE' });
});

test('PSKC keys map as on the server: unnamed keys are refused, labels are key #N, a Policy expiry is kept', () => {
  const file = writePskc([
    { kind: 'securid-aes', id: 'S', serial: '000000000042', secret: randomBytes(16), digits: 8, period: 60 },
    { kind: 'hotp', id: 'bare', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', counter: 0 },
  ])
    .replace(' Id="bare"', '')
    .replace('</pskc:Key>', '<pskc:Policy><pskc:ExpiryDate>2031-02-01T00:00:00Z</pskc:ExpiryDate></pskc:Policy></pskc:Key>');
  const source = readSource(file);
  assert.deepEqual(
    source.tokens.map((t) => [t.serial, t.type === 'securid' && t.expiresOn]),
    [['000000000042', '2031-01-31']],
  );
  assert.deepEqual(
    source.refused.map((r) => [r.label, r.reason]),
    [['key #2', 'The key has neither a serial number nor an Id.']],
  );
});
