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
import {
  canMountFailingDisk,
  canMountSmallDisk,
  type FailingDisk,
  mountFailingDisk,
  mountSmallDisk,
  type SmallDisk,
} from '../support/small-disk.js';

const RADIUS_SECRET = 'disk-secret';
const SERIAL = 'DISK-1';

/** `tally serve` on SQLite in `dataDir`, with one user (dora) holding one TOTP token, and a RADIUS client. */
async function serveOn(dataDir: string, secret: Buffer): Promise<{ node: ServedNode; token: string }> {
  const args = storeArgs({ dataDir });
  assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
  const token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
  const node = await startNode(args);
  await callApiOk(node, token, '/api/v1/users', { username: 'dora' });
  const file = writePskc([{ kind: 'totp', id: SERIAL, serial: SERIAL, secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
  await callApiOk(node, token, '/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') });
  await callApiOk(node, token, `/api/v1/tokens/${SERIAL}/assign`, { username: 'dora' });
  await callApiOk(node, token, '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET });
  return { node, token };
}

/**
 * While the store cannot be written: an authentication is refused with 503 STORE_UNAVAILABLE and
 * Retry-After over REST and left unanswered over RADIUS, an admin's change (a user made) is refused
 * the same way while reads still work, /readyz says why and /healthz holds; the log names the
 * cause, never the passcode.
 */
async function refusedWhileUnwritable(node: ServedNode, token: string, passcode: string, cause: RegExp): Promise<void> {
  const rest = await callApi(node, token, 'POST', '/api/v1/auth/verify', { username: 'dora', passcode });
  assert.equal(rest.status, 503, JSON.stringify(rest.body));
  assert.equal((rest.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
  assert.equal(rest.headers.get('retry-after'), '5');
  if (hasPeer('radclient') || interopRequired()) {
    const radius = await radclient(node.radiusPort, RADIUS_SECRET, papRequest('dora', passcode), { timeoutSeconds: 1 });
    assert.doesNotMatch(radius.stdout, /Received Access-(Accept|Reject)/, 'no answer at all: the client may ask another server');
  }
  // Reads need no write (the API token's check included), so the refusal below is the change's own.
  assert.equal((await callApi(node, token, 'GET', '/api/v1/users/dora')).status, 200);
  const created = await callApi(node, token, 'POST', '/api/v1/users', { username: 'fran' });
  assert.equal(created.status, 503, JSON.stringify(created.body));
  assert.equal((created.body.error as { code: string }).code, 'STORE_UNAVAILABLE');
  const readyz = await fetch(`${node.admin}/readyz`);
  assert.equal(readyz.status, 503);
  assert.deepEqual(await readyz.json(), { status: 'unavailable', code: 'STORE_UNAVAILABLE' });
  assert.equal((await fetch(`${node.admin}/healthz`)).status, 200, 'liveness holds: the process needs no restart for this');
  // The log comes through a pipe: the lines of the requests just answered may be a moment behind.
  await eventually('the cause in the log', async () => (cause.test(node.output()) ? true : undefined));
  assert.doesNotMatch(node.output(), new RegExp(`\\b${passcode}\\b`), 'no passcode in the log');
}

/**
 * Once the store can be written again: the code accepted before the fault stays spent, the one
 * refused during it is accepted once, the user refused during it was not made (nor audited), and
 * SQLite finds the database whole.
 */
async function consistentAfterwards(node: ServedNode, token: string, codes: { before: string; during: string }, dataDir: string) {
  assert.equal(await verifyOn(node, token, 'dora', codes.before), 'reject');
  assert.equal(await lastAuthenticationReason(node, token, SERIAL), 'replayed code');
  assert.equal(await verifyOn(node, token, 'dora', codes.during), 'accept', 'a code refused during the fault was never spent');
  assert.equal(await verifyOn(node, token, 'dora', codes.during), 'reject');
  assert.equal(
    (await callApi(node, token, 'GET', '/api/v1/users/fran')).status,
    404,
    'the user refused during the fault was not half-made',
  );
  const events = (await callApi(node, token, 'GET', '/api/v1/audit?user=fran&limit=10')).body.events as unknown[];
  assert.deepEqual(events, [], 'nor audited');
  const database = new BetterSqlite3(join(dataDir, 'tally.db'), { readonly: true });
  try {
    assert.equal(database.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    database.close();
  }
}

describe('SQLite on a file system that fills up under a serving Tally (a private tmpfs)', {
  skip: !canMountSmallDisk() && !interopRequired() ? 'this process may not mount a tmpfs (not root)' : false,
}, () => {
  let disk: SmallDisk;
  let node: ServedNode;
  let token = '';
  const secret = randomBytes(20);

  before(async () => {
    disk = mountSmallDisk(24);
    ({ node, token } = await serveOn(join(disk.dir, 'data'), secret));
  });
  after(async () => {
    await node?.stop();
    disk?.unmount();
  });

  test('refuses plainly while the disk is full, accepts nothing without its step written, and recovers by itself when space returns', async () => {
    // Both codes from one instant: the second is the step after the first, wherever the test falls against a step boundary.
    const start = Math.floor(Date.now() / 1000);
    const codes = { before: totp({ secret }, start), during: totp({ secret }, start + 30) };
    assert.equal(await verifyOn(node, token, 'dora', codes.before), 'accept');

    disk.fill();
    await refusedWhileUnwritable(node, token, codes.during, /database or disk is full[\s\S]*ENOSPC/);

    disk.free();
    await eventually('ready again', async () => ((await fetch(`${node.admin}/readyz`)).status === 200 ? true : undefined));
    await consistentAfterwards(node, token, codes, join(disk.dir, 'data'));
  });
});

describe('SQLite on a file system the kernel makes read-only under a serving Tally (ext4 on a loop device)', {
  skip:
    !canMountFailingDisk() && !interopRequired()
      ? 'this process may not mount an ext4 image on a loop device and trigger its errors'
      : false,
}, () => {
  let disk: FailingDisk;
  let node: ServedNode;
  let token = '';
  const secret = randomBytes(20);

  before(async () => {
    disk = mountFailingDisk(32);
    ({ node, token } = await serveOn(join(disk.dir, 'data'), secret));
  });
  after(async () => {
    await node?.stop();
    disk?.unmount();
  });

  test('refuses plainly while read-only, without crashing; after the repair and a restart nothing accepted is accepted again', async () => {
    const start = Math.floor(Date.now() / 1000);
    const codes = { before: totp({ secret }, start), during: totp({ secret }, start + 30) };
    assert.equal(await verifyOn(node, token, 'dora', codes.before), 'accept');

    disk.failReadOnly();
    await refusedWhileUnwritable(node, token, codes.during, /disk I\/O error[\s\S]*EROFS/);

    // Linux lets no one write there again before an unmount, so the process stops: cleanly, and on its own signal.
    assert.equal(await node.stop(), 0, node.output());
    disk.repair();
    await node.restart();
    await consistentAfterwards(node, token, codes, join(disk.dir, 'data'));
  });
});
