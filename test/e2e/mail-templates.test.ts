import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SmtpMailer } from '../../src/domain/smtp-mailer.js';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { launchChromium, listeningBase, logOnToSecurityConsole } from '../support/chromium.js';
import { repoRoot } from '../support/cli.js';
import { firstItem } from '../support/items.js';
import { interopTest } from '../support/peers.js';
import { startSmtpServer } from '../support/smtp.js';
import { freshStoreOptions, testDialects } from '../support/store.js';
import { ADMIN_PASSWORD, bearer, createTestTally } from '../support/tally.js';

/** With UPDATE_DOC_SCREENSHOTS=1 the Security Console guide's image of the editor is refreshed. */
const GUIDE_IMAGE = join(repoRoot, 'docs/guides/images/console-15-mail-template.png');

for (const dialect of testDialects())
  interopTest(
    `[${dialect}] Security Console in Chromium: edit a mail template, preview it, a variable the mail lacks refused, reset; the mail that arrives says what was saved, and an admin's download of a file is mailed to its holder`,
    ['chromium'],
    async () => {
      const handle = freshStoreOptions(dialect);
      const store = await openStore(handle.options);
      await migrateToLatest(store);
      const smtp = await startSmtpServer();
      const mailer = new SmtpMailer({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'tally@example.org' });
      const tally = await createTestTally(store, { services: { publicUrl: 'https://tokens.example.org', mailer } });
      const browser = await launchChromium();
      const { page } = browser;
      const api = (url: string, payload: object) =>
        tally.admin.inject({ method: 'POST', url, headers: bearer(tally.tokens.superadmin), payload });
      try {
        await api('/api/v1/users', { username: 'carol', email: 'carol@example.org', firstName: 'Carol' });
        await api('/api/v1/profiles', { name: 'Desktop file', tokenType: 'totp', deviceType: 'tally-cli', delivery: 'file' });
        await tally.admin.listen({ host: '127.0.0.1', port: 0 });
        const base = listeningBase(tally.admin);
        await logOnToSecurityConsole(page, base, 'admin', ADMIN_PASSWORD);

        await page.getByRole('link', { name: 'Mail', exact: true }).click();
        await page.getByRole('heading', { name: 'Mail templates' }).waitFor();
        await page.getByRole('link', { name: 'A new token' }).click();
        await page.getByRole('heading', { name: 'A new token' }).waitFor();
        await page.getByText('{{nextSteps}}', { exact: true }).waitFor();

        // A variable the mail does not have: refused on preview and on save, the draft kept in the form.
        await page.getByLabel('Text').fill('Hello {{name}}, your code is {{activationCode}}.');
        await page.getByRole('button', { name: 'Preview' }).click();
        await page.getByText('text uses {{activationCode}}, which this mail does not have').waitFor();
        assert.equal(await page.getByLabel('Text').inputValue(), 'Hello {{name}}, your code is {{activationCode}}.');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByText('text uses {{activationCode}}, which this mail does not have').waitFor();

        // A preview shows the draft with sample values and saves nothing.
        await page
          .getByLabel('Text')
          .fill(
            'Hello {{name}},\n\nyour new token ({{token}}) is ready for you.\n\n{{nextSteps}}\n\nQuestions? Call the IT service desk on 1234.\n\n-- {{issuer}}',
          );
        await page.getByRole('button', { name: 'Preview' }).click();
        await page.getByRole('heading', { name: 'Preview' }).waitFor();
        await page.getByText('your new token (serial 000123456789, iPhone) is ready for you.').waitFor();
        if (process.env.UPDATE_DOC_SCREENSHOTS === '1') await page.screenshot({ path: GUIDE_IMAGE, fullPage: true });

        // Markup in a template or a value is text: the mail is plain text, the page escapes it.
        await page.getByLabel('Subject').fill('{{issuer}}: token {{serial}} <b>ready</b>');
        await page
          .getByLabel('Text')
          .fill('Hello {{name}} <script>alert(1)</script>,\n\ntoken {{token}} is yours.\n\n{{nextSteps}}\n\n-- IT');
        await page.getByRole('button', { name: 'Preview' }).click();
        await page.getByText('Tally: token 000123456789 <b>ready</b>').waitFor();
        assert.equal(await page.getByTestId('preview-subject').textContent(), 'Tally: token 000123456789 <b>ready</b>');
        const previewed = (await page.getByTestId('preview-text').textContent()) ?? '';
        assert.match(
          previewed,
          /^Hello Alice <script>alert\(1\)<\/script>,\n\ntoken serial 000123456789, iPhone is yours\.\n\nTo set it up, log on/,
        );
        assert.equal(await page.locator('.mail-preview script').count(), 0, 'the preview is text, not markup');
        assert.equal(
          (await tally.services.mailTemplates.get({ kind: 'system', name: 'system', role: 'system' }, 'token-issued')).edited,
          false,
        );

        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByText('The template is saved: mails from now on say this.').waitFor();
        await page.getByText('Edited', { exact: true }).waitFor();

        const distributed = (await api('/api/v1/users/carol/tokens', { profile: 'Desktop file' })).json();
        await tally.services.mailOutbox.deliverDue();
        const issued = firstItem(smtp.mails);
        assert.equal(issued.headers.subject, `Tally: token ${distributed.serial} <b>ready</b>`);
        assert.match(
          issued.text,
          new RegExp(`^Hello Carol <script>alert\\(1\\)</script>,\\n\\ntoken serial ${distributed.serial}, Desktop file is yours\\.`),
        );
        assert.match(issued.text, /\n\n-- IT\n$/);

        // The super admin downloads the holder's file from the token's page: the holder hears who and when.
        await page.goto(`${base}/console/tokens/${distributed.serial}`);
        await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download the file' }).click()]);
        await tally.services.mailOutbox.deliverDue();
        const downloaded = smtp.mails.at(-1);
        assert.equal(smtp.mails.length, 2);
        assert.equal(downloaded?.headers.subject, `Tally: the file of your token ${distributed.serial} was downloaded`);
        assert.match(downloaded?.text ?? '', /^Hello Carol,\n\nadmin downloaded the file of your token .* on 2026-11-29 12:00 UTC\./);

        await page.goto(`${base}/console/mail-templates/token-issued`);
        await page.getByRole('button', { name: 'Reset to Tally’s text' }).click();
        await page.getByText('The template is back to Tally’s text.').waitFor();
        assert.equal(await page.getByLabel('Subject').inputValue(), '{{issuer}}: a new token for you');
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
        await tally.close();
        await smtp.close();
        await store.close();
        await handle.cleanup();
      }
    },
  );
