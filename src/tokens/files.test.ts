import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readVector, readVectorJson } from '../../test/support/vectors.js';
import { writePskc } from '../core/pskc/write.js';
import { readTokenFile } from './files.js';

const t2 = readVectorJson<{ serial: string; digits: number; interval: number; death: string }>('securid/t2-8d-30s-addpin.json');
const otpauth = readVectorJson<{ uris: { uri: string }[] }>('oath/otpauth-uris.json').uris;

test("an sdtid file becomes candidates in the store's terms, its UserLogin kept as an attribute", () => {
  const contents = readTokenFile(Buffer.from(readVector('securid/t2-8d-30s-addpin.sdtid')));
  assert.equal(contents.format, 'sdtid');
  assert.deepEqual(
    contents.candidates.map(({ seed: _seed, ...rest }) => rest),
    [
      {
        serial: t2.serial,
        tokenType: 'securid',
        settings: { digits: t2.digits, period: t2.interval, algorithm: 'AES128', addPin: true },
        expiresOn: t2.death.replaceAll('/', '-'),
        counter: 0,
        attributes: { userLogin: readVector('securid/t2-8d-30s-addpin.template.xml').match(/<UserLogin>([^<]+)/)![1] },
      },
    ],
  );
});

test('the admin import takes token files only: CTF strings and otpauth URIs get the token-file message', () => {
  const t1 = readVectorJson<{ ctf_v2: string }>('securid/t1-6d-30s.json');
  for (const text of [t1.ctf_v2, otpauth[0]!.uri, 'hello, not a token file']) {
    assert.throws(() => readTokenFile(Buffer.from(text)), {
      code: 'FORMAT_INVALID',
      message: 'The file is neither an sdtid token file (TKNBatch) nor a PSKC file (KeyContainer).',
    });
  }
});

test('PSKC keys: Key Id, Policy limits and attributes are kept; refusals are labelled as on the client', () => {
  const file = writePskc([
    {
      kind: 'hotp',
      id: 'H-1',
      serial: 'SN1',
      secret: randomBytes(20),
      digits: 6,
      algorithm: 'SHA256',
      counter: 7,
      userId: 'alice',
      issuer: 'ACME',
    },
    { kind: 'totp', id: 'T-2', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', period: 30 },
  ])
    .replace('</pskc:Key>', '<pskc:Policy><pskc:NumberOfTransactions>9</pskc:NumberOfTransactions></pskc:Policy></pskc:Key>')
    .replace(/(Id="T-2" Algorithm=")[^"]+/, '$1urn:example:unknown')
    .replace('Id="T-2"', 'Id="&#x1B;[31m"');
  const contents = readTokenFile(Buffer.from(file));
  assert.deepEqual(
    contents.candidates.map(({ seed: _seed, ...rest }) => rest),
    [
      {
        serial: 'SN1',
        tokenType: 'hotp',
        settings: { digits: 6, period: 0, algorithm: 'SHA256', addPin: false },
        expiresOn: null,
        counter: 7,
        attributes: { userId: 'alice', issuer: 'ACME' },
        keyId: 'H-1',
        limits: { validFrom: undefined, validUntil: undefined, transactions: 9 },
      },
    ],
  );
  // The Id holds an escape sequence: the report names the key by its position instead.
  assert.deepEqual(
    contents.refused.map(({ serial, keyId, code }) => [serial, keyId, code]),
    [['key #2', '\u001b[31m', 'UNSUPPORTED_ALGORITHM']],
  );
});
