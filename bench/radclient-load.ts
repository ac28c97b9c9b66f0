import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LatencyProbe, type LatencyResult } from './latency.js';
import { machineBusySeconds, ownCpuSeconds, reapedChildrenCpuSeconds, treeCpuSeconds } from './proc.js';
import type { RadiusServer } from './targets.js';
import { currentStep, type Passcode, startBatch, tokencode, type UserLedger } from './users.js';

/**
 * radclient 3.2 walks its whole request list on every send pass, and puts every `-f` file into
 * that one list (running `-p` requests from each file at once), so one run over many requests
 * is quadratic. Runs of one file of this many requests each keep the walk short.
 */
export const REQUESTS_PER_FILE = 1000;

/** A guess for the first run's duration, before any rate is known: slow enough to be safe. */
const INITIAL_RATE = 500;
/**
 * The latency probe pauses between its requests so that it adds about this share to the load
 * (less when replies are slow): enough samples for a p99, little enough not to change the load.
 */
const PROBE_SHARE = 0.05;
/** A run that takes longer than this has hung; radclient's own timeouts should end it well before. */
const RUN_TIMEOUT_MS = 120_000;

/**
 * radclient loads its main dictionary at every start: with the stock one (every vendor) a start
 * took ~24 ms on the 2-core bench machine, with this one ~4 ms, while a run of 1,000 requests at
 * 64 outstanding lasts ~50 ms. It holds what radclient and these requests use.
 */
const DICTIONARY = [
  '$INCLUDE /usr/share/freeradius/dictionary.freeradius.internal',
  '$INCLUDE /usr/share/freeradius/dictionary.rfc2865',
  '$INCLUDE /usr/share/freeradius/dictionary.rfc2869',
  '',
].join('\n');

export interface LoadOptions {
  server: Pick<RadiusServer, 'host' | 'port' | 'secret' | 'pids'>;
  ledger: UserLedger;
  requests: number;
  /** Requests outstanding at once (radclient `-p`). */
  concurrency: number;
  passcode?: Passcode;
}

export interface LoadResult {
  concurrency: number;
  radclient: {
    requests: number;
    accepted: number;
    rejected: number;
    lost: number;
    runs: number;
    /** radclient's own CPU as a share of one core while it ran. */
    cpuShare: number;
  };
  /** The probe's requests, sent one at a time during the radclient runs. */
  latency: LatencyResult;
  /** Sum of the radclient runs' wall times, from spawn to exit; waits for a new step fall outside. */
  seconds: number;
  /** Accepts, radclient's and the probe's, per second of `seconds`. */
  acceptsPerSecond: number;
  /** Server CPU (user + system, all its processes) over the whole load, per request sent (radclient's and the probe's). */
  serverCpuMicrosPerRequest: number;
  /**
   * Cores busy with anything else while radclient ran (other processes on the machine, the
   * kernel): a busy machine makes every figure above worse.
   */
  otherCpuCores: number;
  /** Times a radclient run waited for a new TOTP step. */
  stepWaits: number;
  /** Runs that ended in a later step than their codes were for (their late requests are rejected). */
  runsCrossingSteps: number;
}

interface Summary {
  accepted: number;
  rejected: number;
  lost: number;
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The `-s` summary radclient prints whatever the replies were. */
function parseSummary(stdout: string): Summary | undefined {
  const count = (label: string) => stdout.match(new RegExp(`${label}\\s*:\\s*(\\d+)`))?.[1];
  const [accepted, rejected, lost] = ['Accepted', 'Rejected', 'Lost'].map(count);
  if (accepted === undefined || rejected === undefined || lost === undefined) return undefined;
  return { accepted: Number(accepted), rejected: Number(rejected), lost: Number(lost) };
}

async function radclient(args: string[]): Promise<{ summary: Summary; seconds: number }> {
  const started = process.hrtime.bigint();
  const child = spawn('radclient', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  // Each reject that was not the expected Accept prints a line here; only the tail is worth keeping.
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  let code: number | null;
  let signal: string | null;
  try {
    [code, signal] = (await Promise.race([once(child, 'close'), once(child, 'error').then(([e]) => Promise.reject(e))])) as [
      number | null,
      string | null,
    ];
  } finally {
    clearTimeout(timer);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = parseSummary(stdout);
  if (summary === undefined) {
    throw new Error(`radclient ${args.join(' ')} ended (${signal ?? code}) without a summary:\n${stderr.trim()}`);
  }
  return { summary, seconds };
}

/**
 * Sends `requests` Access-Requests with radclient, each from a different user than any other in
 * its TOTP step, with at most `concurrency` outstanding, while a LatencyProbe times single
 * requests queued behind that load. Codes are computed just before each run of one file, and a
 * run starts only if it should end inside the step of its codes.
 */
export async function runRadclientLoad(options: LoadOptions): Promise<LoadResult> {
  const { server, ledger, requests, concurrency } = options;
  const passcode = options.passcode ?? tokencode;
  const dir = mkdtempSync(join(tmpdir(), 'tally-bench-radclient-'));
  const probe = await LatencyProbe.open(server, ledger, passcode);
  try {
    writeFileSync(join(dir, 'dictionary'), DICTIONARY);
    writeFileSync(join(dir, 'secret'), server.secret, { mode: 0o600 });
    const fixedArgs = ['-D', dir, '-d', dir, '-S', join(dir, 'secret'), '-q', '-s', '-p', String(concurrency), '-r', '1', '-t', '2'];
    const sent = { requests: 0, accepted: 0, rejected: 0, lost: 0, runs: 0, cpuShare: 0 };
    let seconds = 0;
    let stepWaits = 0;
    let runsCrossingSteps = 0;
    let rate = INITIAL_RATE;
    let busyDuringRuns = 0;
    const serverCpuBefore = treeCpuSeconds(server.pids);
    const clientCpuBefore = reapedChildrenCpuSeconds();
    // Each pass sends at least one request, so the loop ends.
    while (sent.requests < requests) {
      const size = Math.min(REQUESTS_PER_FILE, requests - sent.requests);
      const batch = await startBatch(ledger, size, size / rate);
      stepWaits += batch.waits;
      const file = join(dir, 'requests');
      writeFileSync(
        file,
        batch.users
          .map(
            (user) =>
              `User-Name = ${quoted(user.username)}\nUser-Password = ${quoted(passcode(user, batch.unixSeconds))}\nMessage-Authenticator = 0x00\n`,
          )
          .join('\n'),
      );
      const busyBefore = machineBusySeconds() - ownCpuSeconds();
      probe.start(1000 / (rate * PROBE_SHARE));
      const run = await radclient([...fixedArgs, '-f', file, `${server.host}:${server.port}`, 'auth']).finally(() => probe.stop());
      busyDuringRuns += machineBusySeconds() - ownCpuSeconds() - busyBefore;
      if (currentStep() !== currentStep(batch.unixSeconds)) runsCrossingSteps++;
      sent.requests += batch.users.length;
      sent.accepted += run.summary.accepted;
      sent.rejected += run.summary.rejected;
      sent.lost += run.summary.lost;
      sent.runs++;
      seconds += run.seconds;
      rate = batch.users.length / run.seconds;
    }
    const serverCpu = treeCpuSeconds(server.pids) - serverCpuBefore;
    const radclientCpu = reapedChildrenCpuSeconds() - clientCpuBefore;
    sent.cpuShare = radclientCpu / seconds;
    const latency = probe.result();
    return {
      concurrency,
      radclient: sent,
      latency,
      seconds,
      acceptsPerSecond: (sent.accepted + latency.accepted) / seconds,
      serverCpuMicrosPerRequest: (serverCpu * 1e6) / (sent.requests + latency.requests),
      // The server is idle between runs, so its CPU over the whole load is its CPU during the runs.
      otherCpuCores: Math.max(0, busyDuringRuns - serverCpu - radclientCpu) / seconds,
      stepWaits,
      runsCrossingSteps,
    };
  } finally {
    probe.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
