import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { storeArgs, tally } from '../support/cli.js';
import { callApi, callApiOk, eventually, lastAuthenticationReason, type ServedNode, startNode, verifyOn } from '../support/node.js';
import { hasPeer, interopRequired } from '../support/peers.js';
import { papRequest, radclient } from '../support/radclient.js';
import { canMountSmallDisk, mountSmallDisk, type SmallDisk } from '../support/small-disk.js';

const RADIUS_SECRET = 'disk-secret';
const mountable = canMountSmallDisk();

describe('SQLite on a file system that fills up under a serving Tally (a private tmpfs)', {
  skip: !mountable && !interopRequired() ? 'this process may not mount a tmpfs (not root)' : false,
}, () => {
  let disk: SmallDisk;
  let node: ServedNode;
  let token = '';
  const secret = randomBytes(20);
  // All codes from one instant: each is the step after the one before, wherever the test falls against a step boundary.
  let start = 0;
  const codeAt = (offsetSteps: number) => totp({ secret }, start + offsetSteps * 30);
  const api = (method: string, path: string, body?: object) => callApi(node, token, method, path, body);

  before(async () => {
    disk = mountSmallDisk(24);
    const args = storeArgs({ dataDir: join(disk.dir, 'data') });
    assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
    token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
    node = await startNode(args);
    await callApiOk(node, token, '/api/v1/users', { username: 'dora' });
    const file = writePskc([{ kind: 'totp', id: 'DISK-1', serial: 'DISK-1', secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
    await callApiOk(node, token, '/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') });
    await callApiOk(node, token, '/api/v1/tokens/DISK-1/assign', { username: 'dora' });
    await callApiOk(node, token, '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET });
  });
  after(async () => {
    await node?.stop();
    disk?.unmount();
  });

  test('refuses plainly while the disk is full, accepts nothing without its step written, and recovers by itself when space returns', async () => {
    start = Math.floor(Date.now() / 1000);
    assert.equal(await verifyOn(node, token, 'dora', codeAt(0)), 'accept');

    disk.fill();

    const during = codeAt(1);
    const rest = await api('POST', '/api/v1/auth/verify', { username: 'dora', passcode: during });
    assert.equal(rest.status, 503, JSON.stringify(rest.body));
    assert.equal((rest.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
    assert.equal(rest.headers.get('retry-after'), '5');
    if (hasPeer('radclient')) {
      const radius = await radclient(node.radiusPort, RADIUS_SECRET, papRequest('dora', during), { timeoutSeconds: 1 });
      assert.doesNotMatch(radius.stdout, /Received Access-Accept/);
    }
    const created = await api('POST', '/api/v1/users', { username: 'fran' });
    assert.equal(created.status, 503, JSON.stringify(created.body));
    assert.equal((created.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
    const readyz = await fetch(`${node.admin}/readyz`);
    assert.equal(readyz.status, 503);
    assert.deepEqual(await readyz.json(), { status: 'unavailable', code: 'STORE_UNAVAILABLE' });
    assert.equal((await fetch(`${node.admin}/healthz`)).status, 200, 'liveness holds: no restart is needed');
    // The operator reads why in the log: SQLite's reason and the probe's errno; the passcode never.
    assert.match(node.output(), /database or disk is full/);
    assert.match(node.output(), /ENOSPC/);
    assert.doesNotMatch(node.output(), new RegExp(`\\b${during}\\b`), 'no passcode in the log');

    disk.free();
    await eventually('ready again', async () => ((await fetch(`${node.admin}/readyz`)).status === 200 ? true : undefined));

    assert.equal(await verifyOn(node, token, 'dora', codeAt(0)), 'reject');
    assert.equal(await lastAuthenticationReason(node, token, 'DISK-1'), 'replayed code');
    assert.equal(await verifyOn(node, token, 'dora', during), 'accept', 'a code refused for the full disk was never spent');
    assert.equal(await verifyOn(node, token, 'dora', during), 'reject');
    assert.equal((await api('GET', '/api/v1/users/fran')).status, 404, 'the user refused during the fault was not half-made');
    const events = (await api('GET', '/api/v1/audit?action=user.create&limit=50')).body.events as { target: string }[];
    assert.deepEqual(
      events.map((event) => event.target).filter((target) => target === 'fran'),
      [],
    );

    const database = new BetterSqlite3(join(disk.dir, 'data', 'tally.db'), { readonly: true });
    try {
      assert.equal(database.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      database.close();
    }
  });
});
