import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { systemActor } from '../../src/domain/actor.js';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { readTokenFile } from '../../src/tokens/files.js';
import { tokenType } from '../../src/tokens/registry.js';
import { launchChromium } from '../support/chromium.js';
import { repoRoot } from '../support/cli.js';
import { firstItem } from '../support/items.js';
import { interopTest } from '../support/peers.js';
import { freshStoreOptions } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally, type TestTally } from '../support/tally.js';

const SCREENSHOTS = join(repoRoot, 'artifacts/screenshots');
const DOC_IMAGES = join(repoRoot, 'docs/guides/images');
const HELPDESK = { username: 'hilda', password: 'helpdesk-password-1' };
const TEAM = Array.from({ length: 200 }, (_, i) => `team${String(i + 1).padStart(3, '0')}`);

/**
 * Screenshots for CI artefacts: full pages by default, long reports as the screen shows them. With
 * UPDATE_DOC_SCREENSHOTS=1 the guide's images are refreshed too.
 */
async function shoot(page: Page, name: string, options: { fullPage?: boolean; forDocs?: boolean } = {}): Promise<void> {
  const path = join(SCREENSHOTS, `console-${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? true });
  if (options.forDocs && process.env.UPDATE_DOC_SCREENSHOTS === '1') copyFileSync(path, join(DOC_IMAGES, `console-${name}.png`));
}

/** A day of authentications for the dashboard's chart: carol's token accepts, an unknown name is refused. */
async function aDayOfAuthentications(tally: TestTally): Promise<void> {
  const { services, clock } = tally;
  const now = clock.ms;
  await services.users.create(systemActor, { username: 'carol' });
  await services.profiles.create(systemActor, {
    name: 'Setup file',
    tokenType: 'totp',
    deviceType: 'tally-cli',
    delivery: 'file',
    tokenLifetimeDays: 21,
  });
  await services.profiles.create(systemActor, {
    name: 'Contractor phone',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
  });
  const { serial } = await services.distribution.distributeToUser(systemActor, 'carol', 'Setup file');
  await services.distribution.adminDownload(systemActor, serial);
  const row = await tally.store.db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  const material = services.tokens.material(row);
  for (let hoursAgo = 23; hoursAgo >= 0; hoursAgo--) {
    clock.ms = now - hoursAgo * 3_600_000;
    for (let i = 0; i < 2 + ((hoursAgo * 7) % 5); i++) {
      clock.advance(30 + i * 30);
      const passcode = tokenType('totp').codeAt(material, Math.floor(clock.ms / 30_000));
      await services.authentication.verify(systemActor, { username: 'carol', passcode, channel: 'radius' });
    }
    for (let i = 0; i < (hoursAgo % 6 === 2 ? 3 : hoursAgo % 4 === 0 ? 1 : 0); i++)
      await services.authentication.verify(systemActor, { username: 'mallory', passcode: '123456', channel: 'radius' });
  }
  clock.ms = now;
}

async function logOn(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/console`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log on' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}

interopTest(
  'Security Console in Chromium: profiles, distribution by serial, one download, reissue, audit; help desk kept from the editor and seeds; bulk distribution to 200 users',
  ['chromium'],
  async (t) => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const handle = freshStoreOptions('sqlite');
    const store = await openStore(handle.options);
    await migrateToLatest(store);
    const tally = await createTestTally(store);
    const work = mkdtempSync(join(tmpdir(), 'tally-console-e2e-'));
    const browser = await launchChromium();
    const { page } = browser;
    try {
      await tally.services.users.create(systemActor, { username: HELPDESK.username, password: HELPDESK.password, role: 'helpdesk' });
      await aDayOfAuthentications(tally);
      await tally.admin.listen({ host: '127.0.0.1', port: 0 });
      const address = tally.admin.server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      let serial = '';

      await t.test('a super admin logs on', async () => {
        await page.goto(`${base}/console`);
        assert.equal(
          await page.evaluate(() => getComputedStyle(document.body).backgroundColor),
          'rgb(244, 246, 249)',
          'the stylesheet is applied',
        );
        await shoot(page, '01-log-on');
        await logOn(page, base, 'admin', ADMIN_PASSWORD);
        await page.getByRole('img', { name: 'Authentications per hour, last 24 hours' }).waitFor();
        await shoot(page, '02-dashboard', { forDocs: true });
      });

      await t.test(
        'creates profiles for phones and desktops; the editor offers only what the device can take, and says why not',
        async () => {
          await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Profiles' }).click();
          await page.getByRole('link', { name: 'New profile' }).click();
          await page.getByRole('radio', { name: /^Standard authenticator app/ }).check();
          await page.getByLabel('Token type').selectOption('totp');
          await shoot(page, '03-profile-device');
          await page.getByRole('button', { name: 'Continue' }).click();
          await page.getByLabel('Name', { exact: true }).fill('Phone app');
          await page.getByRole('radio', { name: /^QR code/ }).check();
          await page.getByLabel('Users may request this token in the Self-Service Console').check();
          await page.getByRole('button', { name: 'Create profile' }).click();
          await page.getByText('The profile has been created.').waitFor();

          await page.goto(`${base}/console/profiles/new`);
          await page.getByRole('radio', { name: /^Tally command-line token/ }).check();
          await page.getByLabel('Token type').selectOption('totp');
          await page.getByRole('button', { name: 'Continue' }).click();
          const qr = page.getByRole('radio', { name: /^QR code/ });
          assert.equal(await qr.isDisabled(), true, 'a command line cannot take a QR code');
          await page.getByText('Not possible: a command line cannot scan a QR code.').waitFor();
          await page.getByLabel('Name', { exact: true }).fill('Desktop token file');
          await page.getByRole('radio', { name: /^Token file/ }).check();
          await page.getByLabel('File password', { exact: true }).selectOption('generated');
          await shoot(page, '04-profile-form', { forDocs: true });
          await page.getByRole('button', { name: 'Create profile' }).click();
          await page.getByText('The profile has been created.').waitFor();
          await page.getByRole('heading', { name: 'Desktop token file' }).waitFor();
          await shoot(page, '05-profile');
        },
      );

      await t.test('distributes a token to a user by serial and downloads the file once', async () => {
        await page.goto(`${base}/console/users/new`);
        await page.getByLabel('Username').fill('alice');
        await page.getByLabel('Email').fill('alice@example.com');
        await page.getByRole('button', { name: 'Create user' }).click();
        await page.getByText('The user has been created.').waitFor();

        await page.goto(`${base}/console/tokens/generate`);
        await page.getByLabel('Profile').selectOption('Desktop token file');
        await page.getByLabel('How many').fill('3');
        await page.getByRole('button', { name: 'Generate' }).click();
        await page.getByText('3 token(s) generated').waitFor();
        const first = page.getByRole('row').nth(1).getByRole('link');
        serial = (await first.textContent())!.trim();
        await first.click();
        await page.getByRole('heading', { name: new RegExp(serial) }).waitFor();
        await page.getByLabel('Username').fill('alice');
        await page.getByRole('button', { name: 'Assign and distribute' }).click();
        await page.getByRole('heading', { name: 'Token assigned' }).waitFor();
        const password = (await page.locator('#file-password').textContent())!.trim();
        await shoot(page, '06-assigned', { forDocs: true });
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('button', { name: 'Download the file' }).click(),
        ]);
        const file = join(work, download.suggestedFilename());
        await download.saveAs(file);
        const candidate = firstItem(readTokenFile(readFileSync(file), password).candidates);
        assert.equal(candidate.serial, serial);

        await page.getByRole('button', { name: 'Download the file' }).click();
        await page.getByText('has no file waiting to be downloaded').waitFor();
        await shoot(page, '07-downloaded-once');
      });

      await t.test('reissues it, and the audit shows both actions by the super admin', async () => {
        await page.goto(`${base}/console/tokens/${serial}`);
        // Reissuing a token in use asks first, as Unassign and Delete do.
        await page.getByRole('button', { name: 'Reissue' }).click();
        await page.getByText('Tick the box to confirm').waitFor();
        await page.getByRole('checkbox', { name: /Replace the token .+ uses now/ }).check();
        await page.getByRole('button', { name: 'Reissue' }).click();
        await page.getByRole('heading', { name: 'Token reissued' }).waitFor();
        await page.locator('#download-url').waitFor();
        await page.goto(`${base}/console/audit?serial=${serial}`);
        const rows = (action: string, result: 'Success' | 'Failure' = 'Success') =>
          page
            .getByRole('row')
            .filter({ has: page.getByRole('cell', { name: action, exact: true }) })
            .filter({ hasText: result });
        for (const action of ['token.assign', 'token.download', 'token.reissue']) {
          assert.equal(await rows(action).count(), 1, action);
          assert.match(
            (await rows(action).getByRole('cell').nth(1).textContent())!,
            /admin\s+\(console\)/,
            `${action} was done by the admin`,
          );
        }
        assert.equal(await rows('token.download', 'Failure').count(), 1, 'the second download was refused, and recorded');
        await shoot(page, '08-audit-token', { forDocs: true });
      });

      await t.test('answers "who did what" for a user, and approves a request waiting for it', async () => {
        await page.goto(`${base}/console/users/carol`);
        await page.getByRole('heading', { name: 'Recent authentications' }).waitFor();
        await shoot(page, '09-user');
        await tally.services.requests.request({ kind: 'user', name: 'carol', role: 'user' }, 'Contractor phone');
        await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Requests' }).click();
        await page.getByRole('row').filter({ hasText: 'carol' }).getByRole('button', { name: 'Approve' }).waitFor();
        await shoot(page, '10-requests');
        await page.getByRole('row').filter({ hasText: 'carol' }).getByRole('button', { name: 'Approve' }).click();
        await page.getByRole('heading', { name: /Request \d+ approved/ }).waitFor();
        await page.goto(`${base}/console/settings`);
        await shoot(page, '11-settings');
      });

      await t.test('bulk distribution to 200 users completes and reports', async () => {
        await page.goto(`${base}/console/users/import`);
        await page
          .getByLabel('Or paste the CSV')
          .fill(
            ['username,email,firstName', ...TEAM.map((name) => `${name},${name}@example.com,${name.replace('team', 'Member ')}`)].join(
              '\n',
            ),
          );
        await page.getByRole('button', { name: 'Import' }).click();
        await page.getByText('200 created, 0 refused.').waitFor();
        await shoot(page, '12-import-report', { fullPage: false });
        await page.goto(`${base}/console/bulk`);
        await page.getByLabel('Profile').selectOption('Phone app');
        await page.getByRole('textbox', { name: 'Usernames' }).fill([...TEAM, 'nobody'].join('\n'));
        await shoot(page, '13-bulk-form');
        await page.getByRole('button', { name: 'Start distribution' }).click();
        await page.getByText('Finished: 200 distributed, 1 failed, of 201.').waitFor({ timeout: 30_000 });
        assert.equal(await page.getByRole('row').filter({ hasText: 'Distributed' }).count(), 200);
        await shoot(page, '14-bulk-finished', { fullPage: false, forDocs: true });
        await page.getByRole('navigation', { name: 'Filter the report' }).getByRole('link', { name: 'Failed' }).click();
        const failed = page.getByRole('row').filter({ hasText: 'nobody' });
        await failed.getByText('No user named nobody.').waitFor();
        assert.equal(await page.getByRole('row').count(), 2, 'the header and the one failure');
        const tokens = await store.db
          .selectFrom('tokens')
          .innerJoin('users', 'users.id', 'tokens.user_id')
          .select('users.username')
          .where('users.username', 'like', 'team%')
          .execute();
        assert.equal(new Set(tokens.map((t) => t.username)).size, 200);
      });

      await t.test('a help-desk admin cannot open the profile editor or see a seed, by URL either', async () => {
        await page.getByRole('button', { name: 'Log off' }).click();
        await page.getByText('You have logged off.').waitFor();
        await logOn(page, base, HELPDESK.username, HELPDESK.password);
        assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0);
        await page.goto(`${base}/console/profiles`);
        assert.equal(await page.getByRole('link', { name: 'New profile' }).count(), 0);
        for (const url of [
          '/console/profiles/new',
          '/console/profiles/new?deviceType=tally-cli&tokenType=totp',
          `/console/profiles/${encodeURIComponent('Desktop token file')}/edit`,
        ]) {
          const response = await page.goto(`${base}${url}`);
          assert.equal(response?.status(), 403, url);
          await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
        }
        await shoot(page, '15-helpdesk-profile-editor');

        await page.goto(`${base}/console/tokens/${serial}`);
        assert.equal(await page.getByRole('button', { name: 'Download the file' }).count(), 0);
        const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
        const download = await page.request.post(`${base}/console/tokens/${serial}/download`, {
          form: { _csrf: csrf },
          headers: { accept: 'text/html' },
        });
        assert.equal(download.status(), 403);
        assert.doesNotMatch(await download.text(), /<\?xml|KeyContainer|Secret/);
        await page.getByRole('checkbox', { name: /Replace the token .+ uses now|Replace what waits for/ }).check();
        await page.getByRole('button', { name: 'Reissue' }).click();
        await page.getByRole('heading', { name: 'Token reissued' }).waitFor();
        await page.getByText('Your role never sees a seed').waitFor();
        assert.equal(await page.locator('#download-url, #file-password').count(), 0);
        await shoot(page, '16-helpdesk-reissue');
      });

      await t.test('the dashboard counts it all', async () => {
        await page.goto(`${base}/console`);
        await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
        await shoot(page, '17-dashboard-after');
        const shown = new Map(
          await page
            .locator('.stat')
            .evaluateAll((stats) =>
              stats.map(
                (stat) =>
                  [
                    stat.querySelector('.stat-label')?.textContent ?? '',
                    Number((stat.querySelector('.stat-value')?.textContent ?? '').replace(/,/g, '')),
                  ] as const,
              ),
            ),
        );
        const { db } = tally.store;
        const count = async (table: 'users' | 'tokens' | 'token_requests', where?: [string, string]) => {
          let query = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
          if (where) query = query.where(where[0] as never, '=', where[1] as never);
          return Number((await query.executeTakeFirstOrThrow()).n);
        };
        // aDayOfAuthentications: 2 + (7h mod 5) accepts in each of the 24 hours; 3 or 1 unknown-user failures in some.
        const accepted = Array.from({ length: 24 }, (_, h) => 2 + ((h * 7) % 5)).reduce((a: number, b) => a + b, 0);
        const failed = Array.from({ length: 24 }, (_, h) => (h % 6 === 2 ? 3 : h % 4 === 0 ? 1 : 0)).reduce((a: number, b) => a + b, 0);
        assert.deepEqual(Object.fromEntries(shown), {
          Users: await count('users'),
          'Active tokens': await count('tokens', ['state', 'active']),
          'Pending activation': await count('tokens', ['state', 'pending']),
          'Requests waiting': await count('token_requests', ['state', 'pending']),
          'Authentications, 24 h': accepted + failed,
          'Failures, 24 h': failed,
          'Expiring within 30 days': 1, // carol's token, from a profile whose tokens live 21 days
          'Unassigned tokens': await count('tokens', ['state', 'unassigned']),
          'Mails given up': 0, // no mail server configured: nothing queued
        });
        assert.ok((await count('users')) > 200, "the bulk run's users are counted");
        await page.getByRole('img', { name: 'Authentications per hour, last 24 hours' }).waitFor();
        assert.match((await page.locator('#chart-desc').textContent()) ?? '', new RegExp(`^${accepted} succeeded and ${failed} failed`));
      });

      assert.deepEqual(browser.errors, [], 'no script or CSP errors in the console');
    } finally {
      await browser.close();
      await tally.close();
      await store.close();
      await handle.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
  },
);
