import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { failoverPool } from '../../src/store/failover-pool.js';
import { parsePostgresAddress } from '../../src/store/postgres-address.js';
import { storeArgs, tally } from '../support/cli.js';
import {
  callApi,
  callApiOk,
  eventually,
  lastAuthenticationReason,
  overHttp,
  type ServedNode,
  startNode,
  verifyOn,
} from '../support/node.js';
import { interopRequired } from '../support/peers.js';
import { canRunPrivateCluster, createPrivateCluster, type PrivateCluster } from '../support/postgres-cluster.js';
import { papRequest, radclient } from '../support/radclient.js';
import { pageText, WebClient } from '../support/web.js';

const RADIUS_SECRET = 'outage-secret';
const available = canRunPrivateCluster();

/** A verification is refused at once with 503 STORE_UNAVAILABLE and a retry hint, and `/readyz` says not ready. */
async function assertStoreUnavailable(node: ServedNode, token: string, username: string, passcode: string): Promise<void> {
  const rest = await callApi(node, token, 'POST', '/api/v1/auth/verify', { username, passcode });
  assert.equal(rest.status, 503, JSON.stringify(rest.body));
  assert.equal((rest.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
  assert.equal(rest.headers.get('retry-after'), '5');
  const readyz = await fetch(`${node.admin}/readyz`);
  assert.equal(readyz.status, 503);
  assert.deepEqual(await readyz.json(), { status: 'unavailable', code: 'STORE_UNAVAILABLE' });
}

describe('PostgreSQL stopped and started under a serving Tally (a private cluster)', {
  skip: !available && !interopRequired() ? 'no PostgreSQL 15 server binaries or postgres user' : false,
}, () => {
  let cluster: PrivateCluster;
  let node: ServedNode;
  let token = '';
  const secret = randomBytes(20);
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-outage-'));
  // Both codes from one instant: the second is always the step after the first, wherever the test
  // falls against a step boundary (the server keeps the drift the first accept shows).
  let start = 0;
  const codeAt = (offsetSteps: number) => totp({ secret }, start + offsetSteps * 30);

  before(async () => {
    cluster = await createPrivateCluster();
    const args = storeArgs({ dataDir, databaseUrl: cluster.url });
    assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
    token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
    node = await startNode(args);
    await callApiOk(node, token, '/api/v1/users', { username: 'olga' });
    const file = writePskc([{ kind: 'totp', id: 'OUT-1', serial: 'OUT-1', secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
    await callApiOk(node, token, '/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') });
    await callApiOk(node, token, '/api/v1/tokens/OUT-1/assign', { username: 'olga' });
    await callApiOk(node, token, '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET });
  });
  after(async () => {
    await node?.stop();
    cluster?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('fails fast and plainly while the database is down, recovers by itself, and accepts no code twice', async () => {
    const browser = new WebClient(overHttp(node.admin));
    await browser.get('/console');
    start = Math.floor(Date.now() / 1000);
    const before = codeAt(0);
    assert.equal(await verifyOn(node, token, 'olga', before), 'accept');

    // As on a crash of the database server: connections drop, nothing is told to the clients.
    cluster.stop('immediate');

    const during = codeAt(1);
    await assertStoreUnavailable(node, token, 'olga', during);

    const radius = await radclient(node.radiusPort, RADIUS_SECRET, papRequest('olga', during), { timeoutSeconds: 1 });
    assert.doesNotMatch(radius.stdout, /Received Access-(Accept|Reject)/, 'no answer at all: the client may ask another server');

    const page = await browser.post('/console/logon', { username: 'root', password: 'root-password-1' });
    assert.equal(page.statusCode, 503);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(pageText(page.body), /The database cannot be reached/);
    assert.doesNotMatch(page.body, /\bat .+\.(ts|js):\d+/, 'no stack trace');

    assert.equal((await fetch(`${node.admin}/healthz`)).status, 200, 'liveness holds: no restart is needed');
    assert.equal((await fetch(`${node.public}/healthz`)).status, 200);

    cluster.start();
    await eventually('ready again', async () => ((await fetch(`${node.admin}/readyz`)).status === 200 ? true : undefined));

    assert.equal(await verifyOn(node, token, 'olga', before), 'reject');
    assert.equal(await lastAuthenticationReason(node, token, 'OUT-1'), 'replayed code');
    const afterOutage = await verifyOn(node, token, 'olga', during);
    const trail = (await callApi(node, token, 'GET', '/api/v1/audit?serial=OUT-1&action=auth.*&limit=20')).body.events;
    assert.equal(afterOutage, 'accept', `the code refused during the outage was never spent; trail: ${JSON.stringify(trail)}`);
    assert.equal(await verifyOn(node, token, 'olga', during), 'reject');

    const metrics = await (await fetch(`${node.admin}/metrics`)).text();
    assert.match(metrics, /tally_radius_packets_dropped_total\{reason="store_unavailable"\} [1-9]/);
  });
});

describe('a PostgreSQL primary switch under a serving Tally (a failover address list, synchronous replication)', {
  skip: !available && !interopRequired() ? 'no PostgreSQL 15 server binaries or postgres user' : false,
}, () => {
  let primary: PrivateCluster;
  let standby: PrivateCluster;
  let node: ServedNode;
  let failoverUrl = '';
  let args: string[] = [];
  let token = '';
  const secret = randomBytes(20);
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-failover-'));
  let start = 0;
  const codeAt = (offsetSteps: number) => totp({ secret }, start + offsetSteps * 30);

  before(async () => {
    primary = await createPrivateCluster();
    standby = await primary.createStandby({ synchronous: true });
    failoverUrl = `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres?target_session_attrs=read-write`;
    args = storeArgs({ dataDir, databaseUrl: failoverUrl });
    assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
    token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
    node = await startNode(args);
    await callApiOk(node, token, '/api/v1/users', { username: 'petra' });
    const file = writePskc([{ kind: 'totp', id: 'SW-1', serial: 'SW-1', secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
    await callApiOk(node, token, '/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') });
    await callApiOk(node, token, '/api/v1/tokens/SW-1/assign', { username: 'petra' });
  });
  after(async () => {
    await node?.stop();
    primary?.destroy();
    standby?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('with only the standby up: 503 and not ready, saying the standby is read-only; once it is promoted Tally serves by itself and accepts no code twice', async () => {
    start = Math.floor(Date.now() / 1000);
    const before = codeAt(0);
    assert.equal(await verifyOn(node, token, 'petra', before), 'accept');

    // The primary's host dies; the standby is still one, read-only, until an operator (or a tool) promotes it.
    primary.stop('immediate');

    const during = codeAt(1);
    await assertStoreUnavailable(node, token, 'petra', during);
    const readOnly = new RegExp(
      `127\\.0\\.0\\.1:${primary.port} cannot be used \\(ECONNREFUSED\\); 127\\.0\\.0\\.1:${standby.port} is read-only`,
    );
    assert.match(node.output(), readOnly, 'the log says why it is not ready');
    const command = tally(['apitoken', 'create', ...args, '--name', 'during', '--role', 'agent', '--json']);
    assert.notEqual(command.status, 0);
    assert.match(command.stderr, readOnly);

    standby.promote();
    await eventually('ready again, without a restart', async () =>
      (await fetch(`${node.admin}/readyz`)).status === 200 ? true : undefined,
    );
    assert.equal(standby.psql('select pg_is_in_recovery()'), 'f');

    // The step accepted before the switch was on the standby before the accept was answered.
    assert.equal(await verifyOn(node, token, 'petra', before), 'reject');
    assert.equal(await lastAuthenticationReason(node, token, 'SW-1'), 'replayed code');
    assert.equal(await verifyOn(node, token, 'petra', during), 'accept', 'the code refused during the switch was never spent');
    assert.equal(await verifyOn(node, token, 'petra', during), 'reject');
    assert.equal(await lastAuthenticationReason(node, token, 'SW-1'), 'replayed code');
  });

  test('a pooled connection whose server turns read-only under it is dropped after the refused write, not handed out again', async () => {
    // After the switch the former standby is the primary; fencing it read-only (as some failover tools do) leaves no writable server.
    const pool = failoverPool(parsePostgresAddress(failoverUrl), { max: 1 });
    try {
      const first = await pool.connect();
      await first.query('select 1', []);
      first.release();
      standby.psql('alter system set default_transaction_read_only = on');
      standby.psql('select pg_reload_conf()');
      const reused = await pool.connect();
      await assert.rejects(reused.query('create table fenced_probe (id int)', []), { code: '25006' });
      reused.release();
      await assert.rejects(pool.connect(), new RegExp(`127\\.0\\.0\\.1:${standby.port} is read-only`));
    } finally {
      standby.psql('alter system reset default_transaction_read_only');
      standby.psql('select pg_reload_conf()');
      await pool.end();
    }
  });
});
