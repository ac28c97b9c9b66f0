import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { parseCsv } from '../../src/core/csv/csv.js';
import { systemActor } from '../../src/domain/actor.js';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { launchChromium, listeningBase, logOnToSecurityConsole } from '../support/chromium.js';
import { repoRoot } from '../support/cli.js';
import { activate } from '../support/ctkip.js';
import { interopTest } from '../support/peers.js';
import { freshStoreOptions, insertTokenRow, testDialects } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally } from '../support/tally.js';

const SCREENSHOTS = join(repoRoot, 'artifacts/screenshots');
const DOC_IMAGES = join(repoRoot, 'docs/guides/images');
const TEAM = ['kai', 'lea', 'max'];

async function shoot(page: Page, name: string, forDocs: boolean): Promise<void> {
  const path = join(SCREENSHOTS, `console-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (forDocs && process.env.UPDATE_DOC_SCREENSHOTS === '1') copyFileSync(path, join(DOC_IMAGES, `console-${name}.png`));
}

for (const dialect of testDialects()) {
  interopTest(
    `Security Console in Chromium [${dialect}]: a CT-KIP bulk run's credentials file downloads once and its codes activate; assignments from CSV`,
    ['chromium'],
    async (t) => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const handle = freshStoreOptions(dialect);
      const store = await openStore(handle.options);
      await migrateToLatest(store);
      const tally = await createTestTally(store);
      const work = mkdtempSync(join(tmpdir(), 'tally-bulk-e2e-'));
      const browser = await launchChromium();
      const { page } = browser;
      const docs = dialect === 'sqlite';
      try {
        await tally.services.profiles.create(systemActor, {
          name: 'SecurID Android',
          tokenType: 'securid',
          deviceType: 'android',
          appVersion: '2.1',
          delivery: 'ctkip',
          digits: 8,
          period: 60,
        });
        for (const username of [...TEAM, 'nia']) await tally.services.users.create(systemActor, { username });
        await tally.admin.listen({ host: '127.0.0.1', port: 0 });
        const base = listeningBase(tally.admin);
        await logOnToSecurityConsole(page, base, 'admin', ADMIN_PASSWORD);

        await t.test('the run page offers the credentials file once, with the notice; the download is the CSV', async () => {
          await page.goto(`${base}/console/bulk`);
          await page.getByLabel('Profile').selectOption('SecurID Android');
          await page.getByRole('textbox', { name: 'Usernames' }).fill(TEAM.join('\n'));
          await page.getByRole('button', { name: 'Start distribution' }).click();
          await page.getByText('Finished: 3 distributed, 0 failed, of 3.').waitFor({ timeout: 30_000 });
          const runPage = page.url();
          const button = page.getByRole('button', { name: 'Download credentials file' });
          await page.getByText('It can be downloaded once').waitFor();
          await shoot(page, '15-bulk-credentials', docs);
          const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
          assert.match(download.suggestedFilename(), /^bulk-\d+-credentials\.csv$/);
          const file = join(work, download.suggestedFilename());
          await download.saveAs(file);
          const [header, ...rows] = parseCsv(readFileSync(file, 'utf8'));
          assert.deepEqual(header, ['username', 'serial', 'ctkipUrl', 'activationCode', 'expiresAt', 'status']);
          assert.deepEqual(
            rows.map((row) => row[0]),
            TEAM,
          );
          for (const row of rows) {
            const { token, fault } = await activate(tally.public, row[3] ?? '');
            assert.equal(fault, undefined, `the code of ${row[0]} activates`);
            assert.equal(token?.serial, row[1]);
          }

          // The page (not reloaded) still shows the button: a second click is refused, clearly.
          await button.click();
          await page.getByText(/was downloaded already, by admin at/).waitFor();
          await page.goto(runPage);
          await page.getByText(/Downloaded by admin on/).waitFor();
          assert.equal(await page.getByRole('button', { name: 'Download credentials file' }).count(), 0);
          await shoot(page, '16-bulk-credentials-downloaded', false);
        });

        await t.test('assignments from CSV: the form, a report per line', async () => {
          for (const serial of ['700000000101', '700000000102'])
            await insertTokenRow(store.db, tally.clock.now(), {
              serial,
              state: 'unassigned',
              origin: 'imported',
              seed_sealed: tally.services.tokens.sealSeed(serial, Buffer.alloc(20, 7)),
            });
          await page.goto(`${base}/console/tokens`);
          await page.getByRole('link', { name: 'Assign from CSV' }).click();
          await page
            .getByLabel('Or paste the CSV')
            .fill('serial,username,requiresNewPin\n700000000101,nia,yes\n700000000102,nobody,no\n700000000101,kai,\n');
          await shoot(page, '17-assignments-form', docs);
          await page.getByRole('button', { name: 'Assign' }).click();
          await page.getByText('1 assigned, 2 refused.').waitFor();
          const row = (line: number) => page.getByRole('row').filter({ has: page.getByRole('cell', { name: String(line), exact: true }) });
          await row(2).getByText('Assigned').waitFor();
          await row(3).getByText('No user named nobody.').waitFor();
          await row(4).getByText('listed on line 2 already').waitFor();
          await shoot(page, '18-assignments-report', docs);
          await page.getByRole('link', { name: '700000000101' }).click();
          await page.getByRole('heading', { name: /700000000101/ }).waitFor();
        });
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
        await tally.close();
        await store.close();
        await handle.cleanup();
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
}
