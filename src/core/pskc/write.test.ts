import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { firstItem, item } from '../../../test/support/items.js';
import { interopTest, runPeer } from '../../../test/support/peers.js';
import { TallyError } from '../../errors.js';
import type { OtpAlgorithm } from '../otp/hotp.js';
import type { PskcHmac, PskcKey } from './model.js';
import { type PskcKeyOutcome, readPskc } from './read.js';
import { type PskcWriteOptions, writePskc } from './write.js';

const PYTHON = '/usr/bin/python3';

function seededRandom(seed: string): (size: number) => Buffer {
  let block = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let filled = 0; filled < size; filled += 32) {
      createHash('sha256').update(`${seed}:${block++}`).digest().copy(out, filled);
    }
    return out;
  };
}

function keysOf(outcomes: PskcKeyOutcome[]): PskcKey[] {
  return outcomes.map((outcome) => {
    assert.equal(outcome.status, 'imported', outcome.status === 'refused' ? outcome.reason : '');
    return (outcome as Extract<PskcKeyOutcome, { status: 'imported' }>).key;
  });
}

const ALGORITHMS: OtpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];

function randomKey(i: number): PskcKey {
  const common = {
    id: `key-${i}`,
    serial: `TLY${String(i).padStart(7, '0')}`,
    secret: randomBytes(randomInt(10, 65)),
    digits: randomInt(6, 9),
    algorithm: item(ALGORITHMS, randomInt(3)),
  };
  return i % 2 === 0
    ? { kind: 'hotp', ...common, counter: randomInt(0, 2 ** 32) }
    : { kind: 'totp', ...common, period: randomInt(2) === 0 ? 30 : 60 };
}

const everything: PskcKey[] = [
  {
    kind: 'hotp',
    id: 'h1',
    secret: Buffer.from('12345678901234567890'),
    digits: 6,
    algorithm: 'SHA1',
    counter: 0,
    serial: 'S-1',
    manufacturer: 'Tally & Co <test>',
    userId: 'alice@example.com',
    issuer: 'Tally "quoted"',
    friendlyName: 'Alice’s phone',
  },
  { kind: 'totp', id: 't1', secret: randomBytes(32), digits: 8, algorithm: 'SHA256', period: 60, time: 0, timeDrift: -3 },
  { kind: 'totp', secret: randomBytes(64), digits: 7, algorithm: 'SHA512', period: 30 },
  { kind: 'securid-aes', id: '000123456789', secret: randomBytes(16), digits: 8, serial: '000123456789', period: 60 },
];

/** What the reader gives back for a written key: Buffers, and the position as Id when there was none. */
function expected(keys: PskcKey[]): PskcKey[] {
  return keys.map((key, index) => ({ ...key, id: key.id ?? String(index + 1), secret: Buffer.from(key.secret) }));
}

test('round-trips every field of HOTP, TOTP and SecurID keys, plain and under each PRF and MAC', () => {
  const plain = readPskc(writePskc(everything));
  assert.equal(plain.passwordProtected, false);
  assert.deepEqual(keysOf(plain.keys), expected(everything));
  for (const prf of ['hmac-sha1', 'hmac-sha256'] as PskcHmac[]) {
    for (const mac of ['hmac-sha1', 'hmac-sha256'] as PskcHmac[]) {
      const xml = writePskc(everything, { password: 'correct horse', iterations: 1000, prf, mac });
      const read = readPskc(xml, { password: 'correct horse' });
      assert.equal(read.passwordProtected, true);
      assert.deepEqual(keysOf(read.keys), expected(everything), `${prf} ${mac}`);
      assert.equal(xml.includes('<PRF'), prf !== 'hmac-sha1');
    }
  }
});

test('a password-protected file shows no secret; salt, IVs and MAC key come from the injected source', () => {
  const options: PskcWriteOptions = { password: 'pw', iterations: 1000, randomBytes: seededRandom('fixed') };
  const first = writePskc(everything, options);
  assert.equal(writePskc(everything, { ...options, randomBytes: seededRandom('fixed') }), first);
  assert.notEqual(writePskc(everything, { ...options, randomBytes: seededRandom('other') }), first);
  assert.notEqual(writePskc(everything, { password: 'pw', iterations: 1000 }), writePskc(everything, { password: 'pw', iterations: 1000 }));
  for (const key of everything) {
    const secret = Buffer.from(key.secret);
    for (const form of [secret.toString('base64'), secret.toString('hex')]) assert.ok(!first.includes(form));
  }
  assert.equal([...first.matchAll(/<pskc:ValueMAC>/g)].length, everything.length);
  assert.match(first, /<IterationCount>1000<\/IterationCount>/);
  assert.match(first, /<Specified>[A-Za-z0-9+/]{22}==<\/Specified>/);
  assert.match(writePskc(everything, { password: 'pw', randomBytes: seededRandom('x') }), /<IterationCount>100000<\/IterationCount>/);
});

test('refuses keys and options it cannot write faithfully', () => {
  const refused = (e: unknown) => e instanceof TallyError && e.code === 'VALIDATION_FAILED';
  const good = firstItem(everything);
  assert.throws(() => writePskc([{ ...good, digits: 9 }]), refused);
  assert.throws(() => writePskc([{ ...good, secret: Buffer.alloc(0) }]), refused);
  assert.throws(() => writePskc([{ ...good, kind: 'hotp', counter: -1 } as PskcKey]), refused);
  assert.throws(() => writePskc([{ ...item(everything, 1), period: 0 } as PskcKey]), refused);
  assert.throws(() => writePskc([{ ...item(everything, 3), serial: 'ABC' } as PskcKey]), refused);
  assert.throws(() => writePskc([{ ...good, userId: 'bell\u0007' }]), refused);
  assert.throws(() => writePskc([{ ...good, issuer: 'half \ud83d' }]), refused);
  assert.throws(() => writePskc([{ ...good, id: 'nul\u0000' }]), refused);
  assert.throws(() => writePskc([good, good]), refused);
  assert.throws(() => writePskc([good], { password: '' }), refused);
  assert.throws(() => writePskc([good], { password: 'pw', iterations: 999 }), refused);
  assert.throws(() => writePskc([good], { password: 'pw', iterations: 1000, mac: 'hmac-md5' as PskcHmac }), refused);
});

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'tally-pskc-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseCsv(text: string): Record<string, string>[] {
  const [header = [], ...rows] = text
    .trim()
    .split(/\r?\n/)
    .map((line) => line.split(','));
  return rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i] ?? ''])));
}

const PYTHON_READ = `
import json, sys, pskc
f = pskc.PSKC(sys.argv[1])
if len(sys.argv) > 2:
    f.encryption.derive_key(sys.argv[2])
out = []
for k in f.keys:
    out.append(dict(id=k.id, serial=k.serial, secret=k.secret.hex(), algorithm=k.algorithm, suite=k.algorithm_suite,
                    length=k.response_length, counter=k.counter, interval=k.time_interval, issuer=k.issuer,
                    userid=k.userid, manufacturer=k.manufacturer, check=k.check()))
print(json.dumps(out))
`;

const URIS = { hotp: 'urn:ietf:params:xml:ns:keyprov:pskc:hotp', totp: 'urn:ietf:params:xml:ns:keyprov:pskc:totp' };

interopTest('files we write (plain and password, HOTP and TOTP, several keys) are read by pskc2csv and python3-pskc', ['pskc2csv'], () => {
  withTempDir((dir) => {
    const cases: { password?: string; options: PskcWriteOptions }[] = [
      { options: {} },
      { password: 'Tally pskc ünïcode 1', options: { iterations: 1000 } },
      { password: 'pw2', options: { iterations: 2000, mac: 'hmac-sha256' } },
      { password: 'pw3', options: { iterations: 1000, prf: 'hmac-sha256', mac: 'hmac-sha256' } },
    ];
    cases.forEach(({ password, options }, n) => {
      const keys = Array.from({ length: 5 }, (_, i) => randomKey(i));
      keys[0] = { ...firstItem(keys), issuer: 'Tally', userId: 'bob', manufacturer: 'Tally' };
      const file = join(dir, `ours-${n}.pskcxml`);
      writeFileSync(file, writePskc(keys, { ...options, password }));

      const csv = parseCsv(
        runPeer('pskc2csv', [
          ...(password === undefined ? [] : ['-p', password]),
          '-c',
          'serial,secret,algorithm,response_length,counter,time_interval',
          file,
        ]),
      );
      assert.equal(csv.length, keys.length);
      keys.forEach((key, i) => {
        assert.deepEqual(
          csv[i],
          {
            serial: key.serial,
            secret: Buffer.from(key.secret).toString('hex'),
            algorithm: URIS[key.kind as 'hotp' | 'totp'],
            response_length: String(key.digits),
            counter: key.kind === 'hotp' ? String(key.counter) : '',
            time_interval: key.kind === 'totp' ? String(key.period) : '',
          },
          `case ${n} key ${i}`,
        );
      });

      const python = JSON.parse(runPeer(PYTHON, ['-c', PYTHON_READ, file, ...(password === undefined ? [] : [password])]));
      keys.forEach((key, i) => {
        const theirs = python[i];
        assert.equal(theirs.secret, Buffer.from(key.secret).toString('hex'));
        assert.equal(theirs.id, key.id);
        assert.equal(theirs.suite, key.kind === 'securid-aes' ? null : `HMAC-${key.algorithm}`);
        assert.equal(theirs.length, key.digits);
        assert.equal(theirs.check, true);
      });
      assert.deepEqual([python[0].issuer, python[0].userid, python[0].manufacturer], ['Tally', 'bob', 'Tally']);
      if (password !== undefined) {
        assert.throws(() => runPeer('pskc2csv', ['-p', `${password}x`, file]));
      }
    });
  });
});

const PYTHON_WRITE = `
import json, sys, pskc
spec = json.load(sys.stdin)
f = pskc.PSKC()
for k in spec['keys']:
    args = dict(k)
    args['secret'] = bytes.fromhex(args.pop('secret_hex'))
    f.add_key(**args)
if spec.get('password'):
    if spec.get('mac'):
        f.mac.setup(algorithm=spec['mac'])
    kwargs = dict(iterations=spec['iterations'], fields=spec['fields'])
    if spec.get('prf'):
        kwargs['prf'] = spec['prf']
    f.encryption.setup_pbkdf2(spec['password'], **kwargs)
f.write(sys.stdout.buffer)
`;

interopTest(
  'files python3-pskc writes (random secrets; plain, PBKDF2, encrypted counters, SHA-256 MAC and PRF) are read by us',
  ['pskc2csv'],
  () => {
    const variants = [
      {},
      { password: 'python pw 1', iterations: 1000, fields: ['secret'] },
      { password: 'python pw 2', iterations: 1500, fields: ['secret', 'counter', 'time_interval'], mac: 'hmac-sha256' },
      // python-pskc writes the PRF URI as PRF's text (and itself reads only an Algorithm attribute).
      { password: 'python pw 3', iterations: 1000, fields: ['secret'], prf: 'hmac-sha256' },
    ];
    for (const variant of variants) {
      const keys = Array.from({ length: 4 }, (_, i) => randomKey(i + 10)) as (PskcKey & { kind: 'hotp' | 'totp' })[];
      const spec = {
        ...variant,
        keys: keys.map((key) => ({
          id: key.id,
          serial: key.serial,
          secret_hex: Buffer.from(key.secret).toString('hex'),
          algorithm: URIS[key.kind],
          algorithm_suite: `HMAC-${key.algorithm}`,
          response_length: key.digits,
          issuer: 'Py',
          ...(key.kind === 'hotp' ? { counter: key.counter } : { time_interval: key.period }),
        })),
      };
      const xml = runPeer(PYTHON, ['-c', PYTHON_WRITE], { input: JSON.stringify(spec) });
      const read = readPskc(xml, { password: variant.password });
      assert.equal(read.passwordProtected, variant.password !== undefined);
      assert.deepEqual(
        keysOf(read.keys),
        keys.map((key) => ({ ...key, issuer: 'Py', secret: Buffer.from(key.secret) })),
        JSON.stringify(variant),
      );
      if (variant.password !== undefined) {
        assert.equal(
          (() => {
            try {
              readPskc(xml, { password: 'wrong' });
            } catch (e) {
              return (e as TallyError).code;
            }
          })(),
          'WRONG_PASSWORD',
        );
      }
    }
  },
);
