import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readVector, readVectorJson } from '../../test/support/vectors.js';
import { writePskc } from '../core/pskc/write.js';
import { type SecurIdToken, writeSdtid } from '../core/securid/index.js';
import { readTokens, type TokenRecord, UNCHECKED_SIGNATURE } from './read.js';

interface SdtidVector {
  serial: string;
  seed_hex: string;
  digits: number;
  interval: number;
  add_pin: number;
  local_pin: number;
  password: string | null;
  death: string;
  ctf_v2: string;
  ctf_v3_android_link: string;
}
interface PskcVector {
  password: string;
  key_id: string;
  serial: string;
  secret_hex: string;
  digits: number;
  hash: string;
  counter?: number;
  time_interval?: number;
}
interface OtpauthVector {
  uri: string;
  type: 'totp' | 'hotp';
  issuer?: string;
  account: string;
  secret_hex: string;
  algorithm: string;
  digits: number;
  period?: number;
  counter?: number;
}

const sdtidVectors = ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password', 't4-8d-60s-canon'];
const t1 = readVectorJson<SdtidVector>('securid/t1-6d-30s.json');
const t3 = readVectorJson<SdtidVector>('securid/t3-6d-60s-password.json');
const otpauth = readVectorJson<{ uris: OtpauthVector[] }>('oath/otpauth-uris.json').uris;

function securId(serial: string): SecurIdToken {
  return { serial, seed: randomBytes(16), digits: 8, period: 60, addPin: true, localPin: false, expiresOn: '2031-01-31' };
}

function only(records: TokenRecord[]): TokenRecord {
  assert.equal(records.length, 1);
  return records[0]!;
}

test("each stoken-made sdtid vector reads to one SecurID record with the vector's settings", () => {
  for (const name of sdtidVectors) {
    const vector = readVectorJson<SdtidVector>(`securid/${name}.json`);
    const source = readTokens(readVector(`securid/${name}.sdtid`), { password: vector.password ?? undefined });
    assert.equal(source.format, 'sdtid');
    assert.deepEqual([source.refused, source.notes], [[], []]);
    const record = only(source.records);
    assert.deepEqual(
      [record.type, record.serial, record.seed.toString('hex'), record.digits, record.period, record.algorithm, record.counter],
      ['securid', vector.serial, vector.seed_hex, vector.digits, vector.interval, 'AES128', 0],
    );
    assert.deepEqual([record.addPin, record.localPin], [vector.add_pin === 1, vector.local_pin === 1], name);
    assert.equal(record.expiresOn, vector.death.replaceAll('/', '-'));
  }
});

test('an sdtid file, its CTF v2 string and its CTF v3 link read to the same record, bytes or text', () => {
  const forms = [
    readTokens(Buffer.from(readVector('securid/t3-6d-60s-password.sdtid')), { password: t3.password ?? undefined }),
    readTokens(t3.ctf_v2, { password: t3.password ?? undefined }),
    readTokens(t3.ctf_v3_android_link, { password: t3.password ?? undefined }),
  ];
  assert.deepEqual(
    forms.map((form) => form.format),
    ['sdtid', 'ctf', 'ctf'],
  );
  for (const form of forms) {
    const record = only(form.records);
    assert.deepEqual(
      [record.serial, record.seed.toString('hex'), record.digits, record.period],
      [t3.serial, t3.seed_hex, t3.digits, t3.interval],
    );
  }
});

test('the python-pskc vectors read, with the password, to OATH records named by serial and keeping the Key Id', () => {
  for (const [name, type] of [
    ['totp-pbkdf2', 'totp'],
    ['hotp-pbkdf2', 'hotp'],
  ] as const) {
    const vector = readVectorJson<PskcVector>(`pskc/${name}.json`);
    const source = readTokens(readVector(`pskc/${name}.pskcxml`), { password: vector.password });
    assert.equal(source.format, 'pskc');
    const record = only(source.records);
    assert.deepEqual(
      [record.type, record.serial, record.keyId, record.seed.toString('hex'), record.digits, record.algorithm],
      [type, vector.serial, vector.key_id, vector.secret_hex, vector.digits, vector.hash],
    );
    assert.equal(record.period, type === 'totp' ? vector.time_interval : 0);
    assert.equal(record.counter, type === 'hotp' ? vector.counter : 0);
    assert.deepEqual([record.expiresOn, record.limits], [null, undefined]);
    assert.throws(() => readTokens(readVector(`pskc/${name}.pskcxml`)), { code: 'PASSWORD_REQUIRED' });
  }
});

test('otpauth URIs are named by their label; issuer and account are kept as attributes', () => {
  for (const vector of otpauth) {
    const record = only(readTokens(vector.uri).records);
    assert.equal(record.serial, vector.issuer === undefined ? vector.account : `${vector.issuer}:${vector.account}`);
    assert.deepEqual(record.attributes, { userId: vector.account, ...(vector.issuer === undefined ? {} : { issuer: vector.issuer }) });
    assert.deepEqual(
      [record.type, record.seed.toString('hex'), record.algorithm, record.digits],
      [vector.type, vector.secret_hex, vector.algorithm, vector.digits],
    );
    assert.equal(record.type === 'totp' ? record.period : record.counter, vector.type === 'totp' ? vector.period : vector.counter);
  }
});

test('an sdtid batch gives every token; passwords and damage are reported as the cores name them', () => {
  const batch = writeSdtid([securId('000000000001'), securId('000000000002')], { password: 'batch pw' });
  assert.deepEqual(
    readTokens(batch, { password: 'batch pw' }).records.map((t) => t.serial),
    ['000000000001', '000000000002'],
  );
  assert.throws(() => readTokens(batch), { code: 'PASSWORD_REQUIRED' });
  assert.throws(() => readTokens(batch, { password: 'wrong' }), { code: 'WRONG_PASSWORD' });
  assert.throws(() => readTokens(batch.slice(0, batch.length / 2), { password: 'batch pw' }), { code: 'FORMAT_INVALID' });
  assert.throws(() => readTokens(t3.ctf_v2), { code: 'PASSWORD_REQUIRED' });
  assert.throws(() => readTokens(t3.ctf_v2, { password: 'nope' }), { code: 'WRONG_PASSWORD' });
  assert.throws(() => readTokens(`${t1.ctf_v2.slice(0, 40)}x${t1.ctf_v2.slice(41)}`), { code: 'FORMAT_INVALID', message: /only digits/ });
  const mistyped = `${t1.ctf_v2.slice(0, 40)}${(Number(t1.ctf_v2[40]) + 1) % 8}${t1.ctf_v2.slice(41)}`;
  assert.throws(() => readTokens(mistyped), { code: 'INTEGRITY_CHECK_FAILED' });
});

test('refused PSKC keys are labelled by one rule: serial, else Id, where printable; else key #N', () => {
  const oath = (id: string) => ({
    kind: 'totp' as const,
    id,
    secret: randomBytes(20),
    digits: 6,
    algorithm: 'SHA1' as const,
    period: 30,
  });
  const file = writePskc([oath('good'), oath('odd'), { ...oath('x'), serial: 'SN-3' }, oath('evil'), oath('bare')])
    .replace(/(Id="(?:odd|x|evil)" Algorithm=")[^"]+/g, '$1urn:example:unknown')
    .replace('Id="evil"', 'Id="e&#x1B;[2J"')
    // A key with neither a serial nor an Id: no name to give it that would not clash with another file's.
    .replace(' Id="bare"', '');
  const source = readTokens(file);
  assert.deepEqual(
    source.records.map((t) => t.serial),
    ['good'],
  );
  assert.deepEqual(
    source.refused.map(({ label, keyId }) => [label, keyId]),
    [
      ['odd', 'odd'],
      ['SN-3', 'x'],
      ['key #4', 'e\u001b[2J'],
      ['key #5', undefined],
    ],
  );
  assert.match(source.refused[0]!.reason, /not supported/);
  assert.equal(source.refused[0]!.code, 'UNSUPPORTED_ALGORITHM');
  assert.equal(source.refused[3]!.reason, 'The key has neither a serial number nor an Id.');
});

test("a PSKC key's Policy gives its limits and its last day; a SecurID key keeps its serial and interval", () => {
  const file = writePskc([
    { kind: 'securid-aes', id: 'S-1', serial: '000123456789', secret: randomBytes(16), digits: 8, period: 30 },
  ]).replace(
    '</pskc:Key>',
    '<pskc:Policy><pskc:StartDate>2026-01-01T00:00:00Z</pskc:StartDate><pskc:ExpiryDate>2031-01-01T00:00:00Z</pskc:ExpiryDate>' +
      '<pskc:NumberOfTransactions>500</pskc:NumberOfTransactions><pskc:KeyUsage>OTP</pskc:KeyUsage></pskc:Policy></pskc:Key>',
  );
  const record = only(readTokens(file).records);
  assert.deepEqual(
    [record.type, record.serial, record.keyId, record.period, record.algorithm, record.addPin],
    ['securid', '000123456789', 'S-1', 30, 'AES128', false],
  );
  assert.deepEqual(record.limits, { validFrom: Date.UTC(2026, 0, 1), validUntil: Date.UTC(2031, 0, 1), transactions: 500 });
  assert.equal(record.expiresOn, '2030-12-31');
});

test('a signed PSKC file reads, with a note that its signature is not checked', () => {
  const file = writePskc([{ kind: 'hotp', id: 'K', secret: randomBytes(20), digits: 6, algorithm: 'SHA1', counter: 0 }]).replace(
    '</pskc:KeyContainer>',
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature></pskc:KeyContainer>',
  );
  const source = readTokens(file);
  assert.deepEqual([source.records.length, source.notes], [1, [UNCHECKED_SIGNATURE]]);
});

test('a source above the size limit is refused before it is looked at, as text or bytes', () => {
  // Not XML at all past its start: only the size check can refuse it with INPUT_TOO_LARGE.
  const huge = `<?xml version="1.0"?><TKNBatch>${'\u0000'.repeat(17 * 1024 * 1024)}`;
  assert.throws(() => readTokens(huge), { code: 'INPUT_TOO_LARGE' });
  assert.throws(() => readTokens(Buffer.from(huge)), { code: 'INPUT_TOO_LARGE' });
});
