import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ctkipLoad, type HttpLoadResult, httpTable, restAgainstRadius, restVerifyLoad } from './http-loads.js';
import { OVERLOAD_MAX_IN_FLIGHT, OVERLOAD_NOTE, type OverloadResult, overloadLoad, overloadTable } from './overload.js';
import { REQUESTS_PER_FILE, runRadclientLoad } from './radclient-load.js';
import { type BenchResults, chart, machineFacts, markdown, type TargetResult, textTable } from './report.js';
import { startTally } from './tally.js';
import { type RadiusServer, type RadiusTarget, radiusTargets } from './targets.js';
import { benchUsers, UserLedger } from './users.js';

const CONCURRENCIES = [1, 16, 64];

/**
 * Full: each user sends at most one code per 30 s step, so at concurrency 16 and 64 the 40,000
 * requests wait for a new step once or twice; they give the latency probe a few hundred samples
 * even at 64. Quick: enough users (probe included) that nothing waits for a new step.
 */
const SIZES = {
  full: { users: 20_000, requestsPerLevel: 40_000, restPerLevel: 5_000, activationsPerLevel: 1_000, overloadOutstanding: 4_000 },
  quick: { users: 7_000, requestsPerLevel: 2_000, restPerLevel: 1_000, activationsPerLevel: 64, overloadOutstanding: 1_000 },
};

const USAGE = `Usage: npm run bench -- [--quick] [--requests N] [--only NAME]...
  --quick       fewer requests, for a smoke test
  --requests N  RADIUS requests per target and concurrency (full: ${SIZES.full.requestsPerLevel}), for a shorter run on a busy machine
  --only NAME   run only this target (repeatable); targets: ${radiusTargets.map((t) => t.name).join(', ')}
  --users N     users (each with a TOTP token) on every target (full: ${SIZES.full.users}); at a million, pair it with --only tally-...
  --radius-only skip the REST, CT-KIP and overload runs`;

function options(): {
  quick: boolean;
  requests: number | undefined;
  users: number | undefined;
  radiusOnly: boolean;
  targets: RadiusTarget[];
} {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      requests: { type: 'string' },
      only: { type: 'string', multiple: true },
      users: { type: 'string' },
      'radius-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const only = values.only ?? [];
  const unknown = only.filter((name) => !radiusTargets.some((t) => t.name === name));
  if (unknown.length > 0) throw new Error(`Unknown target ${unknown.join(', ')}.\n${USAGE}`);
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  if (requests !== undefined && !(Number.isInteger(requests) && requests >= 100))
    throw new Error(`--requests takes a whole number of at least 100.\n${USAGE}`);
  const users = values.users === undefined ? undefined : Number(values.users);
  if (users !== undefined && !(Number.isInteger(users) && users >= 1000 && users <= 10_000_000))
    throw new Error(`--users takes a whole number from 1000 to 10000000.\n${USAGE}`);
  return {
    quick: values.quick ?? false,
    requests,
    users,
    radiusOnly: values['radius-only'] ?? false,
    targets: only.length === 0 ? radiusTargets : radiusTargets.filter((t) => only.includes(t.name)),
  };
}

/** The server running now, so that Ctrl-C stops it too. */
let running: RadiusServer | undefined;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping`);
    void (running?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

function progress(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function benchTarget(target: RadiusTarget, size: (typeof SIZES)['full']): Promise<TargetResult> {
  const users = benchUsers(size.users);
  progress(`${target.name}: starting with ${users.length} users`);
  const server = await target.start(users);
  running = server;
  try {
    const ledger = new UserLedger(users);
    const result: TargetResult = {
      name: target.name,
      ...(target.note ? { note: target.note } : {}),
      ...(target.peer ? { peer: target.peer } : {}),
      ...(target.strongerVariant ? { strongerVariant: target.strongerVariant } : {}),
      levels: [],
    };
    for (const concurrency of CONCURRENCIES) {
      progress(`${target.name}: ${size.requestsPerLevel} radclient requests at concurrency ${concurrency}`);
      result.levels.push(await runRadclientLoad({ server, ledger, requests: size.requestsPerLevel, concurrency }));
    }
    return result;
  } finally {
    running = undefined;
    await server.stop();
  }
}

/**
 * REST verifications (distinct users, real accepts) and CT-KIP activations end to end over HTTP
 * (each a fresh activation code), at each concurrency, on one Tally per store.
 */
async function benchHttp(dialect: 'sqlite' | 'postgres', size: (typeof SIZES)['full']): Promise<HttpLoadResult[]> {
  const users = benchUsers(size.users);
  const activations = size.activationsPerLevel * CONCURRENCIES.length;
  progress(`tally-${dialect}: REST and CT-KIP over HTTP (${activations} tokens to activate)`);
  // Every activation comes from 127.0.0.1, where real clients come from addresses of their own: the
  // per-address limit (120 a minute by default) is raised above the load, and still counted.
  const server = await startTally(dialect, users, activations, 'full', ['--ctkip-rate-limit', '100000']);
  running = server;
  try {
    const ledger = new UserLedger(users);
    const results: HttpLoadResult[] = [];
    for (const concurrency of CONCURRENCIES) {
      progress(`tally-${dialect}: ${size.restPerLevel} REST verifications at concurrency ${concurrency}`);
      results.push(await restVerifyLoad(server, dialect, ledger, concurrency, size.restPerLevel));
    }
    for (const [level, concurrency] of CONCURRENCIES.entries()) {
      progress(`tally-${dialect}: ${size.activationsPerLevel} CT-KIP activations at concurrency ${concurrency}`);
      const codes = server.activationCodes.slice(level * size.activationsPerLevel, (level + 1) * size.activationsPerLevel);
      results.push(await ctkipLoad(server, dialect, codes, concurrency));
    }
    return results;
  } finally {
    running = undefined;
    await server.stop();
  }
}

/** REST verifications far beyond what the server answers, against a low --max-requests-in-flight. */
async function benchOverload(dialect: 'sqlite' | 'postgres', size: (typeof SIZES)['full']): Promise<OverloadResult> {
  const users = benchUsers(size.users);
  progress(
    `tally-${dialect}: overload, ${size.overloadOutstanding} REST requests outstanding against --max-requests-in-flight ${OVERLOAD_MAX_IN_FLIGHT}`,
  );
  const server = await startTally(dialect, users, 0, 'full', ['--max-requests-in-flight', String(OVERLOAD_MAX_IN_FLIGHT)]);
  running = server;
  try {
    return await overloadLoad(server, dialect, new UserLedger(users), size.overloadOutstanding);
  } finally {
    running = undefined;
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { quick, requests, users, radiusOnly, targets } = options();
  const size = {
    ...(quick ? SIZES.quick : SIZES.full),
    ...(requests === undefined ? {} : { requestsPerLevel: requests }),
    ...(users === undefined ? {} : { users }),
  };
  const started = new Date();
  const results: BenchResults = {
    date: started.toISOString(),
    quick,
    machine: machineFacts(),
    settings: { ...size, requestsPerRadclientRun: REQUESTS_PER_FILE },
    targets: [],
  };
  if (results.machine.loadAverageAtStart > 0.5) {
    progress(
      `the load average is ${results.machine.loadAverageAtStart.toFixed(2)}: something else is running, and the figures will be low`,
    );
  }
  progress(`SQLite stores: ${results.machine.dataFileSystem}`);
  if (/^\S+ on tmpfs /.test(results.machine.dataFileSystem)) {
    progress('the SQLite stores are on a memory file system, where fsync costs nothing: durable commits are not measured');
  }
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}`);
  const http: HttpLoadResult[] = [];
  const overload: OverloadResult[] = [];
  /** Written after every part, so a run that fails late keeps what it measured before. */
  const save = (): void => {
    const httpSection = http.length
      ? `\n## REST verifications and CT-KIP activations over HTTP\n\n${httpTable(http)}\n\nREST: POST /api/v1/auth/verify with an agent token, every request a distinct user's real accept (replay state and audit written). CT-KIP: both passes over HTTP with RSA-OAEP and the MAC checked by the client. server µs CPU/op: the Tally process (and PostgreSQL's backends) from /proc. No open-source peer offers these over the same protocol, so they are reported as absolute figures.\n\n${restAgainstRadius(
          results,
          http,
        )
          .map((line) => `${line}  `)
          .join('\n')}\n`
      : '';
    const overloadSection = overload.length
      ? `\n## Overload: REST verifications far beyond capacity\n\n${overloadTable(overload)}\n\n${OVERLOAD_NOTE}\n`
      : '';
    writeFileSync(`${base}.json`, `${JSON.stringify({ ...results, http, overload }, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdown(results) + httpSection + overloadSection);
    writeFileSync(`${base}.svg`, chart(results));
  };
  for (const target of targets) {
    results.targets.push(await benchTarget(target, size));
    save();
  }
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (!radiusOnly && targets.some((t) => t.name === `tally-${dialect}`)) {
      http.push(...(await benchHttp(dialect, size)));
      save();
      overload.push(await benchOverload(dialect, size));
      save();
    }
  }
  console.log(textTable(results));
  if (http.length) console.log(`\n${httpTable(http)}\n\n${restAgainstRadius(results, http).join('\n')}`);
  if (overload.length) console.log(`\n${overloadTable(overload)}`);
  console.log(`\nResults: ${relative(process.cwd(), base)}.json, .md and .svg (the chart)`);
  const short = results.targets.filter((t) =>
    t.levels.some((l) => l.radclient.accepted !== l.radclient.requests || l.latency.accepted !== l.latency.requests),
  );
  if (short.length > 0) {
    console.error(
      `Not every request was accepted by ${short.map((t) => t.name).join(', ')}: only accepts count in accepts/s (see the table's accepts column).`,
    );
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
