import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SqliteSynchronous } from '../src/model/vocabulary.js';
import { ctkipLoad, restVerifyLoad } from './http-loads.js';
import { runRadclientLoad } from './radclient-load.js';
import { startTally } from './tally.js';
import { benchUsers, UserLedger } from './users.js';

const LOADS = ['radius', 'rest', 'ctkip'] as const;
type Load = (typeof LOADS)[number];

const USAGE = `Usage: npm run bench:profile -- [--load radius|rest|ctkip] [--store sqlite|postgres] [--sqlite-synchronous full|normal] [--concurrency N] [--requests N]
  Runs Tally under load (radclient, REST verifications or CT-KIP activations) with node --cpu-prof and prints where its CPU went.`;

/** A V8 CPU profile, as node --cpu-prof writes it (the fields read here). */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  /** Microseconds of the monotonic clock `process.hrtime` reads too (on Linux). */
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds from the previous sample (the first: from startTime). */
  timeDeltas: number[];
}

/** Microseconds of the monotonic clock, as a profile's timestamps are. */
function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Where a function's code is, in a few words: the package, Node itself, or Tally's file. */
function place(url: string): string {
  if (url === '') return '(V8 and native)';
  if (url.startsWith('node:')) return 'node: (Node itself)';
  const module = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (module) return module[1]!;
  const own = url.match(/\/(src\/.*)$/);
  return own ? own[1]! : url;
}

function share(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1).padStart(5)}%`;
}

/**
 * The self time of every function and every place, largest first, as text: the samples taken
 * between `from` and `to` (the load, not the server's start-up), the idle ones left out.
 */
function summarise(profile: CpuProfile, from: number, to: number, top = 25): string {
  const hits = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    at += profile.timeDeltas[index] ?? 0;
    if (at >= from && at <= to) hits.set(id, (hits.get(id) ?? 0) + 1);
  });
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  let idle = 0;
  for (const [id, count] of hits) {
    if (nodes.get(id)?.callFrame.functionName === '(idle)') {
      idle += count;
      hits.delete(id);
    }
  }
  const total = [...hits.values()].reduce((sum, count) => sum + count, 0);
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const [id, count] of hits) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const where = place(url);
    const name = `${functionName || '(anonymous)'}  ${where}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + count);
    byPlace.set(where, (byPlace.get(where) ?? 0) + count);
  }
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, count]) => `${share(count, total)}  ${name}`);
  return [
    `${total} busy samples (and ${idle} idle) over the ${((to - from) / 1e6).toFixed(1)} s of the load`,
    '',
    'Self time by place:',
    ...rows(byPlace),
    '',
    'Self time by function:',
    ...rows(byFunction),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      load: { type: 'string', default: 'radius' },
      store: { type: 'string', default: 'sqlite' },
      'sqlite-synchronous': { type: 'string', default: 'full' },
      concurrency: { type: 'string', default: '1' },
      requests: { type: 'string', default: '3000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const store = values.store;
  const synchronous = values['sqlite-synchronous'];
  const loadName = values.load as Load;
  if ((store !== 'sqlite' && store !== 'postgres') || (synchronous !== 'full' && synchronous !== 'normal') || !LOADS.includes(loadName))
    throw new Error(USAGE);
  const concurrency = Number(values.concurrency);
  const requests = Number(values.requests);
  const profiles = mkdtempSync(join(tmpdir(), 'tally-bench-profile-'));
  const previous = process.env.TALLY_BENCH_NODE_ARGS;
  process.env.TALLY_BENCH_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profiles}`;
  // Enough users that no request waits for a new TOTP step.
  const users = benchUsers(requests + 500);
  // As in the benchmark: every activation comes from one address, so its limit is raised above the load.
  const server = await startTally(store, users, loadName === 'ctkip' ? requests : 0, synchronous as SqliteSynchronous, [
    '--ctkip-rate-limit',
    '100000',
  ]);
  if (previous === undefined) delete process.env.TALLY_BENCH_NODE_ARGS;
  else process.env.TALLY_BENCH_NODE_ARGS = previous;
  let summary: string;
  const from = monotonicMicros();
  let to = from;
  try {
    const ledger = new UserLedger(users);
    if (loadName === 'radius') {
      const load = await runRadclientLoad({ server, ledger, requests, concurrency });
      summary =
        `${load.radclient.accepted + load.latency.accepted} accepts of ${load.radclient.requests + load.latency.requests}, ` +
        `${load.acceptsPerSecond.toFixed(0)}/s, ${load.serverCpuMicrosPerRequest.toFixed(0)} µs server CPU per request, ` +
        `p50 ${load.latency.p50Ms.toFixed(2)} ms, p99 ${load.latency.p99Ms.toFixed(2)} ms`;
    } else {
      const load =
        loadName === 'rest'
          ? await restVerifyLoad(server, store, ledger, concurrency, requests)
          : await ctkipLoad(server, store, server.activationCodes, concurrency);
      summary =
        `${load.succeeded} of ${load.operations} succeeded, ${load.perSecond.toFixed(0)}/s, ${load.serverCpuUsPerOp.toFixed(0)} µs server CPU per operation, ` +
        `p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms`;
    }
    to = monotonicMicros();
  } finally {
    // The profile is written when the server exits (SIGTERM ends it cleanly).
    await server.stop().catch(() => {});
  }
  const file = readdirSync(profiles).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`tally serve wrote no profile in ${profiles}`);
  const results = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(results, { recursive: true });
  const kept = join(
    results,
    `profile-${loadName}-${store}${store === 'sqlite' ? `-${synchronous}` : ''}-c${concurrency}-${Date.now()}.cpuprofile`,
  );
  renameSync(join(profiles, file), kept);
  rmSync(profiles, { recursive: true, force: true });
  console.log(
    `${loadName} on ${store}${store === 'sqlite' ? ` (synchronous ${synchronous})` : ''}, concurrency ${concurrency}: ${summary}\n`,
  );
  console.log(summarise(JSON.parse(readFileSync(kept, 'utf8')) as CpuProfile, from, to));
  console.log(`\nProfile (the whole server's life, start-up included; open it in Chrome's DevTools): ${relative(process.cwd(), kept)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
