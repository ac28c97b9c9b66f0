import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { interopTest, runPeer } from '../../../test/support/peers.js';
import { readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { encodeBase32 } from './base32.js';
import { dynamicTruncate, hotp, hotpHmac, type OtpAlgorithm } from './hotp.js';

const appendixD = readVectorJson('oath/rfc4226-appendix-d.json');
const secret = Buffer.from(appendixD.secret_hex, 'hex');

test('RFC 4226 Appendix D: HMAC, truncation and 6-digit codes for counters 0-9', () => {
  assert.equal(secret.toString('ascii'), appendixD.secret_ascii);
  for (const row of appendixD.values) {
    const mac = hotpHmac(secret, row.counter);
    assert.equal(mac.toString('hex'), row.hmac_sha1_hex, `HMAC at ${row.counter}`);
    const truncated = dynamicTruncate(mac);
    assert.equal(truncated, row.truncated_decimal, `truncation at ${row.counter}`);
    assert.equal(truncated.toString(16), row.truncated_hex, `truncation at ${row.counter}`);
    assert.equal(hotp({ secret }, row.counter), row.hotp_6, `code at ${row.counter}`);
    assert.equal(hotp({ secret, digits: 8 }, row.counter), String(row.truncated_decimal % 1e8).padStart(8, '0'));
    assert.equal(hotp({ secret, digits: 7 }, BigInt(row.counter)), String(row.truncated_decimal % 1e7).padStart(7, '0'));
  }
});

test('counters beyond 2^53 are bigints; out-of-range counters and bad parameters are refused', () => {
  assert.match(hotp({ secret }, (1n << 64n) - 1n), /^[0-9]{6}$/);
  const code = (e: unknown) => (e instanceof TallyError ? e.code : undefined);
  assert.throws(
    () => hotp({ secret }, -1),
    (e) => code(e) === 'VALIDATION_FAILED',
  );
  assert.throws(
    () => hotp({ secret }, 1.5),
    (e) => code(e) === 'VALIDATION_FAILED',
  );
  assert.throws(
    () => hotp({ secret }, 1n << 64n),
    (e) => code(e) === 'VALIDATION_FAILED',
  );
  assert.throws(
    () => hotp({ secret, digits: 5 }, 0),
    (e) => code(e) === 'VALIDATION_FAILED',
  );
  assert.throws(
    () => hotp({ secret, digits: 9 }, 0),
    (e) => code(e) === 'VALIDATION_FAILED',
  );
  assert.throws(
    () => hotp({ secret: Buffer.alloc(0) }, 0),
    (e) => code(e) === 'VALIDATION_FAILED',
  );
  assert.throws(
    () => hotp({ secret, algorithm: 'MD5' as OtpAlgorithm }, 0),
    (e) => code(e) === 'UNSUPPORTED_ALGORITHM',
  );
});

const ALGORITHMS: OtpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];

interopTest('agrees with oathtool --hotp on 150 random SHA-1 keys, 5 counters each', ['oathtool'], () => {
  for (let i = 0; i < 150; i++) {
    const key = randomBytes(randomInt(10, 65));
    const digits = randomInt(6, 9);
    const counter = i % 10 === 0 ? randomInt(0, 5) : randomInt(0, 2 ** 40);
    // Half the cases give oathtool our base32, half the hex, so the encoder is checked too.
    const args = i % 2 === 0 ? ['-b', encodeBase32(key)] : [key.toString('hex')];
    const theirs = runPeer('oathtool', ['--hotp', '-d', String(digits), '-c', String(counter), '-w', '4', ...args])
      .trim()
      .split('\n');
    const ours = [0, 1, 2, 3, 4].map((step) => hotp({ secret: key, digits }, counter + step));
    assert.deepEqual(ours, theirs, `key ${key.toString('hex')} digits ${digits} counter ${counter}`);
  }
});

// oathtool's HOTP is SHA-1 only; TOTP at time counter*30 is HOTP at that counter with any hash.
interopTest('agrees with oathtool on 150 random SHA-256/SHA-512 HOTP keys (through --totp at counter*30)', ['oathtool'], () => {
  for (let i = 0; i < 150; i++) {
    const key = randomBytes(randomInt(10, 65));
    const algorithm = ALGORITHMS[1 + (i % 2)];
    const digits = randomInt(6, 9);
    const counter = randomInt(0, 2 ** 30);
    const theirs = runPeer('oathtool', [
      `--totp=${algorithm}`,
      '-d',
      String(digits),
      '-s',
      '30s',
      '-N',
      `@${counter * 30}`,
      '-w',
      '4',
      key.toString('hex'),
    ])
      .trim()
      .split('\n');
    const ours = [0, 1, 2, 3, 4].map((step) => hotp({ secret: key, algorithm, digits }, counter + step));
    assert.deepEqual(ours, theirs, `key ${key.toString('hex')} ${algorithm} digits ${digits} counter ${counter}`);
  }
});
