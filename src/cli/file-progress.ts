import { createReadStream, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type Io, UsageError } from './command.js';

/** A file's size; a file that cannot be read is bad usage. */
export function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    throw new UsageError(`cannot read ${file}.`);
  }
}

/** A large file read as it streams from disk, with the progress of what is done with it. */
export interface StreamedFile {
  /** The file's bytes, 256 KiB at a time. */
  pieces: AsyncIterable<Buffer>;
  /**
   * Writes `DONE UNIT (DETAIL) RATE/s ETA N s` on stderr, the time left estimated from the bytes
   * read so far: at most once a second, and always when `final` (then without the estimate).
   */
  progress(done: number, detail: string, final?: boolean): void;
}

export function streamWithProgress(file: string, unit: string, io: Io): StreamedFile {
  const size = sizeOf(file);
  let bytesRead = 0;
  const pieces = (async function* () {
    for await (const piece of createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      bytesRead += piece.length;
      yield piece;
    }
  })();
  const started = performance.now();
  let shown = started;
  return {
    pieces,
    progress(done, detail, final = false) {
      const now = performance.now();
      if (!final && now - shown < 1000) return;
      shown = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? Math.round(done / seconds) : 0;
      const left = bytesRead > 0 && !final ? ` ETA ${Math.round(((size - bytesRead) / bytesRead) * seconds)} s` : '';
      io.err(`${done} ${unit} (${detail}) ${rate}/s${left}\n`);
    },
  };
}
