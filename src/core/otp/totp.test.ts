import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { interopTest, runPeer } from '../../../test/support/peers.js';
import { readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { encodeBase32 } from './base32.js';
import type { OtpAlgorithm } from './hotp.js';
import { totp, totpCounter } from './totp.js';

const appendixB = readVectorJson('oath/rfc6238-appendix-b.json');

test('RFC 6238 Appendix B: steps and 8-digit codes for SHA-1, SHA-256 and SHA-512', () => {
  assert.equal(appendixB.values.length, 18);
  for (const row of appendixB.values) {
    const seed = appendixB.seeds[row.mode];
    const secret = Buffer.from(seed.hex, 'hex');
    assert.equal(secret.length, seed.length);
    const step = totpCounter(row.time, appendixB.period, appendixB.t0);
    assert.equal(step, Number.parseInt(row.T_hex, 16), `step at ${row.time}`);
    const key = { secret, algorithm: row.mode as OtpAlgorithm, digits: appendixB.digits, period: appendixB.period, t0: appendixB.t0 };
    assert.equal(totp(key, row.time), row.totp, `${row.mode} at ${row.time}`);
  }
});

test('defaults are 30 s from the epoch; T0 and 60 s periods shift the step', () => {
  assert.equal(totpCounter(59), 1);
  assert.equal(totpCounter(60), 2);
  assert.equal(totpCounter(119, 60), 1);
  assert.equal(totpCounter(1090, 30, 1000), 3);
  assert.equal(totpCounter(1000, 30, 1000), 0);
  assert.equal(totpCounter(59.9), 1);
});

test('refuses a time before T0 and a bad period', () => {
  const refused = (e: unknown) => e instanceof TallyError && e.code === 'VALIDATION_FAILED';
  assert.throws(() => totpCounter(10, 30, 20), refused);
  assert.throws(() => totpCounter(10, 0), refused);
  assert.throws(() => totpCounter(10, 2.5), refused);
  assert.throws(() => totpCounter(Number.NaN), refused);
});

interopTest('agrees with oathtool --totp on 300 random keys, times, periods, digits and hashes (5 steps each)', ['oathtool'], () => {
  const algorithms: OtpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];
  for (let i = 0; i < 300; i++) {
    const secret = randomBytes(randomInt(10, 65));
    const algorithm = algorithms[i % 3];
    const digits = randomInt(6, 9);
    const period = i % 2 === 0 ? 30 : 60;
    const t0 = i % 5 === 0 ? randomInt(0, 1_000_000) : 0;
    const time = t0 + randomInt(0, 4_000_000_000);
    const args = [`--totp=${algorithm}`, '-d', String(digits), '-s', `${period}s`, '-N', `@${time}`, '-w', '4'];
    if (t0 !== 0) args.push('-S', `@${t0}`);
    args.push(...(i % 4 < 2 ? ['-b', encodeBase32(secret)] : [secret.toString('hex')]));
    const theirs = runPeer('oathtool', args).trim().split('\n');
    const key = { secret, algorithm, digits, period, t0 };
    const ours = [0, 1, 2, 3, 4].map((step) => totp(key, time + step * period));
    assert.deepEqual(ours, theirs, `oathtool ${args.join(' ')}`);
  }
});
