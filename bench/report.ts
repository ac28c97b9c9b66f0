import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { type ChartSeries, renderChart } from './chart.js';
import type { LoadResult } from './radclient-load.js';

export interface TargetResult {
  name: string;
  note?: string;
  /** The target doing the same durable work, compared with too. */
  peer?: string;
  /** The same server with a stronger guarantee, whose cost against this one is shown. */
  strongerVariant?: string;
  levels: LoadResult[];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  freeradius: string;
  radclient: string;
  /** The 1-minute load average when the benchmark started; above ~0.5 something else is running. */
  loadAverageAtStart: number;
  /**
   * Where the SQLite stores are (Tally's and FreeRADIUS's, both under the OS temp dir): the file
   * system and its device, as findmnt names them. A memory file system (tmpfs) makes fsync free.
   */
  dataFileSystem: string;
}

export interface BenchResults {
  date: string;
  quick: boolean;
  machine: Machine;
  settings: { users: number; requestsPerLevel: number; requestsPerRadclientRun: number };
  targets: TargetResult[];
}

function firstLine(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return (
    `${run.stdout ?? ''}${run.stderr ?? ''}`
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? 'not found'
  );
}

export function machineFacts(): Machine {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    freeradius: firstLine('freeradius', ['-v']),
    radclient: firstLine('radclient', ['-v']),
    loadAverageAtStart: loadavg()[0]!,
    dataFileSystem: dataFileSystem(tmpdir()),
  };
}

function dataFileSystem(dir: string): string {
  const run = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE,TARGET', '-T', dir], { encoding: 'utf8' });
  const [type, source, target] = (run.stdout ?? '').trim().split(/\s+/);
  return type ? `${dir} on ${type} (${source} mounted at ${target})` : `${dir} (file system unknown: findmnt failed)`;
}

function how(settings: BenchResults['settings']): string[] {
  return [
    `Load: radclient 3.2 with \`-p C\` requests outstanding, one file of at most ${settings.requestsPerRadclientRun} requests per run (radclient rescans its whole list on every pass, so bigger files are slower), PAP with Message-Authenticator. Every request comes from a user not yet used in its 30 s step and carries the code for that step, so every accept is a real one.`,
    "Latency: while radclient runs, a probe built on Tally's RADIUS codec sends single requests (never more than one outstanding), pausing so that it adds about 5% to the load. p50/p99 are over the probe's accepted requests, from just before sending to the reply reaching the probe's event loop; they include the radclient start-up and tail of each run, when fewer requests are queued.",
    "requests and accepts: radclient's plus the probe's. accepts/s: all accepts divided by the summed wall time of the radclient runs (spawn to exit, radclient start-up included); pauses to wait for a fresh TOTP step are left out.",
    "server µs CPU/req: utime + stime from /proc of the server processes and their descendants, before and after the whole load, divided by all requests. radclient CPU: radclient's own CPU as a share of one core while it ran.",
    'other CPU: cores busy with anything else (other processes, the kernel) while radclient ran, from /proc/stat; figures taken on a busy machine are low.',
  ];
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

const HEADER = [
  'target',
  'conc.',
  'requests',
  'accepts',
  'accepts/s',
  'server µs CPU/req',
  'radclient CPU',
  'p50 ms',
  'p99 ms',
  'latency n',
  'other CPU',
];

function rows(results: BenchResults): string[][] {
  return results.targets.flatMap((target) =>
    target.levels.map((level) => {
      const { radclient: r, latency: l } = level;
      const requests = r.requests + l.requests;
      const accepted = r.accepted + l.accepted;
      return [
        target.name,
        String(level.concurrency),
        String(requests),
        accepted === requests ? String(accepted) : `${accepted} (${requests - accepted} not)`,
        fixed(level.acceptsPerSecond, 0),
        fixed(level.serverCpuMicrosPerRequest, 1),
        `${fixed(r.cpuShare * 100, 0)}%`,
        fixed(l.p50Ms, 3),
        fixed(l.p99Ms, 3),
        String(l.accepted),
        `${fixed(level.otherCpuCores, 2)} cores`,
      ];
    }),
  );
}

/** `target` against `base` at each concurrency they share. */
function ratioLines(target: TargetResult, base: TargetResult): string[] {
  return target.levels.flatMap((level) => {
    const other = base.levels.find((candidate) => candidate.concurrency === level.concurrency);
    if (other === undefined) return [];
    return [
      `${target.name} / ${base.name} at concurrency ${level.concurrency}: ` +
        `${fixed(level.acceptsPerSecond / other.acceptsPerSecond, 2)}× the accepts/s, ` +
        `${fixed(level.serverCpuMicrosPerRequest / other.serverCpuMicrosPerRequest, 2)}× the server CPU per request`,
    ];
  });
}

/** What `stronger`'s guarantee costs against `weaker` (the same server without it), at each concurrency both ran. */
function costLines(stronger: TargetResult, weaker: TargetResult): string[] {
  return stronger.levels.flatMap((level) => {
    const other = weaker.levels.find((candidate) => candidate.concurrency === level.concurrency);
    if (other === undefined) return [];
    const ratio = level.acceptsPerSecond / other.acceptsPerSecond;
    return [
      `cost of ${stronger.name}'s guarantee against ${weaker.name} at concurrency ${level.concurrency}: ` +
        `${fixed(ratio, 2)}× the accepts/s (${fixed((1 - ratio) * 100, 1)}% fewer), ` +
        `p99 ${fixed(level.latency.p99Ms, 2)} ms against ${fixed(other.latency.p99Ms, 2)} ms`,
    ];
  });
}

/**
 * Every other target against the first (the reference), and against its peer when that ran too;
 * then what a stronger guarantee costs, for each target that is a weaker variant of another.
 */
function ratios(results: BenchResults): string[] {
  const [reference, ...others] = results.targets;
  if (reference === undefined) return [];
  const named = (name: string | undefined) => results.targets.find((candidate) => candidate.name === name);
  return [
    ...others.flatMap((target) => {
      const peer = named(target.peer);
      return [...ratioLines(target, reference), ...(peer && peer !== reference ? ratioLines(target, peer) : [])];
    }),
    ...others.flatMap((target) => {
      const stronger = named(target.strongerVariant);
      return stronger ? costLines(stronger, target) : [];
    }),
    ...(reference.note ? [`(${reference.name}: ${reference.note})`] : []),
  ];
}

export function textTable(results: BenchResults): string {
  const all = [HEADER, ...rows(results)];
  const widths = HEADER.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column < 1 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows(results).map(line), '', ...ratios(results)].join('\n');
}

export function markdown(results: BenchResults): string {
  const { machine, settings } = results;
  const table = [HEADER, HEADER.map(() => '---'), ...rows(results)].map((row) => `| ${row.join(' | ')} |`);
  const notes = results.targets.filter((t) => t.note).map((t) => `- ${t.name}: ${t.note}`);
  return [
    `# Tally benchmark, ${results.date}${results.quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}; ${machine.freeradius}; ${machine.radclient}; load average ${machine.loadAverageAtStart.toFixed(2)} at the start.`,
    `SQLite stores (Tally's and FreeRADIUS's): ${machine.dataFileSystem}.`,
    `Users: ${settings.users}; ${settings.requestsPerLevel} radclient requests per concurrency.`,
    '',
    ...table,
    '',
    ...ratios(results).map((line) => `${line}  `),
    '',
    '## Targets',
    ...notes,
    '',
    '## How it is measured',
    ...how(settings).map((line) => `- ${line}`),
    '',
  ].join('\n');
}

/** The run's picture: every RADIUS target's accepts/s and p99 at each concurrency. */
export function chart(results: BenchResults): string {
  const { machine } = results;
  const series: ChartSeries[] = results.targets.map((target) => ({
    name: target.name,
    points: target.levels.map((level) => ({
      concurrency: level.concurrency,
      acceptsPerSecond: level.acceptsPerSecond,
      p99Ms: level.latency.p99Ms,
    })),
  }));
  return renderChart({
    title: `TOTP verifications over RADIUS, ${results.date.slice(0, 10)}${results.quick ? ' (quick run)' : ''}`,
    subtitle: `${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadAverageAtStart.toFixed(2)} at the start; ${results.settings.requestsPerLevel} requests per concurrency`,
    series,
  });
}
