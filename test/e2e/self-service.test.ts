import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { encodeBase32 } from '../../src/core/otp/base32.js';
import { createLogger } from '../../src/logger.js';
import { startRadiusServer } from '../../src/radius/server.js';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { readTokenFile } from '../../src/tokens/files.js';
import { repoRoot } from '../support/cli.js';
import { activate as activateOverCtkip } from '../support/ctkip.js';
import { firstItem } from '../support/items.js';
import { interopTest, runPeer } from '../support/peers.js';
import { papRequest, radclient, received } from '../support/radclient.js';
import { freshStoreOptions, testDialects } from '../support/store.js';
import { allowTokensPerUser, bearer, createTestTally } from '../support/tally.js';

const SCREENSHOTS = join(repoRoot, 'artifacts/screenshots');
const DOC_IMAGES = join(repoRoot, 'docs/guides/images');
const GUIDE = join(repoRoot, 'docs/guides/self-service-qr.md');

/**
 * The JSON bodies the guide posts to `$TALLY_API/<collection>` (its heredocs), so that this test
 * sets Tally up exactly as the guide tells its reader to, and its screenshots show that set-up.
 */
function guideBodies(collection: 'profiles' | 'users'): Record<string, unknown>[] {
  const pattern = new RegExp(`"\\$TALLY_API/${collection}"[^\\n]*<<'EOF'\\n([\\s\\S]*?)\\nEOF`, 'g');
  return [...readFileSync(GUIDE, 'utf8').matchAll(pattern)].map((match) => JSON.parse(match[1]!) as Record<string, unknown>);
}

/** Screenshots for CI artefacts; with UPDATE_DOC_SCREENSHOTS=1 the guide's images are refreshed too. */
async function shoot(page: Page, name: string, options: { fullPage?: boolean; forDocs?: boolean } = {}): Promise<void> {
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? true });
  if (options.forDocs && process.env.UPDATE_DOC_SCREENSHOTS === '1') copyFileSync(path, join(DOC_IMAGES, `${name}.png`));
}

for (const dialect of testDialects())
  interopTest(
    `[${dialect}] Self-Service Console in Chromium: log on, request, activate by QR, the token works at the VPN (RADIUS); CT-KIP and file; test a code, report a token lost`,
    ['chromium', 'zbarimg', 'oathtool', 'radclient'],
    async (t) => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      mkdirSync(DOC_IMAGES, { recursive: true });
      const handle = freshStoreOptions(dialect);
      const store = await openStore(handle.options);
      await migrateToLatest(store);
      const tally = await createTestTally(store);
      // Alice asks for three tokens and files a fourth request: one more than RSA's default limit.
      await allowTokensPerUser(tally, 4);
      const profileDir = mkdtempSync(join(tmpdir(), 'tally-chromium-'));
      const work = mkdtempSync(join(tmpdir(), 'tally-e2e-'));
      const context = await chromium.launchPersistentContext(profileDir, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
        viewport: { width: 1024, height: 720 },
        acceptDownloads: true,
      });
      try {
        const api = (method: 'POST' | 'GET', url: string, payload?: object) =>
          tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
        const profiles = guideBodies('profiles');
        const users = guideBodies('users');
        assert.deepEqual(
          profiles.map((p) => p.name),
          ['Authenticator app', 'SecurID on iPhone', 'Command-line token', 'Contractor phone'],
        );
        assert.deepEqual(
          users.map((u) => u.username),
          ['alice'],
        );
        for (const profile of profiles)
          assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201, JSON.stringify(profile));
        assert.equal((await api('POST', '/api/v1/users', users[0])).statusCode, 201);
        await tally.public.listen({ host: '127.0.0.1', port: 0 });
        const address = tally.public.server.address();
        const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
        tally.services.options.publicUrl = base;
        const at = Math.floor(tally.clock.now() / 1000);
        const page = context.pages()[0] ?? (await context.newPage());
        const scriptErrors: string[] = [];
        // Pages answered with an error status (a wrong password, a used link) are expected; anything else is not.
        page.on(
          'console',
          (message) =>
            message.type() === 'error' && !/responded with a status of \d+/.test(message.text()) && scriptErrors.push(message.text()),
        );
        page.on('pageerror', (error) => scriptErrors.push(error.message));

        await t.test('log on', async () => {
          await page.goto(`${base}/`);
          assert.equal(
            await page.evaluate(() => getComputedStyle(document.body).backgroundColor),
            'rgb(244, 246, 249)',
            'the stylesheet is applied',
          );
          await shoot(page, '01-log-on', { forDocs: true });
          await page.getByLabel('Username').fill('alice');
          await page.getByLabel('Password').fill('wrong password');
          await page.getByRole('button', { name: 'Log on' }).click();
          await page.getByText('The username or password is not right.').waitFor();
          await shoot(page, '01-log-on-refused');
          await page.getByLabel('Password').fill(String(firstItem(users).password));
          await page.getByRole('button', { name: 'Log on' }).click();
          await page.getByRole('heading', { name: 'My tokens' }).waitFor();
          await page.getByText('You have no tokens yet').waitFor();
        });

        await t.test('request a token for a standard authenticator app', async () => {
          await page.getByRole('main').getByRole('link', { name: 'Request a token' }).click();
          await page.getByRole('heading', { name: 'Request a token' }).waitFor();
          await shoot(page, '02-request-a-token', { forDocs: true });
          await page.getByRole('radio', { name: /^Authenticator app/ }).check();
          await page.getByRole('button', { name: 'Request token' }).click();
          await page.getByText('Your new token is ready to set up').waitFor();
          await shoot(page, '03-token-ready', { forDocs: true });
        });

        let serial = '';
        let secret = '';
        await t.test(
          'Activate: the QR code decodes with zbarimg, oathtool computes the code, Confirm activates; the QR is not shown again',
          async () => {
            await page.getByRole('link', { name: 'Activate' }).click();
            await page.getByRole('heading', { name: 'Activate your token' }).waitFor();
            const activateUrl = page.url();
            serial = /\/tokens\/([^/]+)\/activate$/.exec(activateUrl)![1]!;
            await shoot(page, '04-activate-qr', { forDocs: true });
            const qr = page.getByRole('img', { name: /QR code/ });
            const png = join(work, 'qr.png');
            await qr.screenshot({ path: png });
            copyFileSync(png, join(SCREENSHOTS, '04-qr-code.png'));
            const uri = runPeer('zbarimg', ['-q', '--raw', png]).trim();
            assert.match(uri, /^otpauth:\/\/totp\/Tally:alice\?secret=[A-Z2-7]+/);
            secret = /secret=([A-Z2-7]+)/.exec(uri)![1]!;
            assert.ok(await page.getByText(secret, { exact: true }).isVisible(), 'the key as text, for people who cannot scan');
            await page.getByText('More for typing by hand').click();
            assert.ok(await page.getByText(uri, { exact: true }).isVisible(), 'and the link');
            await shoot(page, '05-enter-key-by-hand', { forDocs: true });
            const code = runPeer('oathtool', ['--totp', '-b', '-N', `@${at}`, secret]).trim();
            await page.getByLabel('Tokencode').fill(code);
            await page.getByRole('button', { name: 'Confirm' }).click();
            await page.getByText('Your token is active').waitFor();
            const card = page.getByRole('listitem').filter({ hasText: serial });
            await card.getByText('Active', { exact: true }).waitFor();
            assert.equal(await card.getByRole('link', { name: 'Activate' }).count(), 0);
            await shoot(page, '06-token-active', { forDocs: true });
            const again = await page.goto(activateUrl);
            assert.equal(again?.status(), 409);
            assert.equal(await page.getByRole('img', { name: /QR code/ }).count(), 0);
            assert.equal(await page.getByText(secret).count(), 0);
            await page.getByText('has nothing waiting to be activated').waitFor();
            await shoot(page, '06-activate-again');
          },
        );

        await t.test('the token works at the VPN: radclient with the next code gets Access-Accept', async () => {
          const radius = await startRadiusServer(tally.services, { host: '127.0.0.1', port: 0, logger: createLogger('silent') });
          try {
            assert.equal(
              (await api('POST', '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: 'vpn-shared-secret' })).statusCode,
              201,
            );
            tally.clock.advance(30);
            const code = runPeer('oathtool', ['--totp', '-b', '-N', `@${at + 30}`, secret]).trim();
            const run = await radclient(radius.port, 'vpn-shared-secret', papRequest('alice', code));
            received(run, 'Access-Accept');
          } finally {
            await radius.close();
          }
        });

        await t.test(
          'CT-KIP (SecurID on iPhone 2.x): the URL and activation code as text, the app link as a QR code; a reload shows the same code, New activation code replaces it; the exchange activates',
          async () => {
            await page.goto(`${base}/request`);
            await page.getByRole('radio', { name: /^SecurID on iPhone/ }).check();
            await page.getByRole('button', { name: 'Request token' }).click();
            await page.getByRole('listitem').filter({ hasText: 'SecurID on iPhone' }).getByRole('link', { name: 'Activate' }).click();
            await page.getByText('What the app asks for').waitFor();
            const url = (await page.locator('#ctkip-url').textContent())!.trim();
            const shownFirst = (await page.locator('#activation-code').textContent())!.trim();
            await page.reload();
            assert.equal((await page.locator('#activation-code').textContent())!.trim(), shownFirst, 'a reload shows the same code');
            await page.getByRole('button', { name: 'New activation code' }).click();
            await page.getByText('Here is your new activation code. The previous one no longer works.').waitFor();
            const code = (await page.locator('#activation-code').textContent())!.trim();
            assert.notEqual(code, shownFirst);
            assert.ok((await activateOverCtkip(tally.public, shownFirst)).fault, 'the replaced code no longer works');
            assert.equal(url, `${base}/ctkip/services/CtkipService`);
            assert.match(code, /^\d{12}$/);
            await shoot(page, '07-activate-ctkip', { forDocs: true });
            const png = join(work, 'ctkip-qr.png');
            await page.getByRole('img', { name: /QR code/ }).screenshot({ path: png });
            const link = runPeer('zbarimg', ['-q', '--raw', png]).trim();
            assert.equal(
              link,
              `com.rsa.securid://ctkip?scheme=http&url=127.0.0.1:${new URL(base).port}/ctkip/services/CtkipService&activationCode=${code}`,
            );
            const activated = await activateOverCtkip(tally.public, code);
            assert.ok(activated.token, activated.fault);
            await page.goto(`${base}/`);
            await page.getByRole('listitem').filter({ hasText: 'SecurID on iPhone' }).getByText('Active', { exact: true }).waitFor();
          },
        );

        await t.test('file: the password and a one-time download; the file opens with the password and gives the same codes', async () => {
          await page.goto(`${base}/request`);
          await page.getByRole('radio', { name: /^Command-line token/ }).check();
          await page.getByRole('button', { name: 'Request token' }).click();
          await page.getByRole('listitem').filter({ hasText: 'Command-line token' }).getByRole('link', { name: 'Activate' }).click();
          await page.getByRole('heading', { name: 'Download your token file' }).waitFor();
          const password = (await page.locator('#file-password').textContent())!.trim();
          await shoot(page, '08-download-file');
          const action = await page
            .locator('form', { has: page.getByRole('button', { name: 'Download token file' }) })
            .getAttribute('action');
          const link = new URL(action!, page.url()).href;
          // The link as a mail would carry it: opening it shows a page and uses nothing; its button downloads.
          await page.goto(link);
          await page.getByRole('heading', { name: 'Download your token file' }).waitFor();
          await shoot(page, '08b-download-link');
          const [download] = await Promise.all([
            page.waitForEvent('download'),
            page.getByRole('button', { name: 'Download', exact: true }).click(),
          ]);
          const file = join(work, download.suggestedFilename());
          await download.saveAs(file);
          const candidate = firstItem(readTokenFile(readFileSync(file), password).candidates);
          const expected = runPeer('oathtool', ['--totp', '-b', '-N', `@${at}`, encodeBase32(candidate.seed)]).trim();
          const row = await store.db.selectFrom('tokens').selectAll().where('serial', '=', candidate.serial).executeTakeFirstOrThrow();
          assert.equal(row.state, 'active');
          assert.equal(encodeBase32(tally.services.tokens.material(row).seed), encodeBase32(candidate.seed));
          assert.match(expected, /^\d{6}$/);
          const second = await page.request.post(link);
          assert.equal(second.status(), 410, 'the link works once');
          const reopened = await page.request.get(link);
          assert.equal(reopened.status(), 410, 'a used link opens an error page');
        });

        await t.test('a profile that needs approval: the user is told the request waits', async () => {
          await page.goto(`${base}/request`);
          await page.getByRole('radio', { name: /^Contractor phone/ }).check();
          await page.getByRole('button', { name: 'Request token' }).click();
          await page.getByText("waits for an administrator's approval").first().waitFor();
          await shoot(page, '09-waiting-for-approval', { forDocs: true });
        });

        await t.test('a token of her own: its details, and a name she chooses', async () => {
          await page.goto(`${base}/tokens/${serial}`);
          await page.getByLabel('Name', { exact: true }).fill('Work phone');
          await page.getByRole('button', { name: 'Save name' }).click();
          await page.getByText('The name has been saved.').waitFor();
          await page.getByRole('heading', { name: 'Work phone' }).waitFor();
          await shoot(page, '10-token-details');
        });

        await t.test('readable on a phone', async () => {
          await page.setViewportSize({ width: 390, height: 844 });
          await page.goto(`${base}/`);
          assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'no sideways scrolling');
          await shoot(page, '11-my-tokens-phone', { forDocs: true });
          const pendingRequest = (await api('GET', '/api/v1/requests?state=pending')).json().requests[0];
          await api('POST', `/api/v1/requests/${pendingRequest.id}/approve`);
          await page.goto(`${base}/`);
          await page.getByRole('listitem').filter({ hasText: 'Contractor phone' }).getByRole('link', { name: 'Activate' }).click();
          assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
          await shoot(page, '12-activate-qr-phone', { forDocs: true });
        });

        await t.test('manage a token: test a code (then refused at the VPN), report it lost, the emergency code shown once', async () => {
          await page.setViewportSize({ width: 1024, height: 720 });
          await page.goto(`${base}/tokens/${serial}`);
          await page.getByRole('heading', { name: 'Test a code' }).waitFor();
          tally.clock.advance(30);
          const code = runPeer('oathtool', ['--totp', '-b', '-N', `@${at + 60}`, secret]).trim();
          await page.getByLabel('Tokencode').fill(code);
          await page.getByRole('button', { name: 'Test code' }).click();
          await page.getByText('That code is right: your token works.').waitFor();
          assert.ok(!page.url().includes(code), 'no code in the address');
          await shoot(page, '13-token-test-a-code', { forDocs: true });
          const replay = await tally.admin.inject({
            method: 'POST',
            url: '/api/v1/auth/verify',
            headers: bearer(tally.tokens.agent),
            payload: { username: 'alice', passcode: code },
          });
          assert.equal(replay.json().result, 'reject', 'a tested code is used up');

          await page.getByLabel('This token is lost: stop it working now').check();
          await page.getByRole('button', { name: 'Report lost' }).click();
          await page.getByRole('heading', { name: 'Your emergency access code' }).waitFor();
          const emergency = (await page.locator('#emergency-code').textContent())!.trim();
          assert.match(emergency, /^\d{8}$/);
          assert.ok(!page.url().includes(emergency));
          await page.getByText('Note it now: it is shown only this once.').waitFor();
          await shoot(page, '14-token-emergency-code', { forDocs: true });
          await page.reload();
          await page.getByRole('heading', { name: 'Reported lost' }).waitFor();
          assert.equal(await page.getByText(emergency).count(), 0, 'not shown again on a reload');
          assert.equal(await page.getByRole('button', { name: 'Report lost' }).count(), 0);
          await shoot(page, '15-token-reported-lost');
          const verify = async (passcode: string) =>
            (
              await tally.admin.inject({
                method: 'POST',
                url: '/api/v1/auth/verify',
                headers: bearer(tally.tokens.agent),
                payload: { username: 'alice', passcode },
              })
            ).json().result;
          assert.equal(
            await verify(runPeer('oathtool', ['--totp', '-b', '-N', `@${at + 90}`, secret]).trim()),
            'reject',
            'the lost token no longer works',
          );
          assert.equal(await verify(emergency), 'accept', 'the emergency code stands in for it, once');
          assert.equal(await verify(emergency), 'reject');
        });

        assert.deepEqual(scriptErrors, [], 'no script or CSP errors in the console');
      } finally {
        await context.close();
        await tally.close();
        await store.close();
        await handle.cleanup();
        rmSync(profileDir, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
