import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second, the unit of the CPU times in /proc/PID/stat. */
export const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface ProcStat {
  ppid: number;
  /** utime + stime: CPU the process itself used. */
  ticks: number;
  /** cutime + cstime: CPU of children it has waited for. */
  childTicks: number;
}

function readStat(pid: number | 'self'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses, so count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
    childTicks: Number(fields[13]) + Number(fields[14]),
  };
}

/**
 * CPU seconds used so far by `pids` and every descendant of them, so that a server that forks
 * workers (or a PostgreSQL postmaster and its backends) is counted whole. Each process counts with
 * the children it has reaped, so a worker (a backend whose connection closed) that exits during a
 * run still counts, and the total never goes down.
 */
export function treeCpuSeconds(pids: readonly number[]): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined) continue;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(Number(entry));
    children.set(stat.ppid, siblings);
  }
  const seen = new Set<number>();
  const pending = [...pids];
  let ticks = 0;
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const stat = readStat(pid);
    ticks += stat ? stat.ticks + stat.childTicks : 0;
    pending.push(...(children.get(pid) ?? []));
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds of this process's children that have exited and been reaped (the radclient runs). */
export function reapedChildrenCpuSeconds(): number {
  return (readStat('self')?.childTicks ?? 0) / CLOCK_TICKS;
}

/** CPU seconds all processors have been busy since boot (everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

/** CPU seconds of this process itself. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
