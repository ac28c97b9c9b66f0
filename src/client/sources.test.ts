import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readVector, readVectorJson } from '../../test/support/vectors.js';
import { writePskc } from '../core/pskc/write.js';
import { type SecurIdToken, writeSdtid } from '../core/securid/index.js';
import { detectFormat, readSource } from './sources.js';

const t3 = readVectorJson<{ serial: string; seed_hex: string; password: string; ctf_v2: string; ctf_v3_android_link: string }>(
  'securid/t3-6d-60s-password.json',
);
const t1 = readVectorJson<{ serial: string; seed_hex: string; ctf_v2: string; ctf_v3_android_link: string }>('securid/t1-6d-30s.json');
const otpauth = readVectorJson<{ uris: { uri: string; secret_hex: string }[] }>('oath/otpauth-uris.json').uris;

function securId(serial: string): SecurIdToken {
  return { serial, seed: randomBytes(16), digits: 8, intervalSeconds: 60, addPin: true, localPin: false, expiresOn: '2031-01-31' };
}

test('formats are told apart by content', () => {
  assert.equal(detectFormat(readVector('securid/t1-6d-30s.sdtid')), 'sdtid');
  assert.equal(detectFormat(`\uFEFF  ${readVector('pskc/totp-pbkdf2.pskcxml')}`), 'pskc');
  assert.equal(detectFormat(t1.ctf_v2), 'ctf');
  assert.equal(detectFormat(t1.ctf_v2.match(/.{1,5}/g)!.join('-')), 'ctf');
  assert.equal(detectFormat(t1.ctf_v3_android_link), 'ctf');
  assert.equal(detectFormat(`com.rsa.securid.iphone://ctf?ctfData=${t1.ctf_v2}`), 'ctf');
  assert.equal(detectFormat(otpauth[0].uri), 'otpauth');
  assert.equal(detectFormat(otpauth[0].uri.replace('otpauth', 'OTPAUTH')), 'otpauth');
});

test('what is no token format is refused with what would be', () => {
  for (const input of ['hello', '', '{"tokens": []}', 'https://example.com/page', '<html><body/></html>', '12345']) {
    assert.throws(() => detectFormat(input), {
      code: 'FORMAT_INVALID',
      message: /expected an sdtid or PSKC file, a CTF string or link, or an otpauth:\/\/ URI/,
    });
  }
  assert.throws(() => detectFormat('com.rsa.securid://ctkip?scheme=https&url=h:443/ctkip/services/CtkipService&activationCode=123'), {
    code: 'FORMAT_INVALID',
    message: /CT-KIP activation link, not a token; use `tally token activate LINK`/,
  });
});

test('every form of a SecurID token reads to the same token', () => {
  const forms = [
    readSource(readVector('securid/t3-6d-60s-password.sdtid'), { password: t3.password }),
    readSource(t3.ctf_v2, { password: t3.password }),
    readSource(t3.ctf_v3_android_link, { password: t3.password }),
  ];
  for (const source of forms) {
    assert.equal(source.tokens.length, 1);
    const [token] = source.tokens;
    assert.equal(token.type, 'securid');
    assert.equal(token.serial, t3.serial);
    assert.equal(token.type === 'securid' && token.seed.toString('hex'), t3.seed_hex);
  }
  assert.deepEqual(
    forms.map((f) => f.format),
    ['sdtid', 'ctf', 'ctf'],
  );
});

test('an sdtid batch gives every token; passwords and damage are reported as the cores name them', () => {
  const batch = writeSdtid([securId('000000000001'), securId('000000000002')], { password: 'batch pw' });
  assert.deepEqual(
    readSource(batch, { password: 'batch pw' }).tokens.map((t) => t.serial),
    ['000000000001', '000000000002'],
  );
  assert.throws(() => readSource(batch), { code: 'PASSWORD_REQUIRED' });
  assert.throws(() => readSource(batch, { password: 'wrong' }), { code: 'WRONG_PASSWORD' });
  assert.throws(() => readSource(batch.slice(0, batch.length / 2), { password: 'batch pw' }), { code: 'FORMAT_INVALID' });
  assert.throws(() => readSource(t3.ctf_v2), { code: 'PASSWORD_REQUIRED' });
  assert.throws(() => readSource(t3.ctf_v2, { password: 'nope' }), { code: 'WRONG_PASSWORD' });
  assert.throws(() => readSource(`${t1.ctf_v2.slice(0, 40)}x${t1.ctf_v2.slice(41)}`), { code: 'FORMAT_INVALID', message: /only digits/ });
  const mistyped = `${t1.ctf_v2.slice(0, 40)}${(Number(t1.ctf_v2[40]) + 1) % 8}${t1.ctf_v2.slice(41)}`;
  assert.throws(() => readSource(mistyped), { code: 'INTEGRITY_CHECK_FAILED' });
});

test('otpauth URIs are named by their label; PSKC keys by serial, then Id', () => {
  const totp = readSource(otpauth[0].uri).tokens[0];
  assert.equal(totp.serial, 'Tally:alice@example.com');
  assert.equal(totp.type === 'totp' && totp.secret.toString('hex'), otpauth[0].secret_hex);
  const pskc = readVectorJson<{ password: string; serial: string; secret_hex: string }>('pskc/totp-pbkdf2.json');
  const fromFile = readSource(readVector('pskc/totp-pbkdf2.pskcxml'), { password: pskc.password });
  assert.equal(fromFile.format, 'pskc');
  assert.equal(fromFile.tokens[0].serial, pskc.serial);
  assert.throws(() => readSource(readVector('pskc/totp-pbkdf2.pskcxml')), { code: 'PASSWORD_REQUIRED' });
  const noSerial = writePskc([{ kind: 'hotp', id: 'K-1', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', counter: 3 }]);
  assert.equal(readSource(noSerial).tokens[0].serial, 'K-1');
});

test('PSKC keys Tally cannot use are refused one by one; the others come through', () => {
  const file = writePskc([
    { kind: 'totp', id: 'good', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', timeInterval: 30 },
    { kind: 'totp', id: 'odd', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', timeInterval: 30 },
  ]).replace(/(Id="odd" Algorithm=")[^"]+/, '$1urn:example:unknown');
  const source = readSource(file);
  assert.deepEqual(
    source.tokens.map((t) => t.serial),
    ['good'],
  );
  assert.equal(source.refused.length, 1);
  assert.equal(source.refused[0].label, 'odd');
  assert.match(source.refused[0].reason, /not supported/);
});

test('two tokens under one serial, control characters in a label and oversized input are refused', () => {
  const twins = writeSdtid([securId('000000000007'), securId('000000000007')]);
  assert.throws(() => readSource(twins), { code: 'CONFLICT', message: /two tokens with serial 000000000007/ });
  assert.throws(() => readSource('otpauth://totp/evil%1B%5B2J?secret=JBSWY3DPEHPK3PXP'), { code: 'FORMAT_INVALID', message: /printable/ });
  assert.throws(() => readSource(`<?xml version="1.0"?><TKNBatch>${' '.repeat(17 * 1024 * 1024)}</TKNBatch>`), { code: 'INPUT_TOO_LARGE' });
});
