import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** libfaketime's preload library (Debian's `faketime` package), when installed. */
export function faketimeLibrary(): string | undefined {
  return readdirSync('/usr/lib')
    .map((architecture) => join('/usr/lib', architecture, 'faketime', 'libfaketime.so.1'))
    .find((path) => existsSync(path));
}

/**
 * The wall clock of a process spawned with `env`, stepped by the test while it runs. libfaketime
 * reads the offset from a file at every clock call (FAKETIME_NO_CACHE), and leaves the monotonic
 * clock alone (FAKETIME_DONT_FAKE_MONOTONIC), as a real step of the host clock does: without that,
 * a step back would stall the process's timers until the monotonic clock caught up again.
 */
export interface SteppedClock {
  env: NodeJS.ProcessEnv;
  /** Sets the wall clock `seconds` from the real one (negative: behind it), from the next clock call on. */
  setOffset(seconds: number): void;
  remove(): void;
}

export function steppedClock(library: string): SteppedClock {
  const dir = mkdtempSync(join(tmpdir(), 'tally-faketime-'));
  const file = join(dir, 'offset');
  const setOffset = (seconds: number) => writeFileSync(file, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  setOffset(0);
  return {
    env: {
      LD_PRELOAD: library,
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
    setOffset,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
