import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { findMatchingCounter } from './match.js';
import { hotp } from './hotp.js';
import { totp, totpCounter } from './totp.js';
import { TallyError } from '../../errors.js';
import { readVectorJson } from '../../../test/support/vectors.js';
import { interopTest, runPeer } from '../../../test/support/peers.js';

const appendixD = readVectorJson('oath/rfc4226-appendix-d.json');
const secret = Buffer.from(appendixD.secret_hex, 'hex');
const codeAt = (counter: number) => appendixD.values[counter].hotp_6 as string;

test('finds an HOTP counter ahead within the window, and not beyond it', () => {
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(3), startCounter: 3, window: 0 }), { matched: true, counter: 3, offset: 0 });
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(7), startCounter: 2, window: 5 }), { matched: true, counter: 7, offset: 5 });
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(8), startCounter: 2, window: 5 }), { matched: false });
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(1), startCounter: 2, window: 5 }), { matched: false });
});

test('looks behind for TOTP drift, never below counter 0', () => {
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(1), startCounter: 2, window: 1, behind: 1 }), { matched: true, counter: 1, offset: -1 });
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(0), startCounter: 1, window: 0, behind: 5 }), { matched: true, counter: 0, offset: -1 });
  const time = 1_700_000_000;
  const step = totpCounter(time);
  const late = totp({ secret }, time - 30);
  assert.deepEqual(findMatchingCounter({ secret, code: late, startCounter: step, window: 1, behind: 1 }), { matched: true, counter: step - 1, offset: -1 });
});

test('takes the nearest match when codes collide, the earlier one on a tie', () => {
  // Search 6-digit codes for a collision near the start; deterministic for this fixed key.
  const key = { secret: Buffer.from('collide'), digits: 6 };
  const seen = new Map<string, number>();
  let pair: [number, number] | undefined;
  for (let counter = 0; !pair; counter++) {
    const code = hotp(key, counter);
    const before = seen.get(code);
    if (before !== undefined) pair = [before, counter];
    else seen.set(code, counter);
  }
  const [a, b] = pair;
  const code = hotp(key, a);
  const middle = Math.floor((a + b) / 2);
  const span = b - a;
  assert.deepEqual(findMatchingCounter({ ...key, code, startCounter: a, window: span }), { matched: true, counter: a, offset: 0 });
  assert.deepEqual(findMatchingCounter({ ...key, code, startCounter: b, window: 0, behind: span }), { matched: true, counter: b, offset: 0 });
  const expected = middle - a <= b - middle ? a : b;
  assert.deepEqual(findMatchingCounter({ ...key, code, startCounter: middle, window: span, behind: span }), {
    matched: true,
    counter: expected,
    offset: expected - middle,
  });
});

test('a code of the wrong length or with non-digits never matches; bad windows are refused', () => {
  assert.deepEqual(findMatchingCounter({ secret, code: ` ${codeAt(0)}`, startCounter: 0, window: 3 }), { matched: false });
  assert.deepEqual(findMatchingCounter({ secret, code: codeAt(0).slice(1), startCounter: 0, window: 3 }), { matched: false });
  assert.deepEqual(findMatchingCounter({ secret, code: '', startCounter: 0, window: 3 }), { matched: false });
  assert.deepEqual(findMatchingCounter({ secret, code: '７５５２２４', startCounter: 0, window: 3 }), { matched: false });
  const refused = (e: unknown) => e instanceof TallyError && e.code === 'VALIDATION_FAILED';
  assert.throws(() => findMatchingCounter({ secret, code: codeAt(0), startCounter: -1, window: 3 }), refused);
  assert.throws(() => findMatchingCounter({ secret, code: codeAt(0), startCounter: 0, window: -1 }), refused);
  assert.throws(() => findMatchingCounter({ secret, code: codeAt(0), startCounter: 0, window: 1, behind: 0.5 }), refused);
});

interopTest('agrees with oathtool validation (which reports the offset in its window) on 60 random cases', ['oathtool'], () => {
  for (let i = 0; i < 60; i++) {
    const key = randomBytes(randomInt(10, 65));
    const digits = randomInt(6, 9);
    const start = randomInt(0, 1_000_000);
    const window = randomInt(0, 20);
    const target = start + randomInt(0, window + 3);
    const code = hotp({ secret: key, digits }, target);
    const ours = findMatchingCounter({ secret: key, digits, code, startCounter: start, window });
    let theirs: number | undefined;
    try {
      const out = runPeer('oathtool', ['--hotp', '-d', String(digits), '-c', String(start), '-w', String(window), key.toString('hex'), code]);
      theirs = Number(out.trim());
    } catch {
      theirs = undefined;
    }
    // oathtool returns the first match in its window; ours the nearest, which is the first when looking only ahead.
    assert.deepEqual(ours, theirs === undefined ? { matched: false } : { matched: true, counter: start + theirs, offset: theirs }, `case ${i}`);
  }
});
