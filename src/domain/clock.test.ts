import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ClockStep, ClockWatch } from './clock.js';

function clocks() {
  const time = { wall: Date.UTC(2026, 11, 7, 12, 0, 0), monotonic: 1000 };
  const seen: ClockStep[] = [];
  const watch = new ClockWatch(
    { now: () => time.wall },
    () => time.monotonic,
    (step) => seen.push(step),
  );
  const pass = (ms: number) => {
    time.wall += ms;
    time.monotonic += ms;
  };
  return { time, seen, watch, pass };
}

test('time passing on both clocks, and slewing within the tolerance, is no step', () => {
  const { time, seen, watch, pass } = clocks();
  pass(10_000);
  assert.equal(watch.check(), undefined);
  time.wall += 1999;
  assert.equal(watch.check(), undefined);
  assert.deepEqual(seen, []);
  assert.equal(watch.lastStep, undefined);
});

test('a step back and a step forward of the wall clock are seen, signed, once each', () => {
  const { time, seen, watch, pass } = clocks();
  pass(10_000);
  time.wall -= 90_000;
  assert.deepEqual(watch.check(), { at: time.wall, seconds: -90 });
  pass(10_000);
  assert.equal(watch.check(), undefined, 'measured from the last check: the same step is not reported twice');
  time.wall += 3_600_000;
  assert.deepEqual(watch.check(), { at: time.wall, seconds: 3600 });
  assert.deepEqual(
    seen.map((step) => step.seconds),
    [-90, 3600],
  );
  assert.equal(watch.lastStep?.seconds, 3600);
});

test('a process that did not run (a VM paused) while the wall clock went on counts as a step forward', () => {
  const { time, watch } = clocks();
  time.wall += 300_000;
  assert.equal(watch.check()?.seconds, 300);
});
