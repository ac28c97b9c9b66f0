import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, startServe, storeArgs, tally, tallyAsync } from '../support/cli.js';
import { interopTest, runPeer } from '../support/peers.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

/**
 * The whole CT-KIP path over real HTTP: Tally distributes a code, `tally token activate` (a client
 * process) redeems it, its codes verify through the authentication API, and stoken agrees.
 */
for (const dialect of testDialects()) {
  const place = freshStoreOptions(dialect);
  const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
  const home = mkdtempSync(join(tmpdir(), 'tally-ctkip-e2e-'));
  let server: Awaited<ReturnType<typeof startServe>>;
  let admin = '';
  let token = '';
  const api = async (path: string, body: object) => {
    const response = await fetch(admin + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await response.json()) as Record<'serial' | 'ctkipUrl' | 'activationCode' | 'appLink', string>;
  };

  before(async () => {
    assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
    token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
    const [port, adminPort] = [await freePort(), await freePort()];
    server = await startServe([
      ...args,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--admin-port',
      String(adminPort),
      '--radius-port',
      '0',
      '--public-url',
      `http://127.0.0.1:${port}`,
      '--log-level',
      'warn',
    ]);
    admin = `http://127.0.0.1:${adminPort}`;
    await api('/api/v1/users', { username: 'oscar' });
    await api('/api/v1/profiles', {
      name: 'desktop',
      tokenType: 'securid',
      deviceType: 'tally-cli',
      delivery: 'ctkip',
      digits: 8,
      period: 60,
    });
  });
  after(async () => {
    await server.stop();
    await place.cleanup();
  });

  interopTest(
    `[${dialect}] tally token activate → code verifies over REST → exported sdtid gives stoken the same code; the code works once`,
    ['stoken'],
    async () => {
      const distributed = await api('/api/v1/users/oscar/tokens', { profile: 'desktop' });
      const store = join(home, `${dialect}.tokens`);
      const activated = await tallyAsync(['token', 'activate', distributed.ctkipUrl, distributed.activationCode, '--store', store]);
      assert.equal(activated.status, 0, activated.stderr);
      assert.equal(activated.stdout.trim(), distributed.serial);
      assert.doesNotMatch(activated.stdout + activated.stderr, new RegExp(distributed.activationCode));

      const at = Math.floor(Date.now() / 1000);
      const code = (await tallyAsync(['token', 'code', '--store', store, '--at', String(at)])).stdout.trim();
      assert.match(code, /^\d{8}$/);
      const sdtid = await tallyAsync(['token', 'export', '--store', store, '--serial', distributed.serial, '--format', 'sdtid']);
      writeFileSync(join(home, `${dialect}.sdtid`), sdtid.stdout);
      const fromStoken = runPeer(
        'stoken',
        ['tokencode', '--file', join(home, `${dialect}.sdtid`), `--use-time=${at}`, '--pin=0000', '-b'],
        { env: { ...process.env, HOME: home } },
      ).trim();
      assert.equal(fromStoken, code);
      assert.deepEqual(await api('/api/v1/auth/verify', { username: 'oscar', passcode: code }), { result: 'accept' });

      const again = await tallyAsync([
        'token',
        'activate',
        distributed.ctkipUrl,
        distributed.activationCode,
        '--store',
        join(home, `${dialect}-again.tokens`),
      ]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /Invalid authorization code/);
    },
  );

  test(`[${dialect}] the app link works as the URL argument`, async () => {
    const distributed = await api('/api/v1/users/oscar/tokens', { profile: 'desktop' });
    const activated = await tallyAsync(['token', 'activate', distributed.appLink, '--store', join(home, `${dialect}-link.tokens`)]);
    assert.equal(activated.status, 0, activated.stderr);
    assert.equal(activated.stdout.trim(), distributed.serial);
  });
}
