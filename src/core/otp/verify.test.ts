import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { interopTest, runPeer } from '../../../test/support/peers.js';
import { readVectorJson } from '../../../test/support/vectors.js';
import { addPinToTokencode, computeTokencode } from '../securid/index.js';
import { hotp } from './hotp.js';
import { totp, totpCounter } from './totp.js';
import { findConsecutiveCodes, type PasscodeSearch, verifyPasscode } from './verify.js';

const appendixD = readVectorJson('oath/rfc4226-appendix-d.json');
const secret = Buffer.from(appendixD.secret_hex, 'hex');
const vector = (counter: number) => appendixD.values[counter].hotp_6 as string;
const codeAt = (counter: number) => hotp({ secret }, counter);

/** A search over the RFC 4226 key with no PIN, nothing used yet, and the given overrides. */
function search(overrides: Partial<PasscodeSearch>): PasscodeSearch {
  return {
    passcode: '',
    digits: 6,
    codeAt,
    expected: 0,
    small: 0,
    large: 0,
    direction: 'ahead',
    lastStep: null,
    pin: { kind: 'none' },
    ...overrides,
  };
}

test('the codes searched are RFC 4226 appendix D codes', () => {
  for (let counter = 0; counter < 10; counter++) assert.equal(codeAt(counter), vector(counter));
});

test('finds an HOTP counter ahead within the windows, and not beyond or behind them', () => {
  assert.deepEqual(verifyPasscode(search({ passcode: vector(3), expected: 3 })), { kind: 'match', step: 3, inSmallWindow: true });
  assert.deepEqual(verifyPasscode(search({ passcode: vector(7), expected: 2, small: 5, large: 5 })), {
    kind: 'match',
    step: 7,
    inSmallWindow: true,
  });
  assert.deepEqual(verifyPasscode(search({ passcode: vector(7), expected: 2, small: 2, large: 5 })), {
    kind: 'match',
    step: 7,
    inSmallWindow: false,
  });
  assert.deepEqual(verifyPasscode(search({ passcode: vector(8), expected: 2, small: 5, large: 5 })), { kind: 'none' });
  assert.deepEqual(verifyPasscode(search({ passcode: vector(1), expected: 2, small: 5, large: 5 })), { kind: 'none' });
});

test('looks both ways for TOTP drift, never below step 0, and tells the small window from the large', () => {
  const both = { direction: 'both' as const };
  assert.deepEqual(verifyPasscode(search({ ...both, passcode: vector(1), expected: 2, small: 1, large: 1 })), {
    kind: 'match',
    step: 1,
    inSmallWindow: true,
  });
  assert.deepEqual(verifyPasscode(search({ ...both, passcode: vector(0), expected: 1, small: 0, large: 5 })), {
    kind: 'match',
    step: 0,
    inSmallWindow: false,
  });
  assert.deepEqual(verifyPasscode(search({ ...both, passcode: vector(6), expected: 3, small: 1, large: 3 })), {
    kind: 'match',
    step: 6,
    inSmallWindow: false,
  });
  const time = 1_700_000_000;
  const step = totpCounter(time);
  const late = totp({ secret }, time - 30);
  assert.deepEqual(verifyPasscode(search({ ...both, passcode: late, expected: step, small: 1, large: 1 })), {
    kind: 'match',
    step: step - 1,
    inSmallWindow: true,
  });
});

test('a step at or before the last accepted one is a replay, after it a match', () => {
  assert.deepEqual(verifyPasscode(search({ passcode: vector(4), expected: 4, lastStep: 4 })), { kind: 'replay', step: 4 });
  assert.deepEqual(verifyPasscode(search({ direction: 'both', passcode: vector(3), expected: 4, small: 1, large: 1, lastStep: 4 })), {
    kind: 'replay',
    step: 3,
  });
  assert.deepEqual(verifyPasscode(search({ passcode: vector(5), expected: 4, small: 1, large: 1, lastStep: 4 })), {
    kind: 'match',
    step: 5,
    inSmallWindow: true,
  });
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
  const passcode = hotp(key, a);
  const collide = (expected: number, window: number, direction: 'both' | 'ahead') =>
    verifyPasscode(search({ codeAt: (counter) => hotp(key, counter), passcode, expected, small: window, large: window, direction }));
  const span = b - a;
  assert.deepEqual(collide(a, span, 'ahead'), { kind: 'match', step: a, inSmallWindow: true });
  assert.deepEqual(collide(b, span, 'both'), { kind: 'match', step: b, inSmallWindow: true });
  const middle = Math.floor((a + b) / 2);
  assert.deepEqual(collide(middle, span, 'both'), { kind: 'match', step: middle - a <= b - middle ? a : b, inSmallWindow: true });
});

test('a passcode of the wrong length or with non-digits never matches', () => {
  for (const passcode of [` ${vector(0)}`, vector(0).slice(1), '', '７５５２２４', `${vector(0)}0`]) {
    assert.deepEqual(verifyPasscode(search({ passcode, small: 3, large: 3 })), { kind: 'none' }, JSON.stringify(passcode));
  }
});

test('PIN in front: the PIN is checked once, and a wrong PIN never reaches the codes', () => {
  const pins: string[] = [];
  const pin = {
    kind: 'prefix' as const,
    matches: (typed: string) => {
      pins.push(typed);
      return typed === '4321';
    },
  };
  assert.deepEqual(verifyPasscode(search({ passcode: `4321${vector(2)}`, expected: 1, small: 1, large: 1, pin })), {
    kind: 'match',
    step: 2,
    inSmallWindow: true,
  });
  let computed = 0;
  const counting = (counter: number) => {
    computed++;
    return codeAt(counter);
  };
  assert.deepEqual(verifyPasscode(search({ passcode: `1234${vector(2)}`, codeAt: counting, expected: 1, small: 1, large: 1, pin })), {
    kind: 'none',
  });
  assert.equal(computed, 0);
  assert.deepEqual(verifyPasscode(search({ passcode: vector(2), expected: 1, small: 1, large: 1, pin })), { kind: 'none' });
  assert.deepEqual(pins, ['4321', '1234']);
});

test('PIN added into a SecurID tokencode: the PIN is recovered from the digit-wise difference', () => {
  const token = { serial: '000123456789', seed: Buffer.alloc(16, 7), digits: 8, period: 60 as const };
  const tokencode = (step: number) => computeTokencode(token, step * 60);
  const expected = 29_000_000;
  for (const pinValue of ['1234', '12345678', '0007']) {
    const pin = { kind: 'added' as const, minLength: 4, maxLength: 8, matches: (typed: string) => typed === pinValue };
    const passcode = addPinToTokencode(tokencode(expected + 1), pinValue);
    const found = verifyPasscode(search({ passcode, digits: 8, codeAt: tokencode, expected, small: 1, large: 10, direction: 'both', pin }));
    assert.deepEqual(found, { kind: 'match', step: expected + 1, inSmallWindow: true }, pinValue);
    const wrong = { ...pin, matches: (typed: string) => typed === '9999' };
    assert.deepEqual(
      verifyPasscode(search({ passcode, digits: 8, codeAt: tokencode, expected, small: 1, large: 10, direction: 'both', pin: wrong })),
      { kind: 'none' },
    );
  }
});

test('resynchronisation needs two consecutive codes, in order', () => {
  assert.equal(findConsecutiveCodes({ codeAt, first: vector(5), second: vector(6), from: 0, to: 9 }), 6);
  assert.equal(findConsecutiveCodes({ codeAt, first: vector(6), second: vector(5), from: 0, to: 9 }), undefined);
  assert.equal(findConsecutiveCodes({ codeAt, first: vector(5), second: vector(7), from: 0, to: 9 }), undefined);
  assert.equal(findConsecutiveCodes({ codeAt, first: vector(5), second: vector(6), from: 6, to: 9 }), undefined);
});

interopTest('agrees with oathtool validation (which reports the offset in its window) on 60 random cases', ['oathtool'], () => {
  for (let i = 0; i < 60; i++) {
    const key = randomBytes(randomInt(10, 65));
    const digits = randomInt(6, 9);
    const start = randomInt(0, 1_000_000);
    const window = randomInt(0, 20);
    const target = start + randomInt(0, window + 3);
    const passcode = hotp({ secret: key, digits }, target);
    const ours = verifyPasscode(
      search({
        passcode,
        digits,
        codeAt: (counter) => hotp({ secret: key, digits }, counter),
        expected: start,
        small: window,
        large: window,
      }),
    );
    let theirs: number | undefined;
    try {
      const out = runPeer('oathtool', [
        '--hotp',
        '-d',
        String(digits),
        '-c',
        String(start),
        '-w',
        String(window),
        key.toString('hex'),
        passcode,
      ]);
      theirs = Number(out.trim());
    } catch {
      theirs = undefined;
    }
    // oathtool returns the first match in its window; ours the nearest, which is the first when looking only ahead.
    assert.deepEqual(
      ours,
      theirs === undefined ? { kind: 'none' } : { kind: 'match', step: start + theirs, inSmallWindow: true },
      `case ${i}`,
    );
  }
});
