import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { systemActor } from '../../src/domain/actor.js';
import { freePort } from '../support/cli.js';
import { consoleClient } from '../support/console.js';
import { directoryForFile, GROUPS, PEOPLE, READER_DN, READER_PASSWORD, SUFFIX } from '../support/slapd.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally, type TestTally } from '../support/tally.js';
import { pageText, type WebClient } from '../support/web.js';

const { available, skip, directory } = directoryForFile();

/** The add form as a browser sends it, with the OpenLDAP preset's mapping. */
function sourceForm(overrides: Record<string, string | null> = {}): Record<string, string | null> {
  return {
    name: 'corp',
    preset: 'openldap',
    urls: directory().ldapsUrl,
    caFile: directory().caFile,
    timeoutSeconds: '5',
    bindDn: READER_DN,
    bindPassword: READER_PASSWORD,
    baseDn: SUFFIX,
    userFilter: '(objectClass=inetOrgPerson)',
    attr_login: 'uid',
    attr_id: 'entryUUID',
    attr_firstName: 'givenName',
    attr_lastName: 'sn',
    attr_mail: 'mail',
    attr_mobile: 'mobile',
    superadminGroup: '',
    helpdeskGroup: `cn=tally-helpdesk,${GROUPS}`,
    ...overrides,
  };
}

describeEachStore('identity sources in the Security Console', (getStore) => {
  let tally: TestTally;
  let admin: WebClient;
  before(async () => {
    if (!available) return;
    tally = await createTestTally(getStore());
    await tally.services.users.create(systemActor, { username: 'hilda', password: 'helpdesk-password-1', role: 'helpdesk' });
    admin = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '127.0.0.1');
  });
  after(async () => {
    await tally?.close();
  });

  test(
    'a refused form comes back as sent with the domain message, never with the bind password; then the source is added',
    skip,
    async () => {
      await admin.get('/console/identity-sources/new');
      const plain = await admin.post('/console/identity-sources', sourceForm({ urls: directory().ldapUrl }));
      assert.equal(plain.statusCode, 400);
      const text = pageText(plain.body);
      assert.match(text, /urls must be ldaps:\/\/ URLs, or ldap:\/\/ with startTls or allowPlain/);
      assert.match(plain.body, /value="corp"/);
      assert.match(plain.body, new RegExp(`value="cn=tally-helpdesk,${GROUPS}"`));
      assert.ok(!plain.body.includes(READER_PASSWORD));

      const badFilter = await admin.post('/console/identity-sources', sourceForm({ userFilter: 'objectClass=person' }));
      assert.equal(badFilter.statusCode, 400);
      assert.match(pageText(badFilter.body), /userFilter must be one parenthesised LDAP filter/);

      // Plain ldap:// with the explicit allow box is accepted.
      const added = await admin.post('/console/identity-sources', sourceForm({ urls: directory().ldapUrl, allowPlain: 'yes' }));
      assert.equal(added.statusCode, 303, added.body);
      const [source] = await tally.services.directory.list(systemActor);
      assert.equal(source?.allowPlain, true);
      assert.deepEqual(source?.roleGroups, { helpdesk: `cn=tally-helpdesk,${GROUPS}` });
      const events = await tally.services.audit.list(systemActor, { action: 'identity-source.create', limit: 5 });
      assert.equal(events[0]?.actor, 'admin');

      const taken = await admin.post('/console/identity-sources', sourceForm());
      assert.equal(taken.statusCode, 409);
      assert.match(pageText(taken.body), /An identity source named corp exists already/);
    },
  );

  test('editing with an empty bind password keeps it; the edit page never shows it', skip, async () => {
    const edit = await admin.get('/console/identity-sources/corp/edit');
    assert.equal(edit.statusCode, 200);
    assert.ok(!edit.body.includes(READER_PASSWORD));
    assert.match(edit.body, /name="bindPassword" type="password"(?! value)/);
    const saved = await admin.post(
      '/console/identity-sources/corp/edit',
      sourceForm({ name: null, urls: directory().ldapsUrl, bindPassword: '' }),
    );
    assert.equal(saved.statusCode, 303, saved.body);
    const tested = await admin.post('/console/identity-sources/corp/test', { username: 'alice' });
    assert.equal(tested.statusCode, 200, tested.body);
    const text = pageText(tested.body);
    assert.match(text, new RegExp(`DN uid=alice,${PEOPLE}`));
    assert.match(text, /Role Help desk/);
    assert.match(text, /Log-on Allowed/);
  });

  test('the AD preset fills the form; an edit with it keeps the connection settings', skip, async () => {
    const fresh = await admin.get('/console/identity-sources/new?preset=ad');
    assert.match(fresh.body, /value="sAMAccountName"/);
    assert.match(fresh.body, /value="objectGUID"/);
    const edit = await admin.get('/console/identity-sources/corp/edit?preset=ad');
    assert.match(edit.body, /value="sAMAccountName"/);
    assert.ok(edit.body.includes(`value="${SUFFIX}"`));
    assert.equal((await admin.get('/console/identity-sources/new?preset=novell')).statusCode, 400);
  });

  test('a test that reaches no directory says so plainly; a disabled AD account shows why it is refused', skip, async () => {
    await tally.services.directory.create(systemActor, {
      name: 'down',
      type: 'ldap',
      urls: [`ldaps://127.0.0.1:${await freePort()}`],
      bindDn: READER_DN,
      bindPassword: READER_PASSWORD,
      baseDn: SUFFIX,
      timeoutSeconds: 1,
    });
    await admin.get('/console/identity-sources/down/test');
    const unreachable = await admin.post('/console/identity-sources/down/test', { username: 'alice' });
    assert.equal(unreachable.statusCode, 422);
    assert.match(pageText(unreachable.body), /The identity source's test found no directory that answers/);
    assert.doesNotMatch(unreachable.body, /ECONNREFUSED|ldapts|stack/i);

    // A sync asks the directory only about the source's users: give it one.
    await tally.services.users.create(systemActor, { username: 'zed' });
    const down = await getStore().db.selectFrom('identity_sources').select('id').where('name', '=', 'down').executeTakeFirstOrThrow();
    await getStore()
      .db.updateTable('users')
      .set({ source_id: down.id, external_id: 'zed-id', directory_state: 'present' })
      .where('username', '=', 'zed')
      .execute();
    await admin.get('/console/identity-sources');
    const sync = await admin.post('/console/identity-sources/down/sync');
    assert.equal(sync.statusCode, 503);
    assert.match(pageText(sync.body), /The directory cannot be reached or did not answer in time/);

    await tally.services.directory.create(systemActor, {
      name: 'ad',
      type: 'ldap',
      preset: 'ad',
      urls: [directory().ldapsUrl],
      caFile: directory().caFile,
      bindDn: READER_DN,
      bindPassword: READER_PASSWORD,
      baseDn: SUFFIX,
      userFilter: '(objectClass=inetOrgPerson)',
    });
    await admin.get('/console/identity-sources/ad/test');
    const adam = await admin.post('/console/identity-sources/ad/test', { username: 'adam' });
    assert.equal(adam.statusCode, 200);
    assert.match(pageText(adam.body), /Log-on Refused Disabled or locked in Active Directory \(userAccountControl\)/);
    const ada = await admin.post('/console/identity-sources/ad/test', { username: 'ada' });
    assert.match(pageText(ada.body), /Stable id \(objectGUID\) 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/);
    assert.match(pageText(ada.body), new RegExp(`Groups cn=helpdesk-staff,${GROUPS}`));
  });

  test('moving a source changes the order; an end cannot move further', skip, async () => {
    await admin.get('/console/identity-sources');
    const moved = await admin.post('/console/identity-sources/ad/move', { direction: 'up' });
    assert.equal(moved.statusCode, 303);
    assert.deepEqual(
      (await tally.services.directory.list(systemActor)).map((source) => source.name),
      ['corp', 'ad', 'down'],
    );
    await admin.get('/console/identity-sources');
    const top = await admin.post('/console/identity-sources/corp/move', { direction: 'up' });
    assert.equal(top.statusCode, 400);
    assert.match(pageText(top.body), /already at that end of the order/);
  });

  test('removing needs the box ticked; the source’s users are then disabled and shown as left', skip, async () => {
    await tally.services.directory.ensureLocal('carol');
    assert.equal((await tally.services.users.get(systemActor, 'carol')).source, 'corp');
    await admin.get('/console/identity-sources/corp/remove');
    const unticked = await admin.post('/console/identity-sources/corp/remove', {});
    assert.equal(unticked.statusCode, 400);
    assert.match(pageText(unticked.body), /Tick the box to confirm the source is to be removed/);
    assert.equal((await tally.services.directory.list(systemActor)).length, 3);
    const removed = await admin.post('/console/identity-sources/corp/remove', { confirm: 'yes' });
    assert.equal(removed.statusCode, 303);
    const gone = await admin.get('/console/users?directoryState=gone');
    const text = pageText(gone.body);
    assert.match(text, /carol .*a removed source Left the directory Disabled/);
    assert.doesNotMatch(text, /hilda/);
    assert.equal((await admin.get('/console/users?directoryState=vanished')).statusCode, 400);
  });

  test('a POST without the form token is refused; a help desk admin is refused every page and action', skip, async () => {
    const forged = await admin.post('/console/identity-sources/ad/sync', { _csrf: null });
    assert.equal(forged.statusCode, 403);
    const helpdesk = await consoleClient(tally.admin, 'hilda', 'helpdesk-password-1', '127.0.0.2');
    assert.doesNotMatch(helpdesk.lastBody, /Identity sources/);
    for (const url of ['/console/identity-sources', '/console/identity-sources/new', '/console/identity-sources/ad/test'])
      assert.equal((await helpdesk.get(url)).statusCode, 403, url);
    await helpdesk.get('/console/users');
    for (const url of ['/console/identity-sources/ad/sync', '/console/identity-sources/ad/remove'])
      assert.equal((await helpdesk.post(url, { confirm: 'yes' })).statusCode, 403, url);
    assert.equal((await tally.services.directory.list(systemActor)).length, 2);
    // The help desk still sees where users come from.
    assert.match(pageText((await helpdesk.get('/console/users')).body), /carol .*a removed source/);
  });
});
