import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { systemActor } from '../../src/domain/actor.js';
import type { RunningServer } from '../../src/server.js';
import { startInProcess } from '../support/node.js';
import { interopTest, runPeer } from '../support/peers.js';
import { papRequest, radclient, received } from '../support/radclient.js';
import { freshStoreOptions } from '../support/store.js';

const METRICS_TOKEN = 'scrape-token-for-the-test';
const RADIUS_SECRET = 'radius-secret-for-metrics';

async function freeTcpPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Polls until `check` returns a value, or fails with the last thing seen once the deadline passes. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(`${what} did not happen in ${seconds} s${last ? `: ${String(last)}` : ''}`);
}

/** The sample alert rules docs/operations.md shows in its Monitoring section. */
function documentedAlertRules(): string {
  const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const section = operations.slice(operations.indexOf('## Monitoring'));
  const rules = /```yaml\n(groups:[\s\S]*?)```/.exec(section)?.[1];
  assert.ok(rules, 'docs/operations.md has a yaml block of alert rules under ## Monitoring');
  return rules;
}

interopTest(
  'a real Prometheus scrapes /metrics with the bearer token and sees the authentications; promtool finds nothing to fix in the text or the documented rules',
  ['prometheus', 'promtool', 'radclient'],
  async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'tally-prometheus-'));
    const handle = freshStoreOptions('sqlite');
    let running: RunningServer | undefined;
    let prometheus: ChildProcess | undefined;
    t.after(async () => {
      if (prometheus?.exitCode === null) {
        prometheus.kill('SIGTERM');
        await once(prometheus, 'exit');
      }
      await running?.close();
      await handle.cleanup();
      rmSync(work, { recursive: true, force: true });
    });
    running = await startInProcess(handle.options, { metricsToken: METRICS_TOKEN, radiusPort: await freeUdpPort() });
    const admin = running.adminAddress;
    const { token } = await running.services.apiTokens.create(systemActor, { name: 'metrics-test', role: 'superadmin' });
    const api = async (path: string, body: unknown) => {
      const response = await fetch(`${admin}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const secret = randomBytes(20);
    assert.equal((await api('/users', { username: 'metered' })).status, 201);
    const pskc = writePskc([{ kind: 'totp', id: 'METER-1', serial: 'METER-1', secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
    assert.equal((await api('/tokens/import', { file: Buffer.from(pskc).toString('base64') })).json.imported, 1);
    assert.equal((await api('/tokens/METER-1/assign', { username: 'metered' })).json.state, 'active');
    assert.equal((await api('/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET })).status, 201);

    // One accept and two rejects over REST, one reject over RADIUS.
    const code = totp({ secret, digits: 6 }, Math.floor(Date.now() / 1000));
    assert.equal((await api('/auth/verify', { username: 'metered', passcode: code })).json.result, 'accept');
    for (const username of ['nobody-1', 'nobody-2'])
      assert.equal((await api('/auth/verify', { username, passcode: '123456' })).json.result, 'reject');
    const radius = await radclient(running.radiusPort ?? 0, RADIUS_SECRET, papRequest('nobody-3', '123456', { expect: 'Access-Reject' }));
    received(radius, 'Access-Reject');

    const prometheusPort = await freeTcpPort();
    writeFileSync(
      join(work, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: tally',
        '    scrape_interval: 1s',
        '    authorization:',
        `      credentials: ${METRICS_TOKEN}`,
        '    static_configs:',
        `      - targets: ['${new URL(admin).host}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(work, 'data')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      { stdio: 'ignore' },
    );
    const query = async (expression: string) => {
      const response = await fetch(`http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent(expression)}`);
      const body = (await response.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      return body.data.result;
    };
    const samples = await eventually('Prometheus seeing the authentications', async () => {
      const result = await query('tally_authentications_total');
      const byLabels = Object.fromEntries(result.map(({ metric, value }) => [`${metric.channel}/${metric.outcome}`, value[1]]));
      return byLabels['radius/reject'] === undefined ? undefined : byLabels;
    });
    assert.deepEqual(samples, { 'rest/accept': '1', 'rest/reject': '2', 'radius/reject': '1' });
    const up = await query('up{job="tally"}');
    assert.equal(up[0]?.value[1], '1', 'the scrape with the token succeeds');

    const text = await (await fetch(`${admin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    assert.equal(runPeer('promtool', ['check', 'metrics'], { input: text }).trim(), '');
    writeFileSync(join(work, 'rules.yml'), documentedAlertRules());
    assert.match(runPeer('promtool', ['check', 'rules', join(work, 'rules.yml')]), /SUCCESS/);
  },
);
