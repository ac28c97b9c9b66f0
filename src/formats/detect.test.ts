import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstItem } from '../../test/support/items.js';
import { readVector, readVectorJson } from '../../test/support/vectors.js';
import { detectFormat, TOKEN_FILE_FORMATS } from './detect.js';

const t1 = readVectorJson<{ serial: string; ctf_v2: string; ctf_v3_android_link: string }>('securid/t1-6d-30s.json');
const otpauth = readVectorJson<{ uris: { uri: string }[] }>('oath/otpauth-uris.json').uris;

test('formats are told apart by content', () => {
  assert.equal(detectFormat(readVector('securid/t1-6d-30s.sdtid')), 'sdtid');
  assert.equal(detectFormat(`\uFEFF  ${readVector('pskc/totp-pbkdf2.pskcxml')}`), 'pskc');
  assert.equal(detectFormat(t1.ctf_v2), 'ctf');
  assert.equal(detectFormat(t1.ctf_v2.match(/.{1,5}/g)!.join('-')), 'ctf');
  assert.equal(detectFormat(t1.ctf_v3_android_link), 'ctf');
  assert.equal(detectFormat(`com.rsa.securid.iphone://ctf?ctfData=${t1.ctf_v2}`), 'ctf');
  assert.equal(detectFormat(firstItem(otpauth).uri), 'otpauth');
  assert.equal(detectFormat(firstItem(otpauth).uri.replace('otpauth', 'OTPAUTH')), 'otpauth');
});

test('a PSKC KeyContainer is found under any namespace prefix, a dotted one included', () => {
  for (const prefix of ['', 'pskc:', 'k.v-1:']) {
    assert.equal(detectFormat(`<?xml version="1.0"?><${prefix}KeyContainer Version="1.0"/>`), 'pskc');
  }
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

test('where only token files are accepted, CTF, otpauth and anything else get the one token-file message', () => {
  assert.equal(detectFormat(readVector('securid/t1-6d-30s.sdtid'), TOKEN_FILE_FORMATS), 'sdtid');
  assert.equal(detectFormat(readVector('pskc/hotp-pbkdf2.pskcxml'), TOKEN_FILE_FORMATS), 'pskc');
  for (const input of [t1.ctf_v2, t1.ctf_v3_android_link, firstItem(otpauth).uri, 'hello, not a token file', '<html/>', '']) {
    assert.throws(() => detectFormat(input, TOKEN_FILE_FORMATS), {
      code: 'FORMAT_INVALID',
      message: 'The file is neither an sdtid token file (TKNBatch) nor a PSKC file (KeyContainer).',
    });
  }
});
