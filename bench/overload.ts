import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { percentile } from './latency.js';
import type { TallyServer } from './tally.js';
import { currentStep, tokencode, type UserLedger } from './users.js';

/** The listener's bound in the overload run: low, so that the flood is far beyond it. */
export const OVERLOAD_MAX_IN_FLIGHT = 64;
/** Each outstanding request is sent again as soon as it is answered, this many times over. */
const ROUNDS = 3;

export interface OverloadResult {
  store: string;
  /** Requests outstanding at once, against a listener bound to `maxInFlight`. */
  outstanding: number;
  maxInFlight: number;
  sent: number;
  /** 200 with a decision: an accept, or a reject where a code sent near a step's end arrived too late. */
  answered: number;
  accepted: number;
  /** 503 OVERLOADED, refused before the body was read. */
  shed: number;
  /** 429 RATE_LIMITED: taken, then refused by the full authentication queue. */
  queueFull: number;
  /** Anything else: other statuses, resets, timeouts. */
  failed: number;
  seconds: number;
  /** Accepts per second over the flood. */
  goodput: number;
  healthz: { requests: number; p50Ms: number; p99Ms: number; maxMs: number; failed: number };
  /** The server's resident memory (VmRSS) before the flood, its peak, and 2 s after the flood. */
  rssMiB: { before: number; peak: number; after: number };
}

function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** One GET /healthz on a connection of its own (not queued behind the flood's), timed. */
function probeHealthz(url: string): Promise<{ ms: number; ok: boolean }> {
  const start = performance.now();
  return new Promise((resolve) => {
    const request = get(`${url}/healthz`, { agent: false, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve({ ms: performance.now() - start, ok: response.statusCode === 200 }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve({ ms: performance.now() - start, ok: false }));
  });
}

/**
 * REST verifications far beyond capacity: `outstanding` requests at once (each answered one sent
 * again at once, ignoring Retry-After, for ROUNDS × outstanding in all) against a Tally started
 * with `--max-requests-in-flight OVERLOAD_MAX_IN_FLIGHT`, while /healthz is probed one request at
 * a time and the server's memory is sampled.
 */
export async function overloadLoad(server: TallyServer, store: string, ledger: UserLedger, outstanding: number): Promise<OverloadResult> {
  const pid = server.pids[0]!;
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  const total = outstanding * ROUNDS;
  const counts = { sent: 0, answered: 0, accepted: 0, shed: 0, queueFull: 0, failed: 0 };
  let flooding = true;
  const healthz: Array<{ ms: number; ok: boolean }> = [];
  const prober = (async () => {
    while (flooding) healthz.push(await probeHealthz(server.adminUrl));
  })();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: outstanding }, async () => {
      while (counts.sent < total) {
        counts.sent++;
        const now = Date.now() / 1000;
        const [user] = ledger.take(1, currentStep(now));
        if (!user) throw new Error('The overload run needs a user per request in one step: give it more users.');
        try {
          const response = await fetch(`${server.adminUrl}/api/v1/auth/verify`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.agentToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ username: user.username, passcode: tokencode(user, now) }),
          });
          const body = (await response.json()) as { result?: string; error?: { code?: string } };
          if (response.status === 200) {
            counts.answered++;
            if (body.result === 'accept') counts.accepted++;
          } else if (response.status === 503 && body.error?.code === 'OVERLOADED') counts.shed++;
          else if (response.status === 429) counts.queueFull++;
          else counts.failed++;
        } catch {
          counts.failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  flooding = false;
  await prober;
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  clearInterval(sampler);
  const after = rssMiB(pid);
  const times = healthz.map((h) => h.ms).sort((a, b) => a - b);
  return {
    store,
    outstanding,
    maxInFlight: OVERLOAD_MAX_IN_FLIGHT,
    ...counts,
    seconds,
    goodput: counts.accepted / seconds,
    healthz: {
      requests: healthz.length,
      p50Ms: percentile(times, 50),
      p99Ms: percentile(times, 99),
      maxMs: times.at(-1) ?? Number.NaN,
      failed: healthz.filter((h) => !h.ok).length,
    },
    rssMiB: { before, peak: Math.max(peak, after), after },
  };
}

export const OVERLOAD_NOTE =
  `Each of the outstanding clients sends a verification (a fresh code of a user of its own), and when answered sends the next at once, ignoring Retry-After, until ${ROUNDS} × outstanding were sent. ` +
  'shed: 503 OVERLOADED before the body was read; queue full: 429 from the authentication queue; goodput: accepts per second of the flood. ' +
  '/healthz is probed one request at a time, each on a new connection, from the same client process (its event loop is busy with the flood too, so these times are upper bounds). ' +
  "RSS: the server's VmRSS from /proc, sampled every 20 ms; after: 2 s after the flood.";

export function overloadTable(results: readonly OverloadResult[]): string {
  const mib = (value: number) => value.toFixed(0);
  const rows = results.map(
    (r) =>
      `| ${r.store} | ${r.outstanding} | ${r.maxInFlight} | ${r.sent} | ${r.answered} (${r.accepted}) | ${r.shed} | ${r.queueFull} | ${r.failed} | ${r.goodput.toFixed(0)} | ` +
      `${r.healthz.requests} (${r.healthz.failed} failed) | ${r.healthz.p50Ms.toFixed(1)} / ${r.healthz.p99Ms.toFixed(1)} | ${mib(r.rssMiB.before)} / ${mib(r.rssMiB.peak)} / ${mib(r.rssMiB.after)} |`,
  );
  return [
    '| store | outstanding | max in flight | sent | answered 200 (accepts) | shed (503) | queue full (429) | failed | goodput accepts/s | /healthz probes | /healthz p50 / p99 ms | RSS MiB before / peak / after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
