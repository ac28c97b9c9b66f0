import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeBase32 } from '../src/core/otp/base32.js';
import { totp, totpCounter } from '../src/core/otp/totp.js';

/**
 * rlm_totp in FreeRADIUS 3.2.1 has no settings: SHA-1, 6 digits, 30-second steps from the epoch.
 * Every target gets tokens with these parameters so that all of them verify the same codes.
 */
export const BENCH_PERIOD = 30;

/** A benchmark user with one TOTP token (SHA-1, 6 digits, 30 s); the same users are provisioned on every target. */
export interface BenchUser {
  username: string;
  seed: Buffer;
  /** The seed as FreeRADIUS's TOTP-Secret and otpauth links carry it. */
  seedBase32: string;
}

const SEED_BYTES = 20;

/** `count` users with fresh random seeds, named bench-000000, bench-000001, ... (safe in a FreeRADIUS users file). */
export function benchUsers(count: number): BenchUser[] {
  const seeds = randomBytes(SEED_BYTES * count);
  return Array.from({ length: count }, (_, i) => {
    const seed = seeds.subarray(i * SEED_BYTES, (i + 1) * SEED_BYTES);
    return { username: `bench-${String(i).padStart(6, '0')}`, seed, seedBase32: encodeBase32(seed) };
  });
}

/** The user's tokencode at `unixSeconds`. */
export function tokencode(user: BenchUser, unixSeconds: number): string {
  return totp({ secret: user.seed, period: BENCH_PERIOD }, unixSeconds);
}

/** What the user types for a request sent at `unixSeconds`; a target with PINs passes its own. */
export type Passcode = (user: BenchUser, unixSeconds: number) => string;

export function currentStep(unixSeconds = Date.now() / 1000): number {
  return totpCounter(unixSeconds, BENCH_PERIOD);
}

/** Seconds until the step containing `unixSeconds` ends. */
export function secondsLeftInStep(unixSeconds = Date.now() / 1000): number {
  return BENCH_PERIOD - (unixSeconds % BENCH_PERIOD);
}

/**
 * Hands out users so that no user sends two codes in one step: a target with replay protection
 * (Tally) must reject a second use of a code, and the benchmark counts only real accepts.
 * Users go round-robin, so the least recently used one is always next.
 */
export class UserLedger {
  private readonly lastStep: number[];
  private cursor = 0;

  constructor(readonly users: readonly BenchUser[]) {
    if (users.length === 0) throw new Error('The benchmark needs at least one user.');
    this.lastStep = users.map(() => -1);
  }

  /** Up to `count` users not yet used in `step`; fewer (even none) once every user has had its turn in it. */
  take(count: number, step: number): BenchUser[] {
    const taken: BenchUser[] = [];
    while (taken.length < count && this.lastStep[this.cursor]! < step) {
      this.lastStep[this.cursor] = step;
      taken.push(this.users[this.cursor]!);
      this.cursor = (this.cursor + 1) % this.users.length;
    }
    return taken;
  }
}

/** Sleeps until just after the current step ends (a bounded wait of at most one period). */
export async function nextStep(): Promise<void> {
  await sleep(secondsLeftInStep() * 1000 + 20);
}

export interface Batch {
  users: BenchUser[];
  /** The time the codes are for; every one of them must reach the server within its step. */
  unixSeconds: number;
  /** How many times the batch waited for a new step. */
  waits: number;
}

/**
 * Takes up to `size` users for a batch expected to take `expectedSeconds`, first waiting for a new
 * step if the current one would end before the batch does (with a margin of half again plus
 * 0.3 s), or if every user has already been used in it. Never waits more than twice.
 */
export async function startBatch(ledger: UserLedger, size: number, expectedSeconds: number): Promise<Batch> {
  let waits = 0;
  if (secondsLeftInStep() < Math.min(expectedSeconds * 1.5 + 0.3, BENCH_PERIOD - 1)) {
    await nextStep();
    waits++;
  }
  let unixSeconds = Date.now() / 1000;
  let users = ledger.take(size, currentStep(unixSeconds));
  if (users.length === 0) {
    await nextStep();
    waits++;
    unixSeconds = Date.now() / 1000;
    users = ledger.take(size, currentStep(unixSeconds));
  }
  return { users, unixSeconds, waits };
}
