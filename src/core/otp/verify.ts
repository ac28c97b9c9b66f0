import { constantTimeEqual } from '../crypto/random.js';

/** How the PIN enters what the user types. The PIN check itself is the caller's (PINs are stored hashed). */
export type PinEntry =
  /** The passcode is the code alone (no PIN, or the PIN is checked elsewhere). */
  | { kind: 'none' }
  /** The passcode is PIN + code, the PIN typed in front (fob style, RADIUS PAP). */
  | { kind: 'prefix'; matches(pin: string): boolean }
  /**
   * The app added the PIN into the code digit by digit, right-aligned (SecurID AddPIN): the passcode
   * is as long as the code, and the PIN is one of the right-hand suffixes of their digit-wise difference.
   */
  | { kind: 'added'; minLength: number; maxLength: number; matches(pin: string): boolean };

export interface PasscodeSearch {
  /** What the user typed. */
  passcode: string;
  /** Digits of a code. */
  digits: number;
  /** The code of a step: a time step or a counter value. */
  codeAt(step: number): string;
  /** The step expected now: the time step plus the token's drift, or HOTP's next unused counter. */
  expected: number;
  /** Steps from `expected` accepted at once. */
  small: number;
  /** Steps from `expected` searched at all (a match beyond `small` needs the next code too). */
  large: number;
  /** Counters only move forward; clocks drift both ways. */
  direction: 'both' | 'ahead';
  /** The last step accepted; it and every step before it are replays. */
  lastStep: number | null;
  pin: PinEntry;
}

export type PasscodeMatch = { kind: 'none' } | { kind: 'replay'; step: number } | { kind: 'match'; step: number; inSmallWindow: boolean };

/** Digit-wise subtraction modulo 10: undoes the SecurID app's PIN addition. */
function subtractDigits(passcode: string, code: string): string {
  let out = '';
  for (let i = 0; i < passcode.length; i++) out += String((Number(passcode[i]) - Number(code[i]) + 10) % 10);
  return out;
}

function isDigits(text: string): boolean {
  return /^[0-9]+$/.test(text);
}

/** Does the passcode hold the code of `step`? A function of the step, built once per search. */
function stepTest(search: PasscodeSearch): ((step: number) => boolean) | undefined {
  const { passcode, digits, codeAt, pin } = search;
  switch (pin.kind) {
    case 'none':
      if (passcode.length !== digits || !isDigits(passcode)) return undefined;
      return (step) => constantTimeEqual(codeAt(step), passcode);
    case 'prefix': {
      if (passcode.length <= digits || !isDigits(passcode.slice(-digits))) return undefined;
      // The PIN is checked once, before any code: a wrong PIN never reveals whether the code was right.
      if (!pin.matches(passcode.slice(0, -digits))) return undefined;
      const code = passcode.slice(-digits);
      return (step) => constantTimeEqual(codeAt(step), code);
    }
    case 'added':
      if (passcode.length !== digits || !isDigits(passcode)) return undefined;
      return (step) => {
        const difference = subtractDigits(passcode, codeAt(step));
        let matched = false;
        for (let length = pin.minLength; length <= pin.maxLength; length++) {
          if (pin.matches(difference.slice(-length))) matched = true;
        }
        return matched;
      };
  }
}

/**
 * Compares every step in [from, to] in constant time, with no early exit, and returns the matching
 * step nearest `expected` (the earlier one on a tie), or undefined.
 */
function nearestMatch(matches: (step: number) => boolean, from: number, to: number, expected: number): number | undefined {
  let best: number | undefined;
  for (let step = Math.max(0, from); step <= to; step++) {
    if (matches(step) && (best === undefined || Math.abs(step - expected) < Math.abs(best - expected))) best = step;
  }
  return best;
}

/**
 * Finds the step whose code the passcode holds. The expected step alone is tried first, then the
 * small window, then the large one: most passcodes are found at once, and each wider search costs
 * more. Which window matched is no secret: the reply says it anyway. A step at or before `lastStep`
 * is a replay; what follows from a match (accept, next tokencode, new PIN) is the caller's rule.
 */
export function verifyPasscode(search: PasscodeSearch): PasscodeMatch {
  const { expected, small, large, direction, lastStep } = search;
  const matches = stepTest(search);
  if (!matches) return { kind: 'none' };
  const behind = (window: number) => (direction === 'ahead' ? expected : expected - window);
  const step =
    nearestMatch(matches, expected, expected, expected) ??
    nearestMatch(matches, behind(small), expected + small, expected) ??
    nearestMatch(matches, behind(large), expected + large, expected);
  if (step === undefined) return { kind: 'none' };
  if (lastStep !== null && step <= lastStep) return { kind: 'replay', step };
  const inSmallWindow = direction === 'ahead' ? step - expected <= small : Math.abs(step - expected) <= small;
  return { kind: 'match', step, inSmallWindow };
}

export interface ConsecutiveSearch {
  codeAt(step: number): string;
  first: string;
  second: string;
  /** Steps searched for the first code: [from, to). */
  from: number;
  to: number;
}

/**
 * Finds two consecutive steps whose codes are `first` then `second` (resynchronisation): the step of
 * the second, or undefined. Only a consecutive pair counts, so one lucky guess cannot move a token.
 */
export function findConsecutiveCodes({ codeAt, first, second, from, to }: ConsecutiveSearch): number | undefined {
  let found: number | undefined;
  for (let step = Math.max(0, from); step < to; step++) {
    if (constantTimeEqual(codeAt(step), first) && constantTimeEqual(codeAt(step + 1), second)) found = step + 1;
  }
  return found;
}
