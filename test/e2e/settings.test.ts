import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { launchChromium, listeningBase, logOnToSecurityConsole } from '../support/chromium.js';
import { repoRoot } from '../support/cli.js';
import { interopTest } from '../support/peers.js';
import { freshStoreOptions, testDialects } from '../support/store.js';
import { ADMIN_PASSWORD, bearer, createTestTally } from '../support/tally.js';

const SCREENSHOTS = join(repoRoot, 'artifacts/screenshots');
const DOC_IMAGES = join(repoRoot, 'docs/guides/images');

/** Screenshots for CI artefacts; with UPDATE_DOC_SCREENSHOTS=1 the guides' images are refreshed too. */
async function shoot(page: Page, name: string): Promise<void> {
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (process.env.UPDATE_DOC_SCREENSHOTS === '1') copyFileSync(path, join(DOC_IMAGES, `${name}.png`));
}
const CTKIP = {
  name: 'SecurID on iPhone',
  tokenType: 'securid',
  deviceType: 'ios',
  appVersion: '2.0',
  delivery: 'ctkip',
  selfService: true,
};
const QR = { name: 'Authenticator app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true };

/** A POST made past the page's hidden controls, with the session's form token: what a forged form would send. */
async function forgedPost(page: Page, path: string, fields: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return page.evaluate(
    async ({ path, fields }) => {
      const token = (document.querySelector('input[name="_csrf"]') as HTMLInputElement | null)?.value ?? '';
      const response = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams({ _csrf: token, ...fields }).toString(),
        redirect: 'manual',
      });
      return { status: response.status, text: await response.text() };
    },
    { path, fields },
  );
}

for (const dialect of testDialects())
  interopTest(
    `[${dialect}] Settings in Chromium: a super admin switches self-service features off and lowers the token limit; the Self-Service Console hides the controls and refuses forged requests`,
    ['chromium'],
    async () => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const handle = freshStoreOptions(dialect);
      const store = await openStore(handle.options);
      await migrateToLatest(store);
      const tally = await createTestTally(store);
      const browser = await launchChromium();
      const { page } = browser;
      try {
        const api = (method: 'POST' | 'GET', url: string, payload?: object) =>
          tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), ...(payload ? { payload } : {}) });
        for (const profile of [CTKIP, QR]) assert.equal((await api('POST', '/api/v1/profiles', profile)).statusCode, 201);
        assert.equal((await api('POST', '/api/v1/users', { username: 'alice', password: 'alice-password-1' })).statusCode, 201);
        const pending = (await api('POST', '/api/v1/users/alice/tokens', { profile: CTKIP.name })).json().serial as string;
        const active = (await api('POST', '/api/v1/users/alice/tokens', { profile: QR.name })).json().serial as string;
        await store.db.updateTable('tokens').set({ state: 'active' }).where('serial', '=', active).execute();
        await tally.admin.listen({ host: '127.0.0.1', port: 0 });
        await tally.public.listen({ host: '127.0.0.1', port: 0 });
        const consoleBase = listeningBase(tally.admin);
        const selfService = listeningBase(tally.public);
        const nav = page.getByRole('navigation');

        // Before: every feature is offered.
        await page.goto(`${selfService}/`);
        await page.getByLabel('Username').fill('alice');
        await page.getByLabel('Password').fill('alice-password-1');
        await page.getByRole('button', { name: 'Log on' }).click();
        await page.getByRole('heading', { name: 'My tokens' }).waitFor();
        assert.equal(await nav.getByRole('link', { name: 'Request a token' }).count(), 1);
        await page.goto(`${selfService}/tokens/${active}`);
        await page.getByRole('heading', { name: 'Report lost' }).waitFor();
        await page.goto(`${selfService}/tokens/${pending}/activate`);
        await page.getByRole('button', { name: 'New activation code' }).waitFor();
        await page.locator('#ctkip-url').waitFor();

        // A super admin changes the settings in the Security Console.
        const admin = await browser.context.newPage();
        await logOnToSecurityConsole(admin, consoleBase, 'admin', ADMIN_PASSWORD);
        await admin.getByRole('navigation').getByRole('link', { name: 'Settings' }).click();
        await admin.getByRole('heading', { name: 'Tokens and self-service' }).waitFor();
        assert.equal(await admin.getByLabel('Tokens per user').inputValue(), '3');
        await admin.getByLabel('Tokens per user').fill('0');
        await admin.getByRole('button', { name: 'Save settings' }).click();
        // The browser's own check (min 1) keeps the form; past it, the service refuses with the catalogue's message.
        assert.equal(await admin.getByText('The settings are saved').count(), 0);
        await admin.getByLabel('Tokens per user').fill('2');
        await admin.getByLabel('Users may request tokens').uncheck();
        await admin.getByLabel('Users may get a new activation code or download link').uncheck();
        await admin.getByLabel('Users may report a token lost').uncheck();
        await admin.getByLabel('Users see the CT-KIP URL as text').uncheck();
        await admin.getByRole('button', { name: 'Save settings' }).click();
        await admin.getByText('The settings are saved; every node applies them from now on.').waitFor();
        assert.equal(await admin.getByLabel('Tokens per user').inputValue(), '2');
        assert.equal(await admin.getByLabel('Users may report a token lost').isChecked(), false);
        await shoot(admin, 'console-09-settings');
        const current = await tally.services.settings.current();
        assert.deepEqual(current, {
          tokensPerUser: 2,
          selfServiceRequest: false,
          selfServiceReissue: false,
          selfServiceReportLost: false,
          selfServiceCtkipUrl: false,
        });

        // After: the controls are gone from the Self-Service Console ...
        await page.goto(`${selfService}/`);
        await page.getByRole('heading', { name: 'My tokens' }).waitFor();
        assert.equal(await nav.getByRole('link', { name: 'Request a token' }).count(), 0);
        assert.equal(await page.getByRole('link', { name: 'Request a token' }).count(), 0);
        await page.goto(`${selfService}/request`);
        await page.getByRole('heading', { name: 'Requests are switched off' }).waitFor();
        assert.equal(await page.getByRole('button', { name: 'Request token' }).count(), 0);
        await page.goto(`${selfService}/tokens/${active}`);
        await page.getByRole('heading', { name: 'Rename' }).waitFor();
        assert.equal(await page.getByRole('heading', { name: 'Report lost' }).count(), 0);
        await page.goto(`${selfService}/tokens/${pending}/activate`);
        await page.getByText('For a new one, ask your IT helpdesk.').waitFor();
        assert.equal(await page.getByRole('button', { name: 'New activation code' }).count(), 0);
        assert.equal(await page.locator('#ctkip-url').count(), 0);
        await page.getByText('The URL to type comes from your IT helpdesk, by mail.').waitFor();
        await page.locator('#activation-code').waitFor();
        await shoot(page, 'self-service-activate-switched-off');

        // ... and what a forged form posts anyway is refused by the service.
        const lost = await forgedPost(page, `/tokens/${active}/lost`, { confirm: 'yes' });
        assert.equal(lost.status, 403);
        assert.match(lost.text, /Reporting a token lost is switched off in the Self-Service Console/);
        const renew = await forgedPost(page, `/tokens/${pending}/activate/renew`);
        assert.equal(renew.status, 403);
        assert.match(renew.text, /SELF_SERVICE_DISABLED/);
        const request = await forgedPost(page, '/request', { profile: QR.name });
        assert.equal(request.status, 403);
        assert.match(request.text, /Requesting tokens is switched off/);
        assert.equal((await tally.services.tokens.get({ kind: 'system', name: 'system', role: 'system' }, active)).state, 'active');

        // Requests open again, the lowered limit holds: alice has two tokens already.
        await tally.services.settings.change({ kind: 'system', name: 'system', role: 'system' }, { selfServiceRequest: true });
        await page.goto(`${selfService}/request`);
        await page.getByRole('radio', { name: new RegExp(QR.name) }).check();
        await page.getByRole('button', { name: 'Request token' }).click();
        await page.getByText('You have 2 token(s), and a user may have 2').waitFor();
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
        await tally.close();
        await store.close();
        await handle.cleanup();
      }
    },
  );
