import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { firstItem } from '../../test/support/items.js';
import { readVectorJson } from '../../test/support/vectors.js';
import { parseOtpauthUri } from '../core/otp/otpauth.js';
import { readPskc } from '../core/pskc/read.js';
import { decodeCtf, parseCtfLink, readSdtid } from '../core/securid/index.js';
import { exportToken } from './export.js';
import { readSource } from './sources.js';
import { type ClientToken, type SecurIdClientToken, showCode } from './tokens.js';

const securId: SecurIdClientToken = {
  type: 'securid',
  serial: '000123456789',
  seed: randomBytes(16),
  digits: 8,
  period: 60,
  addPin: true,
  localPin: false,
  expiresOn: '2033-03-31',
  userLogin: 'alice',
};

const otpauth = readVectorJson<{ uris: { uri: string }[] }>('oath/otpauth-uris.json').uris;

function sameCodes(a: ClientToken, b: ClientToken): void {
  for (const at of [1700000000, 1700000045, 1735689600, 2000000000]) assert.equal(showCode(b, at).code, showCode(a, at).code, `at ${at}`);
}

function roundTrip(token: ClientToken, format: Parameters<typeof exportToken>[1], password?: string): ClientToken {
  const text = exportToken(token, format, { password });
  assert.ok(text.endsWith('\n'));
  const back = readSource(text, { password });
  assert.equal(back.tokens.length, 1);
  return firstItem(back.tokens);
}

test('SecurID: sdtid, ctf and ctf-v3 carry every field back; pskc carries the seed and settings', () => {
  for (const password of [undefined, 'export pw']) {
    for (const format of ['sdtid', 'ctf', 'ctf-v3'] as const) {
      const back = roundTrip(securId, format, password);
      assert.deepEqual(
        { ...back, features: undefined, userLogin: undefined },
        { ...securId, features: undefined, userLogin: undefined },
        `${format} ${password ?? ''}`,
      );
    }
    const pskc = roundTrip(securId, 'pskc', password);
    assert.equal(pskc.serial, securId.serial);
    sameCodes(securId, pskc);
  }
  assert.equal((roundTrip(securId, 'sdtid') as SecurIdClientToken).userLogin, 'alice');
});

test('the SecurID outputs have the shapes stoken takes', () => {
  assert.match(exportToken(securId, 'ctf'), /^2000123456789[0-7]{68}\n$/);
  const link = exportToken(securId, 'ctf-v3').trim();
  assert.ok(link.startsWith('http://127.0.0.1/securid/ctf?ctfData='));
  assert.equal(parseCtfLink(link).version, 3);
  assert.doesNotMatch(link.slice(link.indexOf('=') + 1), /[^A-Za-z0-9%]/);
  assert.equal(decodeCtf(link).serial, securId.serial);
  assert.equal(firstItem(readSdtid(exportToken(securId, 'sdtid', { password: 'p' }), { password: 'p' }).tokens).serial, securId.serial);
  assert.throws(() => readSdtid(exportToken(securId, 'sdtid', { password: 'p' })), { code: 'PASSWORD_REQUIRED' });
  assert.throws(() => decodeCtf(exportToken(securId, 'ctf', { password: 'p' }).trim()), { code: 'PASSWORD_REQUIRED' });
  const pskc = readPskc(exportToken(securId, 'pskc', { password: 'p' }), { password: 'p' });
  assert.equal(pskc.passwordProtected, true);
  const outcome = firstItem(pskc.keys);
  assert.equal(outcome.status === 'imported' && outcome.key.kind, 'securid-aes');
});

test('OATH: otpauth and pskc give the same codes back, the HOTP counter included', () => {
  for (const { uri } of otpauth) {
    const token = firstItem(readSource(uri).tokens);
    const viaUri = roundTrip(token, 'otpauth');
    assert.deepEqual(viaUri, token);
    assert.deepEqual(parseOtpauthUri(exportToken(token, 'otpauth')), parseOtpauthUri(uri));
    for (const password of [undefined, 'pskc pw']) {
      const viaPskc = roundTrip(token, 'pskc', password);
      assert.equal(viaPskc.serial, token.serial);
      sameCodes(token, viaPskc);
      if (token.type === 'hotp') assert.equal(viaPskc.type === 'hotp' && viaPskc.counter, token.counter);
    }
  }
});

test('a format a token cannot take names the ones it can; otpauth takes no password', () => {
  const totp = firstItem(readSource(firstItem(otpauth).uri).tokens);
  assert.throws(() => exportToken(securId, 'otpauth'), {
    code: 'VALIDATION_FAILED',
    message: 'SecurID tokens cannot be exported as otpauth; use sdtid, ctf, ctf-v3, pskc.',
  });
  for (const format of ['sdtid', 'ctf', 'ctf-v3'] as const) {
    assert.throws(() => exportToken(totp, format), {
      code: 'VALIDATION_FAILED',
      message: `TOTP tokens cannot be exported as ${format}; use otpauth, pskc.`,
    });
  }
  assert.throws(() => exportToken(totp, 'otpauth', { password: 'x' }), {
    code: 'VALIDATION_FAILED',
    message: /cannot carry a password; export as pskc/,
  });
  const fromPskc: SecurIdClientToken = { ...securId, expiresOn: undefined };
  assert.throws(() => exportToken(fromPskc, 'sdtid'), {
    code: 'VALIDATION_FAILED',
    message: /without an expiry date .* export it as pskc/,
  });
  assert.match(exportToken(fromPskc, 'pskc'), /KeyContainer/);
});
