import { randomBytes } from 'node:crypto';
import { clientFinish, clientHello, clientNonce } from '../src/core/ctkip/exchange.js';
import {
  buildClientRequest,
  DEFAULT_CLIENT_PROVISIONING_DATA,
  parseServerFinished,
  parseServerHello,
  parseServerProvisioningData,
  parseServerResponse,
} from '../src/core/ctkip/messages.js';
import { percentile } from './latency.js';
import { treeCpuSeconds } from './proc.js';
import type { BenchResults } from './report.js';
import type { TallyServer } from './tally.js';
import { currentStep, nextStep, tokencode, type UserLedger } from './users.js';

export interface HttpLoadResult {
  what: 'rest-verify' | 'ctkip-activation';
  dialect: string;
  concurrency: number;
  operations: number;
  succeeded: number;
  perSecond: number;
  serverCpuUsPerOp: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `operation` from `concurrency` workers until `total` have run; returns what each took. */
async function drive(
  concurrency: number,
  total: number,
  operation: () => Promise<boolean>,
): Promise<{ times: number[]; ok: number; wallSeconds: number }> {
  const times: number[] = [];
  let started = 0;
  let ok = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        const t0 = performance.now();
        if (await operation()) ok++;
        times.push(performance.now() - t0);
      }
    }),
  );
  return { times: times.sort((a, b) => a - b), ok, wallSeconds: (performance.now() - begin) / 1000 };
}

function summarise(
  what: HttpLoadResult['what'],
  dialect: string,
  concurrency: number,
  run: { times: number[]; ok: number; wallSeconds: number },
  cpuSeconds: number,
): HttpLoadResult {
  return {
    what,
    dialect,
    concurrency,
    operations: run.times.length,
    succeeded: run.ok,
    perSecond: run.ok / run.wallSeconds,
    serverCpuUsPerOp: (cpuSeconds * 1e6) / run.times.length,
    p50Ms: percentile(run.times, 50),
    p99Ms: percentile(run.times, 99),
  };
}

/**
 * REST verifications: POST /api/v1/auth/verify with an agent token, each from a user not yet used
 * in its 30 s step (so each is a real accept), over keep-alive connections.
 */
export async function restVerifyLoad(
  server: TallyServer,
  dialect: string,
  ledger: UserLedger,
  concurrency: number,
  total: number,
): Promise<HttpLoadResult> {
  const cpuBefore = treeCpuSeconds(server.pids);
  const run = await drive(concurrency, total, async () => {
    let now = Date.now() / 1000;
    let [user] = ledger.take(1, currentStep(now));
    if (!user) {
      await nextStep();
      now = Date.now() / 1000;
      [user] = ledger.take(1, currentStep(now));
    }
    if (!user) throw new Error('A new step hands every user out again, so one must be free.');
    const response = await fetch(`${server.adminUrl}/api/v1/auth/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.agentToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: user.username, passcode: tokencode(user, now) }),
    });
    return ((await response.json()) as { result: string }).result === 'accept';
  });
  return summarise('rest-verify', dialect, concurrency, run, treeCpuSeconds(server.pids) - cpuBefore);
}

async function post(url: string, code: string, inner: string, action: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: code, soapaction: action, 'content-type': 'application/vnd.otps.ct-kip' },
    body: buildClientRequest({ authData: code, provisioningData: DEFAULT_CLIENT_PROVISIONING_DATA, request: inner }),
  });
  return response.text();
}

/** CT-KIP activations end to end over HTTP: ClientHello, ServerHello, ClientNonce (RSA-OAEP), ServerFinished, MAC checked. */
export async function ctkipLoad(server: TallyServer, dialect: string, codes: string[], concurrency: number): Promise<HttpLoadResult> {
  const url = `${server.publicUrl}/ctkip/services/CtkipService`;
  const queue = [...codes];
  const cpuBefore = treeCpuSeconds(server.pids);
  const run = await drive(concurrency, codes.length, async () => {
    const code = queue.pop() as string;
    const hello = parseServerHello(parseServerResponse(await post(url, code, clientHello(), 'StartService')).response);
    const { requestXml, session } = clientNonce({ hello, clientNonce: randomBytes(16) });
    const finished = parseServerResponse(await post(url, code, requestXml, 'ServerFinished'));
    clientFinish({ session, message: parseServerFinished(finished.response), pin: parseServerProvisioningData(finished.provisioningData) });
    return true;
  });
  return summarise('ctkip-activation', dialect, concurrency, run, treeCpuSeconds(server.pids) - cpuBefore);
}

export function httpTable(results: HttpLoadResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.what} | ${r.dialect} | ${r.concurrency} | ${r.operations} | ${r.succeeded} | ${r.perSecond.toFixed(0)} | ${r.serverCpuUsPerOp.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`,
  );
  return [
    '| load | store | conc. | operations | succeeded | per second | server µs CPU/op | p50 ms | p99 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/**
 * Issue #20's two HTTP targets, from figures of one run: REST verify's server CPU per request
 * against a RADIUS accept's on the same store's Tally (target: at most 2×), and CT-KIP's
 * activations per second (target: at least 500).
 */
export function restAgainstRadius(results: BenchResults, http: readonly HttpLoadResult[]): string[] {
  const rest = http
    .filter((r) => r.what === 'rest-verify')
    .flatMap((r) => {
      const radius = results.targets.find((t) => t.name === `tally-${r.dialect}`)?.levels.find((l) => l.concurrency === r.concurrency);
      if (radius === undefined) return [];
      const ratio = r.serverCpuUsPerOp / radius.serverCpuMicrosPerRequest;
      return [
        `REST verify / RADIUS accept on tally-${r.dialect} at concurrency ${r.concurrency}: ${ratio.toFixed(2)}× the server CPU per request ` +
          `(${r.serverCpuUsPerOp.toFixed(0)} against ${radius.serverCpuMicrosPerRequest.toFixed(0)} µs; target at most 2×)`,
      ];
    });
  const ctkip = http
    .filter((r) => r.what === 'ctkip-activation')
    .map(
      (r) =>
        `CT-KIP on ${r.dialect} at ${r.concurrency} clients: ${r.perSecond.toFixed(0)} complete activations/s (target at least 500), ` +
        `${r.serverCpuUsPerOp.toFixed(0)} µs server CPU per activation`,
    );
  return [...rest, ...ctkip];
}
