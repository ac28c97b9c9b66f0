import assert from 'node:assert/strict';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { launchChromium, listeningBase, logOnToSecurityConsole } from '../support/chromium.js';
import { interopTest } from '../support/peers.js';
import { freshStoreOptions } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally } from '../support/tally.js';

interopTest(
  'Security Console in Chromium: a PINPad profile with its PIN policy; PINPad is offered for SecurID only and takes digits only',
  ['chromium'],
  async () => {
    const handle = freshStoreOptions('sqlite');
    const store = await openStore(handle.options);
    await migrateToLatest(store);
    const tally = await createTestTally(store);
    const browser = await launchChromium();
    const { page } = browser;
    try {
      await tally.admin.listen({ host: '127.0.0.1', port: 0 });
      const base = listeningBase(tally.admin);
      await logOnToSecurityConsole(page, base, 'admin', ADMIN_PASSWORD);

      await page.goto(`${base}/console/profiles/new`);
      await page.getByRole('radio', { name: /^Tally command-line token/ }).check();
      await page.getByLabel('Token type').selectOption('totp');
      await page.getByRole('button', { name: 'Continue' }).click();
      const totpModes = await page.getByLabel('PIN', { exact: true }).locator('option').allTextContents();
      assert.equal(
        totpModes.some((mode) => mode.startsWith('PINPad')),
        false,
        'no PINPad for a TOTP profile',
      );

      await page.goto(`${base}/console/profiles/new`);
      await page.getByRole('radio', { name: /^RSA SecurID Software Token for Windows/ }).check();
      await page.getByLabel('Token type').selectOption('securid');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Name', { exact: true }).fill('Desktop PINPad');
      await page.getByRole('radio', { name: /^Token file/ }).check();
      await page.getByLabel('Digits').selectOption('6');
      await page.getByLabel('PIN', { exact: true }).selectOption('pinpad');
      await page.getByLabel('Shortest PIN').fill('5');
      await page.getByLabel('PIN characters').selectOption('alphanumeric');
      await page.getByRole('button', { name: 'Create profile' }).click();
      await page.getByText('A PINPad PIN is digits only: the app adds it into the tokencode digit by digit.').waitFor();

      await page.getByLabel('PIN characters').selectOption('digits');
      await page.getByRole('button', { name: 'Create profile' }).click();
      await page.getByText('The profile has been created.').waitFor();
      await page.getByText('PINPad (PIN typed into the app, which mixes it into the code)').waitFor();
      await page.getByText('5 to 6 digits; not one of the last two').waitFor();
      const stored = await tally.services.profiles.row('Desktop PINPad');
      assert.deepEqual(
        [stored.pin_mode, stored.pin_min_length, stored.pin_max_length, stored.pin_charset, stored.pin_reuse],
        ['pinpad', 5, 6, 'digits', 0],
      );
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await tally.close();
      await store.close();
      await handle.cleanup();
    }
  },
);
