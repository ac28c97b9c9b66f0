import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { systemActor } from '../../src/domain/actor.js';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { launchChromium } from '../support/chromium.js';
import { repoRoot } from '../support/cli.js';
import { interopTest } from '../support/peers.js';
import { GROUPS, PEOPLE, READER_DN, READER_PASSWORD, SUFFIX, startDirectory } from '../support/slapd.js';
import { freshStoreOptions, testDialects } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally } from '../support/tally.js';

const SCREENSHOTS = join(repoRoot, 'artifacts/screenshots');
const DOC_IMAGES = join(repoRoot, 'docs/guides/images');
const HELPDESK = { username: 'hilda', password: 'helpdesk-password-1' };

/** Screenshots for CI artefacts; with UPDATE_DOC_SCREENSHOTS=1 the directory guide's images are refreshed too. */
async function shoot(page: Page, name: string): Promise<void> {
  const path = join(SCREENSHOTS, `console-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (process.env.UPDATE_DOC_SCREENSHOTS === '1') copyFileSync(path, join(DOC_IMAGES, `console-${name}.png`));
}

/** What a reader sees in an element, its blocks on lines of their own. */
async function textOf(locator: Locator): Promise<string> {
  return (await locator.allInnerTexts()).join('\n');
}

function baseOf(server: { address(): unknown }): string {
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? (address as { port: number }).port : 0}`;
}

async function logOn(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/console`);
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log on' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}

/** A POST from the page without the session's form token: what another site's form would send. */
async function postWithoutFormToken(page: Page, path: string): Promise<number> {
  return page.evaluate(async (path) => {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: '',
      redirect: 'manual',
    });
    return response.status;
  }, path);
}

for (const dialect of testDialects())
  interopTest(
    `[${dialect}] Identity sources in Chromium: a super admin adds an OpenLDAP source through the form, tests users, syncs, orders and removes sources, and finds who left the directory; a help desk admin is refused`,
    ['chromium', 'slapd', 'ldapadd', 'openssl'],
    async () => {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const directory = await startDirectory();
      const handle = freshStoreOptions(dialect);
      const store = await openStore(handle.options);
      await migrateToLatest(store);
      const tally = await createTestTally(store);
      const browser = await launchChromium({ viewport: { width: 1360, height: 900 } });
      const { page } = browser;
      try {
        await tally.services.users.create(systemActor, { username: HELPDESK.username, password: HELPDESK.password, role: 'helpdesk' });
        await tally.admin.listen({ host: '127.0.0.1', port: 0 });
        const base = baseOf(tally.admin.server);
        await logOn(page, base, 'admin', ADMIN_PASSWORD);

        // The page, reached from the navigation: internal users first, no directory yet.
        await page.getByRole('navigation').getByRole('link', { name: 'Identity sources' }).click();
        await page.getByRole('heading', { name: 'Identity sources', level: 1 }).waitFor();
        await page.getByText('No directory yet').waitFor();

        // The Active Directory preset fills AD's names (an example of the form for the guide).
        await page.getByRole('link', { name: 'Add source' }).click();
        await page.getByRole('link', { name: 'Active Directory preset' }).click();
        assert.equal(await page.getByLabel('Login name attribute', { exact: true }).inputValue(), 'sAMAccountName');
        assert.equal(await page.getByLabel('Stable id attribute', { exact: true }).inputValue(), 'objectGUID');
        assert.equal(await page.getByLabel('User filter', { exact: true }).inputValue(), '(&(objectCategory=person)(objectClass=user))');
        await page.getByLabel('Name', { exact: true }).fill('corp-ad');
        await page.getByLabel('URLs', { exact: true }).fill('ldaps://dc1.corp.example.org\nldaps://dc2.corp.example.org');
        await page.getByLabel('Bind DN', { exact: true }).fill('CN=tally-reader,OU=Service Accounts,DC=corp,DC=example,DC=org');
        await page.getByLabel('Base DN', { exact: true }).fill('DC=corp,DC=example,DC=org');
        await page.getByLabel('Help desk group', { exact: true }).fill('CN=Tally Help Desk,OU=Groups,DC=corp,DC=example,DC=org');
        await shoot(page, '19-identity-source-ad-preset');

        // The OpenLDAP preset; plain ldap:// without the allow box is refused with the domain's message, the form kept.
        await page.getByRole('link', { name: 'OpenLDAP preset' }).click();
        assert.equal(await page.getByLabel('Login name attribute', { exact: true }).inputValue(), 'uid');
        assert.equal(await page.getByLabel('Stable id attribute', { exact: true }).inputValue(), 'entryUUID');
        await page.getByLabel('Name', { exact: true }).fill('corp');
        await page.getByLabel('URLs', { exact: true }).fill(directory.ldapUrl);
        await page.getByLabel('CA file', { exact: true }).fill(directory.caFile);
        await page.getByLabel('Bind DN', { exact: true }).fill(READER_DN);
        await page.getByLabel('Bind password', { exact: true }).fill(READER_PASSWORD);
        await page.getByLabel('Base DN', { exact: true }).fill(SUFFIX);
        await page.getByLabel('Help desk group', { exact: true }).fill(`cn=tally-helpdesk,${GROUPS}`);
        await page.getByRole('button', { name: 'Add source' }).click();
        await page.getByText('URLs must be ldaps:// URLs, or ldap:// with startTls or allowPlain').waitFor();
        assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'corp');
        assert.equal(await page.getByLabel('Base DN', { exact: true }).inputValue(), SUFFIX);
        assert.equal(await page.getByLabel('Bind password', { exact: true }).inputValue(), '', 'the bind password is never rendered back');
        assert.ok(!(await page.content()).includes(READER_PASSWORD));
        await page.getByLabel('URLs', { exact: true }).fill(directory.ldapsUrl);
        await page.getByLabel('Bind password', { exact: true }).fill(READER_PASSWORD);
        await page.getByRole('button', { name: 'Add source' }).click();
        await page.getByText('The identity source is added').waitFor();
        assert.ok(!(await page.content()).includes(READER_PASSWORD));

        // Bind and find this user: the mapped attributes, the groups (nested) and the role they give.
        await page.getByRole('link', { name: 'Test', exact: true }).click();
        await page.getByLabel('Login name', { exact: true }).fill('alice');
        await page.getByRole('button', { name: 'Test', exact: true }).click();
        await page.getByRole('heading', { name: 'Found alice' }).waitFor();
        const found = await textOf(page.locator('main'));
        assert.match(found, new RegExp(`uid=alice,${PEOPLE}`));
        assert.match(found, /alice@example\.org/);
        assert.match(found, /\+44 20 7946 0500/);
        assert.match(found, new RegExp(`cn=helpdesk-staff,${GROUPS}`));
        assert.match(found, new RegExp(`cn=tally-helpdesk,${GROUPS}`), 'the nested group is listed');
        assert.match(found, /Role\s+Help desk/);
        assert.match(found, /Allowed/);
        await shoot(page, '21-identity-source-test');
        await page.getByLabel('Login name', { exact: true }).fill('dave');
        await page.getByRole('button', { name: 'Test', exact: true }).click();
        await page.getByText('Locked (nsAccountLock)').waitFor();
        await page.getByLabel('Login name', { exact: true }).fill('*)(uid=*');
        await page.getByRole('button', { name: 'Test', exact: true }).click();
        await page.getByText('corp finds no user with uid *)(uid=*.').waitFor();

        // A wrong bind password: a clear message, never the directory's own text; the empty field keeps the password.
        await page.getByRole('link', { name: 'Edit' }).click();
        assert.equal(await page.getByLabel('Bind password', { exact: true }).inputValue(), '');
        await page.getByLabel('Bind password', { exact: true }).fill('not-the-password');
        await page.getByRole('button', { name: 'Save source' }).click();
        await page.getByText('The identity source is saved.').waitFor();
        await page.getByRole('link', { name: 'Test', exact: true }).click();
        await page.getByLabel('Login name', { exact: true }).fill('alice');
        await page.getByRole('button', { name: 'Test', exact: true }).click();
        await page.getByText("The directory refused the identity source's bind account (its DN or password).").waitFor();
        assert.doesNotMatch(await textOf(page.locator('main')), /Invalid ?Credentials|LDAP|code 49/i);
        await page.getByRole('link', { name: 'Edit' }).click();
        await page.getByLabel('Bind password', { exact: true }).fill(READER_PASSWORD);
        await page.getByRole('button', { name: 'Save source' }).click();
        await page.getByText('The identity source is saved.').waitFor();
        await page.getByRole('link', { name: 'Edit' }).click();
        await page.getByLabel('Timeout (seconds)', { exact: true }).fill('7');
        await page.getByRole('button', { name: 'Save source' }).click();
        await page.getByText('The identity source is saved.').waitFor();
        const [corp] = await tally.services.directory.list(systemActor);
        assert.equal(corp?.timeoutSeconds, 7);
        assert.equal(
          (await tally.services.directory.test(systemActor, 'corp', 'alice')).found.role,
          'helpdesk',
          'an empty field kept the password',
        );

        // Users appear on first use; carol then leaves the directory and Sync now marks her gone.
        await tally.services.directory.ensureLocal('alice');
        await tally.services.directory.ensureLocal('carol');
        directory.modify(`dn: uid=carol,${PEOPLE}\nchangetype: delete\n`);
        await page.getByRole('row', { name: /corp/ }).getByRole('button', { name: 'Sync now' }).click();
        await page.getByRole('heading', { name: 'Synced corp' }).waitFor();
        await page.getByText('corp: 2 checked, 1 updated, 1 gone, 0 disabled.').waitFor();
        await page.getByRole('link', { name: 'carol' }).waitFor();
        await page.getByRole('link', { name: 'Identity sources' }).first().click();
        assert.match(await textOf(page.getByRole('row', { name: /corp/ })), /2 checked, 1 updated, 1 gone, 0 disabled/);
        await shoot(page, '20-identity-sources');

        // The users list shows each user's source and state, and finds those who left the directory.
        await page.getByRole('navigation').getByRole('link', { name: 'Users' }).click();
        assert.match(await textOf(page.getByRole('row', { name: /alice/ })), /corp\s+Present/);
        assert.match(await textOf(page.getByRole('row', { name: /hilda/ })), /Internal/);
        await page.getByLabel('Directory', { exact: true }).selectOption({ label: 'Left the directory' });
        await page.getByRole('button', { name: 'Search' }).click();
        await page.getByRole('row', { name: /carol/ }).waitFor();
        assert.equal(await page.getByRole('row', { name: /alice/ }).count(), 0);
        assert.equal(await page.getByRole('row', { name: /hilda/ }).count(), 0);
        await page.getByRole('link', { name: 'carol' }).click();
        assert.match(await textOf(page.locator('main')), /Left the directory/);

        // Order: a second source moved before the first; then removed, after a confirmation.
        await tally.services.directory.create(systemActor, {
          name: 'backup',
          type: 'ldap',
          urls: [directory.ldapsUrl],
          caFile: directory.caFile,
          bindDn: READER_DN,
          bindPassword: READER_PASSWORD,
          baseDn: SUFFIX,
        });
        await page.getByRole('navigation').getByRole('link', { name: 'Identity sources' }).click();
        await page.getByRole('button', { name: 'Move backup up' }).click();
        await page.getByText('The order is saved').waitFor();
        assert.deepEqual(
          (await tally.services.directory.list(systemActor)).map((source) => source.name),
          ['backup', 'corp'],
        );
        assert.equal(await page.getByRole('button', { name: 'Move corp up' }).count(), 1);
        await page
          .getByRole('row', { name: /backup/ })
          .getByRole('link', { name: 'Remove' })
          .click();
        await page.getByRole('button', { name: 'Remove source' }).click();
        await page.getByText('Tick the box to confirm the source is to be removed').waitFor();
        await page.getByLabel('Remove backup and disable its users', { exact: true }).check();
        await page.getByRole('button', { name: 'Remove source' }).click();
        await page.getByText('The identity source is removed').waitFor();
        assert.deepEqual(
          (await tally.services.directory.list(systemActor)).map((source) => source.name),
          ['corp'],
        );

        // A POST without the form token is refused, and changes nothing.
        assert.equal(await postWithoutFormToken(page, '/console/identity-sources/corp/remove'), 403);
        assert.equal((await tally.services.directory.list(systemActor)).length, 1);

        // A help desk admin sees no link to the page, and is refused it.
        await page.getByRole('button', { name: 'Log off' }).click();
        await logOn(page, base, HELPDESK.username, HELPDESK.password);
        assert.equal(await page.getByRole('navigation').getByRole('link', { name: 'Identity sources' }).count(), 0);
        const refused = await page.goto(`${base}/console/identity-sources`);
        assert.equal(refused?.status(), 403);
        const test = await page.goto(`${base}/console/identity-sources/corp/test`);
        assert.equal(test?.status(), 403);
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
        await tally.close();
        await store.close();
        await handle.cleanup();
        await directory.stop();
      }
    },
  );
