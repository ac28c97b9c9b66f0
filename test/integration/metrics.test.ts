import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { buildAdminApp } from '../../src/http/admin/app.js';
import { createLogger } from '../../src/logger.js';
import { PrometheusMetrics } from '../../src/metrics/prometheus.js';
import { type RunningRadius, startRadiusServer } from '../../src/radius/server.js';
import { migrateToLatest, openStore, type StoreErrorKind } from '../../src/store/connect.js';
import { describeEachStore, freshStoreOptions, testDialects } from '../support/store.js';
import { bearer, createTestTally, readyOn, type TestTally } from '../support/tally.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const METRICS_TOKEN = 'metrics-token-0123456789';

/** The value of one sample in exposition text, by its name and labels as written there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describeEachStore('GET /metrics, X-Request-Id and the audit trail', (getStore) => {
  let tally: TestTally;
  let metrics: PrometheusMetrics;
  let radius: RunningRadius;
  let guarded: Awaited<ReturnType<typeof buildAdminApp>>;
  let open: Awaited<ReturnType<typeof buildAdminApp>>;

  before(async () => {
    metrics = new PrometheusMetrics();
    tally = await createTestTally(getStore(), { services: { observer: metrics } });
    metrics.watchQueue(() => tally.services.authentication.waiting);
    const adminOptions = { logger: createLogger('silent'), readiness: readyOn(tally.store, tally.keyring) };
    guarded = await buildAdminApp(tally.services, { ...adminOptions, metrics: { scrape: () => metrics.scrape(), token: METRICS_TOKEN } });
    open = await buildAdminApp(tally.services, {
      ...adminOptions,
      monitor: { observer: metrics, listener: 'admin' },
      metrics: { scrape: () => metrics.scrape() },
    });
    radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
  });
  after(async () => {
    await radius.close();
    await guarded.close();
    await open.close();
    await tally.close();
  });

  const scrape = async () => (await guarded.inject({ url: '/metrics', headers: bearer(METRICS_TOKEN) })).body;

  test('with --metrics-token, /metrics answers 401 without the token or with another, and the text with it', async () => {
    for (const headers of [{}, bearer('wrong-token'), bearer(`${METRICS_TOKEN}x`), { authorization: METRICS_TOKEN }]) {
      const refused = await guarded.inject({ url: '/metrics', headers });
      assert.equal(refused.statusCode, 401);
      assert.equal(refused.json().error.code, 'UNAUTHENTICATED');
      assert.doesNotMatch(refused.body, /tally_/);
    }
    const answer = await guarded.inject({ url: '/metrics', headers: bearer(METRICS_TOKEN) });
    assert.equal(answer.statusCode, 200);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(answer.body, /^# TYPE tally_authentications_total counter$/m);
    assert.match(answer.body, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.match(answer.body, /^tally_authentication_queue_depth 0$/m);
  });

  test('without --metrics-token, /metrics needs no credential; an API token or console session is never asked for', async () => {
    const answer = await open.inject({ url: '/metrics' });
    assert.equal(answer.statusCode, 200);
    assert.match(answer.body, /^# TYPE tally_authentications_total counter$/m);
  });

  test('HTTP responses are counted by listener, route pattern and status class; an unknown URL is not a label', async () => {
    await open.inject({ url: '/no-such-page-4711' });
    await open.inject({ url: '/api/v1/users/someone', headers: bearer(tally.tokens.superadmin) });
    const text = (await open.inject({ url: '/metrics' })).body;
    assert.equal(sample(text, 'tally_http_responses_total{listener="admin",route="unmatched",status_class="4xx"}'), 1);
    assert.equal(sample(text, 'tally_http_responses_total{listener="admin",route="/api/v1/users/:username",status_class="4xx"}'), 1);
    assert.ok((sample(text, 'tally_http_responses_total{listener="admin",route="/metrics",status_class="2xx"}') ?? 0) >= 1);
    assert.doesNotMatch(text, /4711|someone/);
  });

  test('authentications are counted by channel and outcome, with their latency and batch sizes; no username in any label', async () => {
    const verify = (username: string) =>
      tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(tally.tokens.agent),
        payload: { username, passcode: '123456' },
      });
    const answers = await Promise.all([verify('metrics-nobody-1'), verify('metrics-nobody-2'), verify('metrics-nobody-3')]);
    for (const answer of answers) assert.equal(answer.json().result, 'reject');
    const text = await scrape();
    assert.equal(sample(text, 'tally_authentications_total{channel="rest",outcome="reject"}'), 3);
    assert.equal(sample(text, 'tally_authentication_duration_seconds_count{channel="rest"}'), 3);
    assert.ok((sample(text, 'tally_authentication_batch_size_sum') ?? 0) >= 3);
    assert.doesNotMatch(text, /metrics-nobody/);
  });

  test('RADIUS packets dropped unanswered are counted by reason: an unknown client, then a malformed packet from a known one', async () => {
    const socket = dgram.createSocket('udp4');
    const send = (bytes: Buffer) => new Promise<void>((resolve) => socket.send(bytes, radius.port, '127.0.0.1', () => resolve()));
    try {
      await send(Buffer.alloc(20, 1));
      const dropped = (reason: string) => async () => sample(await scrape(), `tally_radius_packets_dropped_total{reason="${reason}"}`);
      assert.equal(await until(dropped('unknown_client')), 1);
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/radius-clients',
        headers: bearer(tally.tokens.superadmin),
        payload: { name: 'metrics-vpn', address: '127.0.0.1', secret: 'metrics-radius-secret' },
      });
      await send(Buffer.from([1, 7, 0, 3]));
      assert.equal(await until(dropped('malformed')), 1);
    } finally {
      socket.close();
    }
  });

  test('a refused CT-KIP request is counted with its stable code', async () => {
    const refused = await tally.public.inject({
      method: 'POST',
      url: '/ctkip/services/CtkipService',
      headers: { 'content-type': 'text/xml' },
      payload: '<not-soap/>',
    });
    assert.equal(refused.statusCode, 200);
    const text = await scrape();
    assert.match(text, /^tally_ctkip_activations_total\{outcome="refused",code="[A-Z_]+"\} 1$/m);
  });

  test('both listeners echo a well-formed X-Request-Id, and replace a bad one with a UUID', async () => {
    for (const app of [tally.admin, tally.public]) {
      const kept = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'lb-7f3a.42' } });
      assert.equal(kept.headers['x-request-id'], 'lb-7f3a.42');
      const replaced = await app.inject({ url: '/healthz', headers: { 'x-request-id': `bad id ${'x'.repeat(200)}` } });
      assert.match(String(replaced.headers['x-request-id']), UUID);
      const generated = await app.inject({ url: '/no-such-page' });
      assert.match(String(generated.headers['x-request-id']), UUID, 'an error answer carries one too');
    }
  });

  test("a REST change's audit event carries its request's id, in the REST output and the CSV export", async () => {
    const created = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { ...bearer(tally.tokens.superadmin), 'x-request-id': 'change-req-0001' },
      payload: { username: 'request-id-user' },
    });
    assert.equal(created.statusCode, 201);
    assert.equal(created.headers['x-request-id'], 'change-req-0001');
    const listed = await tally.admin.inject({
      url: '/api/v1/audit?action=user.create&user=request-id-user',
      headers: bearer(tally.tokens.superadmin),
    });
    const [event] = listed.json().events;
    assert.equal(event.requestId, 'change-req-0001');
    const exported = await tally.admin.inject({
      url: '/api/v1/audit/export?action=user.create&user=request-id-user',
      headers: bearer(tally.tokens.superadmin),
    });
    const [header, row] = exported.body.trim().split(/\r?\n/);
    assert.equal(header?.split(',').at(-1), 'requestId');
    assert.equal(row?.split(',').at(-1), 'change-req-0001');
  });

  test('authentications settled in one batch each record their own request id', async () => {
    const verify = (username: string, id: string) =>
      tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: { ...bearer(tally.tokens.agent), 'x-request-id': id },
        payload: { username, passcode: '654321' },
      });
    await Promise.all([verify('batch-id-a', 'batch-req-a'), verify('batch-id-b', 'batch-req-b')]);
    const listed = await tally.admin.inject({ url: '/api/v1/audit?action=auth.rest&limit=20', headers: bearer(tally.tokens.superadmin) });
    const byTarget = new Map<string, string>(
      listed.json().events.map((event: { target: string; requestId: string }) => [event.target, event.requestId]),
    );
    assert.equal(byTarget.get('batch-id-a'), 'batch-req-a');
    assert.equal(byTarget.get('batch-id-b'), 'batch-req-b');
  });
});

/** Polls `read` until it gives a value (a UDP packet is handled after `send` returns). */
async function until<T>(read: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (value !== undefined || Date.now() > deadline) return value as T;
    await sleep(20);
  }
}

for (const dialect of testDialects()) {
  test(`the store reports each failed statement by kind: a unique key is a constraint, a missing table other [${dialect}]`, async () => {
    const handle = freshStoreOptions(dialect);
    const kinds: StoreErrorKind[] = [];
    const store = await openStore({ ...handle.options, onError: (kind) => kinds.push(kind) });
    try {
      await migrateToLatest(store);
      const row = { username: 'twice', role: 'user', disabled: 0, failed_logons: 0, created_at: 0, updated_at: 0 } as const;
      await store.db.insertInto('users').values(row).execute();
      await assert.rejects(store.db.insertInto('users').values(row).execute());
      await assert.rejects(sql`select * from no_such_table`.execute(store.db));
      assert.deepEqual(kinds, ['constraint', 'other']);
    } finally {
      await store.close();
      await handle.cleanup();
    }
  });
}
