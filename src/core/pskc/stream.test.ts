import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { codeOf } from '../../../test/support/errors.js';
import { readVector } from '../../../test/support/vectors.js';
import type { PskcKey } from './model.js';
import { type PskcKeyOutcome, readPskc } from './read.js';
import { PskcStream, type PskcStreamOptions } from './stream.js';
import { writePskc } from './write.js';

/** A deterministic stand-in for randomBytes, so files are the same on every run. */
function seededRandom(seed: string): (size: number) => Buffer {
  let counter = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let filled = 0; filled < size; filled += 32) createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, filled);
    return out;
  };
}

/** Feeds the text in chunks of `size` bytes (splitting tags, names and UTF-8 sequences) and gathers every outcome. */
function streamed(xml: string, size: number, options?: PskcStreamOptions): { keys: PskcKeyOutcome[]; signed: boolean } {
  const stream = new PskcStream(options);
  const bytes = Buffer.from(xml, 'utf8');
  const keys: PskcKeyOutcome[] = [];
  for (let at = 0; at < bytes.length; at += size) keys.push(...stream.push(bytes.subarray(at, at + size)));
  keys.push(...stream.end());
  return { keys, signed: stream.signed };
}

const totpKey = (i: number): PskcKey => ({
  kind: 'totp',
  id: `K${i}`,
  serial: `S${String(i).padStart(6, '0')}`,
  secret: createHash('sha1').update(`seed ${i}`).digest(),
  digits: 6,
  algorithm: 'SHA1',
  period: 30,
  friendlyName: `Key ${i} — ünïcode`,
});

test('a stream in chunks of any size reads the same keys as the whole file: plain, password-protected, and the python-pskc vectors', () => {
  const keys = Array.from({ length: 5 }, (_, i) => totpKey(i));
  const files: [string, string | undefined][] = [
    [writePskc(keys), undefined],
    [writePskc(keys, { password: 'pw', iterations: 1000, randomBytes: seededRandom('stream') }), 'pw'],
    [readVector('pskc/totp-pbkdf2.pskcxml'), undefined],
    [readVector('pskc/hotp-pbkdf2.pskcxml'), undefined],
  ];
  for (const [xml, given] of files) {
    const password = given ?? (xml.includes('EncryptedValue') ? vectorPassword(xml) : undefined);
    const whole = readPskc(xml, { password });
    for (const size of [1, 3, 7, 64, 1 << 20]) {
      const read = streamed(xml, size, { password });
      assert.deepEqual(read.keys, whole.keys, `chunks of ${size}`);
      assert.equal(read.signed, whole.signed);
    }
  }
});

function vectorPassword(xml: string): string {
  for (const name of ['totp-pbkdf2', 'hotp-pbkdf2']) {
    if (readVector(`pskc/${name}.pskcxml`) === xml) return JSON.parse(readVector(`pskc/${name}.json`)).password;
  }
  throw new Error('not a vector');
}

test('comments, processing instructions and a Signature around the packages are passed over; a Signature is noticed', () => {
  const xml = writePskc([totpKey(1), totpKey(2)])
    .replace('<pskc:KeyPackage>', '<!-- a <pskc:KeyPackage> in a comment --><?pi x?><pskc:KeyPackage>')
    .replace(
      '</pskc:KeyContainer>',
      '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo a=">"/></ds:Signature></pskc:KeyContainer>',
    );
  const read = streamed(xml, 5);
  assert.deepEqual(
    read.keys.map((k) => (k.status === 'imported' ? k.key.serial : k.reason)),
    ['S000001', 'S000002'],
  );
  assert.equal(read.signed, true);
});

test('DOCTYPE and entity declarations are refused wherever they are, before the next key is returned', () => {
  const xml = writePskc([totpKey(1)]);
  assert.equal(
    codeOf(() => streamed(xml.replace('<pskc:KeyContainer', '<!DOCTYPE x [<!ENTITY e "e">]><pskc:KeyContainer'), 4)),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  assert.equal(
    codeOf(() => streamed(xml.replace('<pskc:KeyPackage>', '<!ENTITY e "e"><pskc:KeyPackage>'), 4)),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  assert.equal(
    codeOf(() => streamed(xml.replace('<pskc:Key ', '<!DOCTYPE y><pskc:Key '), 4)),
    'XML_FORBIDDEN_CONSTRUCT',
  );
});

test('truncated, foreign, mis-nested, texty or oversized input is refused with a typed error', () => {
  const xml = writePskc([totpKey(1), totpKey(2)]);
  assert.equal(
    codeOf(() => streamed(xml.slice(0, -30), 16)),
    'FORMAT_INVALID',
    'truncated',
  );
  assert.equal(
    codeOf(() => streamed('', 16)),
    'FORMAT_INVALID',
    'empty',
  );
  assert.equal(
    codeOf(() => streamed(xml.replace(/KeyContainer/g, 'Other'), 16)),
    'FORMAT_INVALID',
    'foreign root',
  );
  assert.equal(
    codeOf(() => streamed(xml.replace('</pskc:KeyPackage>', '</pskc:Key>'), 16)),
    'FORMAT_INVALID',
    'mis-nested',
  );
  assert.equal(
    codeOf(() => streamed(xml.replace('<pskc:KeyPackage>', 'text<pskc:KeyPackage>'), 16)),
    'FORMAT_INVALID',
    'text',
  );
  assert.equal(
    codeOf(() => streamed(`${xml}<again/>`, 16)),
    'FORMAT_INVALID',
    'two roots',
  );
  assert.equal(
    codeOf(() => streamed(Buffer.from([0xff, 0xfe]).toString('latin1'), 1)),
    'FORMAT_INVALID',
    'not UTF-8',
  );
  const huge = xml.replace('<pskc:FriendlyName>', `<pskc:FriendlyName>${'x'.repeat(70_000)}`);
  assert.equal(
    codeOf(() => streamed(huge, 4096)),
    'INPUT_TOO_LARGE',
    'one package over the bound',
  );
  assert.equal(streamed(huge, 4096, { maxElementBytes: 128 * 1024 }).keys.length, 2, 'a larger bound takes it');
});

test('a wrong password stops at the first encrypted key; an altered key stops the stream there, after the keys before it', () => {
  const keys = Array.from({ length: 3 }, (_, i) => totpKey(i));
  const xml = writePskc(keys, { password: 'pw', iterations: 1000, randomBytes: seededRandom('alter') });
  assert.equal(
    codeOf(() => streamed(xml, 100, { password: 'not-pw' })),
    'WRONG_PASSWORD',
  );
  assert.equal(
    codeOf(() => streamed(xml, 100)),
    'PASSWORD_REQUIRED',
  );
  const macs = [...xml.matchAll(/<pskc:ValueMAC>([^<]+)</g)];
  const last = macs.at(-1);
  assert.ok(last?.index !== undefined);
  const flipped = `${xml.slice(0, last.index)}<pskc:ValueMAC>${Buffer.alloc(20).toString('base64')}${xml.slice(last.index + last[0].length - 1)}`;
  const stream = new PskcStream({ password: 'pw' });
  const returned: PskcKeyOutcome[] = [];
  assert.equal(
    codeOf(() => {
      returned.push(...stream.push(Buffer.from(flipped)));
      stream.end();
    }),
    'INTEGRITY_CHECK_FAILED',
  );
  assert.deepEqual(returned, [], 'one chunk holding every key returns none when one is altered');
  assert.equal(
    codeOf(() => streamed(flipped, 64, { password: 'pw' })),
    'INTEGRITY_CHECK_FAILED',
  );
});
