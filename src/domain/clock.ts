/** Time as the domain sees it: injected, so tests and pure code never read the wall clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Milliseconds from an arbitrary start that never jump (`performance.now()`): what the wall clock is checked against. */
export type Monotonic = () => number;

export const systemMonotonic: Monotonic = () => performance.now();

/** The wall clock jumped: `seconds` forward (positive) or back (negative), seen at `at` (the wall clock's new time). */
export interface ClockStep {
  at: number;
  seconds: number;
}

/**
 * NTP slews the clock by at most 0.5 ms a second, so between checks a few seconds apart a
 * difference of two seconds is a step (a manual change, a VM resumed, NTP giving up on slewing).
 */
const STEP_TOLERANCE_MS = 2000;

/**
 * Notices the wall clock being stepped: at each check, how far it moved since the last check is
 * compared with how far the monotonic clock moved. Time-based codes follow the wall clock, and the
 * last accepted step stays each token's floor, so a step back reopens no replay; but an operator
 * should know, since codes then match other steps than the holder's device shows.
 */
export class ClockWatch {
  private wallAt: number;
  private monotonicAt: number;
  private last: ClockStep | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly monotonic: Monotonic,
    private readonly onStep: (step: ClockStep) => void = () => {},
  ) {
    this.wallAt = clock.now();
    this.monotonicAt = monotonic();
  }

  /** Compares the two clocks since the last check; returns the step when there was one. */
  check(): ClockStep | undefined {
    const wall = this.clock.now();
    const monotonic = this.monotonic();
    const difference = wall - this.wallAt - (monotonic - this.monotonicAt);
    this.wallAt = wall;
    this.monotonicAt = monotonic;
    if (Math.abs(difference) < STEP_TOLERANCE_MS) return undefined;
    this.last = { at: wall, seconds: Math.round(difference / 1000) };
    this.onStep(this.last);
    return this.last;
  }

  /** The latest step seen since the process started, if any. */
  get lastStep(): ClockStep | undefined {
    return this.last;
  }
}
