import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { storeArgs, tally } from '../support/cli.js';
import { faketimeLibrary, type SteppedClock, steppedClock } from '../support/faketime.js';
import { callApi, callApiOk, lastAuthenticationReason, type ServedNode, startNode, verifyOn } from '../support/node.js';
import { interopRequired } from '../support/peers.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

const library = faketimeLibrary();

for (const dialect of testDialects()) {
  describe(`the host clock stepped under a spawned tally serve (libfaketime) [${dialect}]`, {
    skip: !library && !interopRequired() ? 'libfaketime not installed (Debian package faketime)' : false,
  }, () => {
    const place = freshStoreOptions(dialect);
    const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
    const secret = randomBytes(20);
    let clock: SteppedClock;
    let node: ServedNode;
    let token = '';
    // Every code from one instant of the real clock, the server's clock being that plus the offset set.
    let start = 0;
    const codeAt = (seconds: number) => totp({ secret }, start + seconds);
    const clockStep = async () => (await callApi(node, token, 'GET', '/api/v1/dashboard')).body.clockStep as { seconds: number } | null;

    before(async () => {
      assert.ok(library, 'REQUIRE_INTEROP=1 but libfaketime is not installed (Debian package faketime)');
      clock = steppedClock(library);
      assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
      token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
      node = await startNode(args, clock.env);
      await callApiOk(node, token, '/api/v1/users', { username: 'tim' });
      const file = writePskc([{ kind: 'totp', id: 'STEP-1', serial: 'STEP-1', secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
      await callApiOk(node, token, '/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') });
      await callApiOk(node, token, '/api/v1/tokens/STEP-1/assign', { username: 'tim' });
    });
    after(async () => {
      await node?.stop();
      clock?.remove();
      await place.cleanup();
    });

    test("libfaketime moves a Node process's Date.now() by the offset set while it runs, and leaves its monotonic clock alone", () => {
      const probe = steppedClock(library as string);
      try {
        probe.setOffset(3600);
        const script = 'console.log(JSON.stringify({ wall: Date.now(), monotonic: Number(process.hrtime.bigint() / 1000000n) }))';
        const child = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...probe.env }, encoding: 'utf8' });
        const ours = { wall: Date.now(), monotonic: Number(process.hrtime.bigint() / 1000000n) };
        const theirs = JSON.parse(child.stdout) as typeof ours;
        // Both sides read within the same minute: the hour between the wall clocks is the offset.
        assert.equal(Math.round((theirs.wall - ours.wall) / 60_000), 60, 'the wall clock is an hour ahead');
        assert.ok(Math.abs(theirs.monotonic - ours.monotonic) < 60_000, 'the monotonic clock (system-wide) is not moved');
      } finally {
        probe.remove();
      }
    });

    test("after a step forward, time-based codes follow the server's clock, and the dashboard says so", async () => {
      start = Math.floor(Date.now() / 1000);
      assert.equal(await verifyOn(node, token, 'tim', codeAt(0)), 'accept');
      clock.setOffset(3600);
      assert.equal((await clockStep())?.seconds, 3600);
      assert.equal(await verifyOn(node, token, 'tim', codeAt(30)), 'reject', "the real time's next code is an hour behind the server");
      assert.equal(await verifyOn(node, token, 'tim', codeAt(3600)), 'accept');
    });

    test('after a step back, the last accepted step stays the floor: neither the code accepted before it nor an unused earlier one is accepted', async () => {
      // Back by one period: the code accepted last is in the window around the server's time again.
      clock.setOffset(3570);
      assert.equal((await clockStep())?.seconds, -30);
      assert.equal(await verifyOn(node, token, 'tim', codeAt(3600)), 'reject');
      assert.equal(await lastAuthenticationReason(node, token, 'STEP-1'), 'replayed code');
      // The step the server's clock shows now was never used, but lies below the floor.
      assert.equal(await verifyOn(node, token, 'tim', codeAt(3570)), 'reject');
      assert.equal(await lastAuthenticationReason(node, token, 'STEP-1'), 'replayed code');
    });

    test('the metrics and the log report both steps', async () => {
      const metrics = await (await fetch(`${node.admin}/metrics`)).text();
      assert.match(metrics, /tally_clock_steps_total\{direction="forward"\} 1\n/);
      assert.match(metrics, /tally_clock_steps_total\{direction="back"\} 1\n/);
      assert.match(metrics, /tally_clock_last_step_seconds -30\n/);
      assert.match(node.output(), /The system clock was stepped forward by 3600 s/);
      assert.match(node.output(), /The system clock was stepped back by 30 s/);
    });
  });
}
