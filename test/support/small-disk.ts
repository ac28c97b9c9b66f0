import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a private file system is mounted, and how to be rid of it. */
interface MountedDisk {
  /** Where it is mounted. */
  dir: string;
  /** Unmounts it (lazily, should a process still hold a file there) and removes what it used. */
  unmount(): void;
}

/** A small private file system (tmpfs with a size limit) that a test fills up and frees again, for real. */
export interface SmallDisk extends MountedDisk {
  /** Writes a filler file until the file system answers ENOSPC: every later write that needs a new block fails. */
  fill(): void;
  /** Deletes the filler: the space is back. */
  free(): void;
}

/**
 * A small ext4 file system on a loop device, mounted `errors=remount-ro`. Linux refuses to remount a
 * file system read-only while a process has a file open for writing there (EBUSY), so a read-only
 * fault under a running process is the kernel's own: ext4 meeting an error makes itself read-only.
 */
export interface FailingDisk extends MountedDisk {
  /** Reports a file-system error to ext4 (its sysfs `trigger_fs_error`): the kernel makes it read-only at once. */
  failReadOnly(): void;
  /** What an operator does next, with Tally stopped: unmount, `e2fsck -fy`, mount again. */
  repair(): void;
}

function mount(args: string[]): { ok: boolean; error: string } {
  const result = spawnSync('mount', args, { encoding: 'utf8' });
  return { ok: result.status === 0, error: `${result.stderr ?? ''}${result.error?.message ?? ''}`.trim() };
}

let mountable: boolean | undefined;
let failable: boolean | undefined;

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

/** Whether this process may make and mount an ext4 image on a loop device whose errors it can trigger, tried once. */
export function canMountFailingDisk(): boolean {
  if (failable === undefined) {
    try {
      mountFailingDisk(8).unmount();
      failable = true;
    } catch {
      failable = false;
    }
  }
  return failable;
}

const mounted = new Set<MountedDisk>();
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

function run(command: string, args: string[], okStatuses = [0]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status === null || !okStatuses.includes(result.status))
    throw new Error(`${command} ${args.join(' ')}: ${result.error?.message ?? ''}${result.stderr ?? ''}`.trim());
  return result.stdout;
}

/** Makes an ext4 image of `sizeMiB` and mounts it through a loop device; throws with the reason when it cannot. */
export function mountFailingDisk(sizeMiB: number): FailingDisk {
  const home = mkdtempSync(join(tmpdir(), 'tally-ext4-'));
  const image = join(home, 'disk.img');
  const dir = join(home, 'mnt');
  run('mkdir', [dir]);
  const attach = () => {
    run('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
    const device = run('findmnt', ['-n', '-o', 'SOURCE', dir]).trim().split('/').pop() ?? '';
    const trigger = `/sys/fs/ext4/${device}/trigger_fs_error`;
    if (!existsSync(trigger)) {
      spawnSync('umount', [dir]);
      throw new Error(`no ${trigger}: this kernel cannot be told of an ext4 error`);
    }
    return trigger;
  };
  let trigger: string;
  try {
    run('truncate', ['-s', `${sizeMiB}M`, image]);
    // No blocks reserved for root: the tests run as root.
    run('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
    trigger = attach();
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  const disk: FailingDisk = {
    dir,
    failReadOnly: () => writeFileSync(trigger, '1'),
    repair() {
      run('umount', [dir]);
      // 1: errors were found and corrected, which an error the kernel was told of leaves behind.
      run('e2fsck', ['-f', '-y', image], [0, 1]);
      trigger = attach();
    },
    unmount() {
      if (!mounted.delete(disk)) return;
      spawnSync('umount', ['-l', dir]);
      rmSync(home, { recursive: true, force: true });
    },
  };
  mounted.add(disk);
  return disk;
}
