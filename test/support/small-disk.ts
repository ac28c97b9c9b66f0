import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small private file system (tmpfs with a size limit) that a test fills up and frees again, for real. */
export interface SmallDisk {
  /** Where it is mounted. */
  dir: string;
  /** Writes a filler file until the file system answers ENOSPC: every later write that needs a new block fails. */
  fill(): void;
  /** Deletes the filler: the space is back. */
  free(): void;
  /** Unmounts it (lazily, should a process still hold a file there) and removes the mount point. */
  unmount(): void;
}

function mount(args: string[]): { ok: boolean; error: string } {
  const result = spawnSync('mount', args, { encoding: 'utf8' });
  return { ok: result.status === 0, error: `${result.stderr ?? ''}${result.error?.message ?? ''}`.trim() };
}

let mountable: boolean | undefined;

/** Whether this process may mount a tmpfs (root, or a user namespace that allows it), tried once. */
export function canMountSmallDisk(): boolean {
  if (mountable === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'tally-disk-probe-'));
    mountable = mount(['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).ok;
    if (mountable) spawnSync('umount', [dir]);
    rmdirSync(dir);
  }
  return mountable;
}

const mounted = new Set<SmallDisk>();
// A test that fails or is killed between mount and teardown leaves no mount behind.
process.once('exit', () => {
  for (const disk of mounted) disk.unmount();
});

/** Mounts a tmpfs of `sizeMiB` at a fresh directory; throws with mount's reason when it cannot. */
export function mountSmallDisk(sizeMiB: number): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), 'tally-disk-'));
  const done = mount(['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir]);
  if (!done.ok) {
    rmdirSync(dir);
    throw new Error(`cannot mount a tmpfs at ${dir}: ${done.error}`);
  }
  const filler = join(dir, 'filler');
  const disk: SmallDisk = {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      try {
        // Large blocks first, then ever smaller ones, so that not even a page is left.
        for (let size = 1 << 20; size >= 512; size >>= 1) {
          const block = Buffer.alloc(size, 0xa5);
          for (;;) {
            try {
              writeSync(fd, block);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw error;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      if (!mounted.delete(disk)) return;
      spawnSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  mounted.add(disk);
  return disk;
}
