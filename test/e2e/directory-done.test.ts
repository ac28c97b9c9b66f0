import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../../src/logger.js';
import { startRadiusServer } from '../../src/radius/server.js';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { launchChromium } from '../support/chromium.js';
import { interopRequired, interopTest, runPeer } from '../support/peers.js';
import { papRequest, radclient, received } from '../support/radclient.js';
import { hasSlapd, identitySourceOn, startDirectory, USER_PASSWORD } from '../support/slapd.js';
import { freshStoreOptions, testDialects } from '../support/store.js';
import { bearer, createTestTally } from '../support/tally.js';

if (!hasSlapd() && interopRequired()) throw new Error('REQUIRE_INTEROP=1 but slapd, ldapadd or openssl is missing');

async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/**
 * Issue #17's "Done when": a user who exists only in the directory logs on to the Self-Service
 * Console, requests and activates a token, and authenticates over RADIUS; a directory group makes
 * another directory user a help desk administrator, who logs on to the Security Console.
 */
for (const dialect of testDialects())
  interopTest(
    `[${dialect}] directory users, done: a directory-only user logs on to self-service in Chromium, activates a token by QR and authenticates with radclient; a directory group makes a help desk administrator`,
    ['chromium', 'zbarimg', 'oathtool', 'radclient', ...(hasSlapd() ? [] : ['slapd'])],
    async (t) => {
      const directory = await startDirectory();
      const store = await openStore(freshStoreOptions(dialect).options);
      await migrateToLatest(store);
      const tally = await createTestTally(store);
      const browser = await launchChromium({ viewport: { width: 1024, height: 720 } });
      const work = mkdtempSync(join(tmpdir(), 'tally-directory-done-'));
      const { page } = browser;
      const api = (method: 'POST' | 'GET', url: string, payload?: object) =>
        tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
      try {
        const added = await api('POST', '/api/v1/identity-sources', identitySourceOn(directory));
        assert.equal(added.statusCode, 201, added.body);
        const profile = { name: 'Authenticator app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true };
        assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201);
        assert.equal((await api('GET', '/api/v1/users/carol')).statusCode, 404, 'carol exists only in the directory');
        const publicBase = await listenOnLoopback(tally.public);
        tally.services.options.publicUrl = publicBase;
        const at = Math.floor(tally.clock.now() / 1000);
        let secret = '';

        await t.test('carol, only in the directory, logs on to the Self-Service Console with her directory password', async () => {
          await page.goto(`${publicBase}/`);
          await page.getByLabel('Username').fill('carol');
          await page.getByLabel('Password').fill(USER_PASSWORD);
          await page.getByRole('button', { name: 'Log on' }).click();
          await page.getByRole('heading', { name: 'My tokens' }).waitFor();
          const carol = (await api('GET', '/api/v1/users/carol')).json();
          assert.deepEqual([carol.source, carol.directoryState, carol.role], ['corp-ldap', 'present', 'user']);
        });

        await t.test('she requests a token and activates it: zbarimg reads the QR code, oathtool computes the code', async () => {
          await page.getByRole('main').getByRole('link', { name: 'Request a token' }).click();
          await page.getByRole('radio', { name: /^Authenticator app/ }).check();
          await page.getByRole('button', { name: 'Request token' }).click();
          await page.getByText('Your new token is ready to set up').waitFor();
          await page.getByRole('link', { name: 'Activate' }).click();
          await page.getByRole('heading', { name: 'Activate your token' }).waitFor();
          const png = join(work, 'qr.png');
          await page.getByRole('img', { name: /QR code/ }).screenshot({ path: png });
          const uri = runPeer('zbarimg', ['-q', '--raw', png]).trim();
          assert.match(uri, /^otpauth:\/\/totp\/Tally:carol\?secret=[A-Z2-7]+/);
          secret = /secret=([A-Z2-7]+)/.exec(uri)?.[1] ?? '';
          await page.getByLabel('Tokencode').fill(runPeer('oathtool', ['--totp', '-b', '-N', `@${at}`, secret]).trim());
          await page.getByRole('button', { name: 'Confirm' }).click();
          await page.getByText('Your token is active').waitFor();
        });

        await t.test('she authenticates over RADIUS: radclient with the next code gets Access-Accept', async () => {
          const radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
          try {
            const client = { name: 'vpn', address: '127.0.0.1', secret: 'vpn-shared-secret' };
            assert.equal((await api('POST', '/api/v1/radius-clients', client)).statusCode, 201);
            tally.clock.advance(30);
            const code = runPeer('oathtool', ['--totp', '-b', '-N', `@${at + 30}`, secret]).trim();
            received(await radclient(radius.port, client.secret, papRequest('carol', code)), 'Access-Accept');
          } finally {
            await radius.close();
          }
        });

        await t.test('alice, in a group nested in the help desk group, logs on to the Security Console as help desk', async () => {
          const adminBase = await listenOnLoopback(tally.admin);
          await page.goto(`${adminBase}/console`);
          await page.getByLabel('Username').fill('alice');
          await page.getByLabel('Password').fill(USER_PASSWORD);
          await page.getByRole('button', { name: 'Log on' }).click();
          await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
          const alice = (await api('GET', '/api/v1/users/alice')).json();
          assert.deepEqual([alice.source, alice.role], ['corp-ldap', 'helpdesk']);
        });
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
        await tally.close();
        await directory.stop();
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
