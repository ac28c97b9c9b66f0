import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freeradiusTotp, freeradiusTotpPostgresReplay, freeradiusTotpSqliteReplayUnder } from '../../bench/freeradius.js';
import { runRadclientLoad } from '../../bench/radclient-load.js';
import { RadiusClient } from '../../bench/radius-client.js';
import { BENCH_PERIOD, type BenchUser, benchUsers, startBatch, tokencode, UserLedger } from '../../bench/users.js';
import { firstItem, item } from '../support/items.js';
import { interopRequired, interopTest } from '../support/peers.js';

/** The right code with its last digit changed: wrong, whatever the code is. */
function wrongCode(user: BenchUser, unixSeconds: number): string {
  const code = tokencode(user, unixSeconds);
  return code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
}

interopTest(
  'the benchmark harness: FreeRADIUS + rlm_totp accepts every fresh code radclient sends and rejects wrong ones',
  ['radclient', 'freeradius'],
  async (t) => {
    // Enough users that no load waits for a new step (the latency probe takes a few as well).
    const users = benchUsers(400);
    const server = await freeradiusTotp.start(users);
    t.after(() => server.stop());
    const ledger = new UserLedger(users);

    const load = await runRadclientLoad({ server, ledger, requests: 200, concurrency: 16 });
    assert.deepEqual(
      {
        requests: load.radclient.requests,
        accepted: load.radclient.accepted,
        rejected: load.radclient.rejected,
        lost: load.radclient.lost,
      },
      { requests: 200, accepted: 200, rejected: 0, lost: 0 },
    );
    assert.equal(load.latency.accepted, load.latency.requests);
    assert.equal(load.runsCrossingSteps, 0);

    const wrong = await runRadclientLoad({ server, ledger, requests: 20, concurrency: 16, passcode: wrongCode });
    assert.deepEqual({ accepted: wrong.radclient.accepted, rejected: wrong.radclient.rejected }, { accepted: 0, rejected: 20 });
    assert.equal(wrong.latency.accepted, 0);
  },
);

interopTest(
  'rlm_totp in FreeRADIUS 3.2 accepts a code again and again, and only in its own 30 s step (the note next to the ratio)',
  ['freeradius'],
  async (t) => {
    const users = benchUsers(2);
    const server = await freeradiusTotp.start(users);
    t.after(() => server.stop());
    const client = await RadiusClient.open(server);
    t.after(() => client.close());

    const taken = (await startBatch(new UserLedger(users), 2, 1)).users;
    const user = firstItem(taken);
    const other = item(taken, 1);
    const now = Date.now() / 1000;
    assert.equal(await client.request(user.username, tokencode(user, now), 2000), 'accept');
    assert.equal(await client.request(user.username, tokencode(user, now), 2000), 'accept');
    assert.equal(await client.request(other.username, tokencode(other, now - BENCH_PERIOD), 2000), 'reject');
    assert.equal(await client.request(other.username, tokencode(other, now + BENCH_PERIOD), 2000), 'reject');
  },
);

/**
 * The peers with Tally's guarantees: FreeRADIUS's PostgreSQL driver is a Debian package of its own
 * (freeradius-postgresql), and that target needs the tests' PostgreSQL.
 */
const replayPeers = [
  // The benchmark keeps this peer's file on disk, where each commit waits for a sync; this test is
  // about which codes it accepts, so a memory file system keeps a busy disk from timing it out.
  { target: freeradiusTotpSqliteReplayUnder(existsSync('/dev/shm') ? '/dev/shm' : tmpdir()), runs: true },
  { target: freeradiusTotpPostgresReplay, runs: process.env.TALLY_TEST_DATABASE_URL !== undefined, module: 'rlm_sql_postgresql' },
];
for (const { target, runs, module } of replayPeers) {
  const moduleMissing = module !== undefined && !existsSync(`/usr/lib/freeradius/${module}.so`);
  const skip = !runs
    ? 'needs TALLY_TEST_DATABASE_URL'
    : moduleMissing && !interopRequired()
      ? `FreeRADIUS module not installed: ${module}`
      : false;
  interopTest(
    `${target.name} (a peer with Tally's replay guarantee) accepts a code once, under load too`,
    ['radclient', 'freeradius'],
    async (t) => {
      if (skip) return t.skip(skip);
      const users = benchUsers(400);
      const server = await target.start(users);
      t.after(() => server.stop());
      const client = await RadiusClient.open(server);
      t.after(() => client.close());
      const ledger = new UserLedger(users);

      const taken = (await startBatch(ledger, 2, 1)).users;
      const user = firstItem(taken);
      const other = item(taken, 1);
      const now = Date.now() / 1000;
      assert.equal(await client.request(user.username, tokencode(user, now), 2000), 'accept');
      assert.equal(await client.request(user.username, tokencode(user, now), 2000), 'reject');
      assert.equal(await client.request(other.username, wrongCode(other, now), 2000), 'reject');
      assert.equal(await client.request(other.username, tokencode(other, now), 2000), 'accept');

      const load = await runRadclientLoad({ server, ledger, requests: 200, concurrency: 16 });
      assert.deepEqual(
        { accepted: load.radclient.accepted, rejected: load.radclient.rejected, lost: load.radclient.lost },
        { accepted: 200, rejected: 0, lost: 0 },
      );
    },
  );
}
