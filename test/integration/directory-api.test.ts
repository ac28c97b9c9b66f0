import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { hotp } from '../../src/core/otp/hotp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { openStore } from '../../src/store/connect.js';
import { freePort, storeArgs, tally as tallyCli } from '../support/cli.js';
import { consoleClient } from '../support/console.js';
import { interopRequired } from '../support/peers.js';
import {
  GROUPS,
  hasSlapd,
  identitySourceOn,
  READER_DN,
  READER_PASSWORD,
  SUFFIX,
  startDirectory,
  type TestDirectory,
  USER_PASSWORD,
} from '../support/slapd.js';
import { describeEachStore, freshStoreOptions } from '../support/store.js';
import { ADMIN_PASSWORD, bearer, createTestTally, type TestTally, verifyOverRest } from '../support/tally.js';
import { WebClient } from '../support/web.js';

const available = hasSlapd();
if (!available && interopRequired()) throw new Error('REQUIRE_INTEROP=1 but slapd, ldapadd or openssl is missing');
const skip = available ? {} : { skip: 'slapd, ldapadd or openssl not installed' };

let directory: TestDirectory;
if (available) {
  before(async () => {
    directory = await startDirectory();
  });
  after(async () => {
    await directory.stop();
  });
}

function sourceBody() {
  return identitySourceOn(directory, { name: 'corp' });
}

describeEachStore('identity sources over REST', (getStore) => {
  let tally: TestTally;
  before(async () => {
    if (available) tally = await createTestTally(getStore());
  });
  after(async () => {
    await tally?.close();
  });
  const api = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method, url, headers: bearer(token), payload });

  test('add, list, test and sync; the bind password never comes back', skip, async () => {
    const created = await api('POST', '/api/v1/identity-sources', sourceBody());
    assert.equal(created.statusCode, 201, created.body);
    assert.ok(!created.body.includes(READER_PASSWORD));
    assert.equal(created.json().loginAttribute, 'uid');
    const listed = await api('GET', '/api/v1/identity-sources');
    assert.deepEqual(
      listed.json().identitySources.map((s: { name: string }) => s.name),
      ['corp'],
    );
    assert.ok(!listed.body.includes(READER_PASSWORD));
    const found = await api('POST', '/api/v1/identity-sources/corp/test', { username: 'alice' });
    assert.equal(found.statusCode, 200, found.body);
    assert.equal(found.json().found.role, 'helpdesk');
    const missing = await api('POST', '/api/v1/identity-sources/corp/test', { username: '*)(uid=*' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'USER_NOT_FOUND');
    const unknown = await api('POST', '/api/v1/identity-sources/nope/test', { username: 'alice' });
    assert.equal(unknown.json().error.code, 'IDENTITY_SOURCE_NOT_FOUND');
    const patched = await api('PATCH', '/api/v1/identity-sources/corp', { timeoutSeconds: 3 });
    assert.equal(patched.json().timeoutSeconds, 3);
    const synced = await api('POST', '/api/v1/identity-sources/corp/sync');
    assert.equal(synced.statusCode, 200, synced.body);
  });

  test('a test that reaches no directory answers 422 IDENTITY_SOURCE_UNREACHABLE, saying nothing of LDAP', skip, async () => {
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    const created = await api('POST', '/api/v1/identity-sources', {
      ...sourceBody(),
      name: 'down',
      urls: [closed],
      caFile: undefined,
      allowPlain: true,
      timeoutSeconds: 1,
    });
    assert.equal(created.statusCode, 201, created.body);
    const tested = await api('POST', '/api/v1/identity-sources/down/test', { username: 'alice' });
    assert.equal(tested.statusCode, 422, tested.body);
    assert.equal(tested.json().error.code, 'IDENTITY_SOURCE_UNREACHABLE');
    assert.doesNotMatch(tested.body, /ECONN|ldap:\/\/|ldapts|stack/i);
    assert.equal((await api('DELETE', '/api/v1/identity-sources/down')).statusCode, 204);
  });

  test('super admins only: the help desk and agents are refused', skip, async () => {
    for (const token of [tally.tokens.helpdesk, tally.tokens.agent]) {
      assert.equal((await api('GET', '/api/v1/identity-sources', undefined, token)).statusCode, 403);
      assert.equal((await api('POST', '/api/v1/identity-sources', { ...sourceBody(), name: 'x' }, token)).statusCode, 403);
    }
  });

  test(
    'a directory-only user is assigned a token on first use and authenticates with it; gone from the directory, refused',
    skip,
    async () => {
      const seed = randomBytes(20);
      const file = writePskc([
        { kind: 'hotp', id: 'DIR-HOTP', serial: 'DIR-HOTP', secret: seed, digits: 6, algorithm: 'SHA1', counter: 0 },
      ]);
      assert.equal((await api('POST', '/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') })).json().imported, 1);
      const assigned = await api('POST', '/api/v1/tokens/DIR-HOTP/assign', { username: 'bob' });
      assert.equal(assigned.statusCode, 200, assigned.body);
      assert.equal((await verifyOverRest(tally, 'bob', hotp({ secret: seed, digits: 6 }, 0))).result, 'accept');
      await api('PATCH', '/api/v1/identity-sources/corp', { userFilter: '(&(objectClass=inetOrgPerson)(!(uid=bob)))' });
      const synced = (await api('POST', '/api/v1/identity-sources/corp/sync')).json();
      assert.deepEqual(synced.gone, ['bob']);
      assert.equal((await verifyOverRest(tally, 'bob', hotp({ secret: seed, digits: 6 }, 1))).result, 'reject');
      await api('PATCH', '/api/v1/identity-sources/corp', { userFilter: '(objectClass=inetOrgPerson)' });
    },
  );

  test('both consoles: a directory user logs on with the directory password; a nested group opens the Security Console', skip, async () => {
    const holder = new WebClient(tally.public, '10.17.0.1');
    assert.equal((await holder.logOn('carol', USER_PASSWORD)).statusCode, 303);
    assert.equal((await holder.get('/')).statusCode, 200);
    assert.notEqual((await new WebClient(tally.public, '10.17.0.2').logOn('carol', 'not-her-password')).statusCode, 303);
    const admin = await consoleClient(tally.admin, 'alice', USER_PASSWORD, '10.17.0.3');
    assert.equal((await admin.get('/console')).statusCode, 200);
  });

  test('an unreachable directory: the log-on page says so without the directory text; the internal admin logs on', skip, async () => {
    await api('PATCH', '/api/v1/identity-sources/corp', { urls: [`ldaps://127.0.0.1:${await freePort()}`], timeoutSeconds: 1 });
    try {
      const refused = await new WebClient(tally.public, '10.17.0.4').logOn('alice', USER_PASSWORD);
      assert.notEqual(refused.statusCode, 303);
      assert.doesNotMatch(refused.body, /ECONNREFUSED|ldaps:/);
      await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '10.17.0.5');
    } finally {
      await api('PATCH', '/api/v1/identity-sources/corp', { urls: [directory.ldapsUrl], timeoutSeconds: 5 });
    }
  });

  test('order and remove', skip, async () => {
    await api('POST', '/api/v1/identity-sources', { ...sourceBody(), name: 'second' });
    const reordered = await api('PUT', '/api/v1/identity-sources/order', { order: ['second', 'corp'] });
    assert.deepEqual(
      reordered.json().identitySources.map((s: { name: string; position: number }) => [s.name, s.position]),
      [
        ['second', 1],
        ['corp', 2],
      ],
    );
    assert.equal((await api('PUT', '/api/v1/identity-sources/order', { order: ['second'] })).statusCode, 400);
    assert.equal((await api('DELETE', '/api/v1/identity-sources/second')).statusCode, 204);
    assert.equal((await api('DELETE', '/api/v1/identity-sources/second')).statusCode, 404);
  });
});

// The CLI is the same service; SQLite alone.
describe('tally identity-source', () => {
  test('add (bind password on stdin), list, test, sync, edit, order, remove', skip, async () => {
    const place = freshStoreOptions('sqlite');
    const args = storeArgs({ dataDir: place.dataDir });
    try {
      assert.equal(tallyCli(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
      const add = tallyCli(
        [
          'identity-source',
          'add',
          ...args,
          ...['--name', 'corp', '--url', 'ldap://127.0.0.1:1', '--start-tls', '--url', directory.ldapsUrl, '--ca-file', directory.caFile],
          ...['--bind-dn', READER_DN, '--base-dn', SUFFIX, '--helpdesk-group', `cn=tally-helpdesk,${GROUPS}`, '--json'],
        ],
        { input: `${READER_PASSWORD}\n` },
      );
      assert.equal(add.status, 0, add.stderr);
      assert.ok(!add.stdout.includes(READER_PASSWORD));
      assert.match(tallyCli(['identity-source', 'list', ...args]).stdout, /^1\tcorp\topenldap\t/);
      const found = tallyCli(['identity-source', 'test', ...args, '--name', 'corp', '--username', 'alice']);
      assert.equal(found.status, 0, found.stderr);
      assert.equal(JSON.parse(found.stdout).found.role, 'helpdesk');
      const missing = tallyCli(['identity-source', 'test', ...args, '--name', 'corp', '--username', 'nobody']);
      assert.equal(missing.status, 1);
      assert.doesNotMatch(missing.stderr, /ldap|Error:/);
      assert.equal(tallyCli(['identity-source', 'sync', ...args, '--name', 'corp']).status, 0);

      // edit: only what is given changes; a new bind password from stdin; a bad value changes nothing.
      const edited = tallyCli(
        [
          'identity-source',
          'edit',
          ...args,
          '--name',
          'corp',
          '--url',
          directory.ldapsUrl,
          '--helpdesk-group',
          '',
          '--bind-password-stdin',
          '--json',
        ],
        { input: 'a-wrong-bind-password\n' },
      );
      assert.equal(edited.status, 0, edited.stderr);
      const view = JSON.parse(edited.stdout);
      assert.deepEqual([view.urls, view.roleGroups, view.bindDn], [[directory.ldapsUrl], {}, READER_DN]);
      assert.ok(!edited.stdout.includes('a-wrong-bind-password'));
      const refusedBind = tallyCli(['identity-source', 'test', ...args, '--name', 'corp', '--username', 'alice']);
      assert.equal(refusedBind.status, 1, 'the new bind password is the one used');
      assert.equal(
        tallyCli(['identity-source', 'edit', ...args, '--name', 'corp', '--bind-password-stdin'], { input: `${READER_PASSWORD}\n` }).status,
        0,
      );
      const badEdit = tallyCli(['identity-source', 'edit', ...args, '--name', 'corp', '--url', 'http://example.org']);
      assert.notEqual(badEdit.status, 0);
      assert.ok(
        tallyCli(['identity-source', 'list', ...args]).stdout.includes(`\t${directory.ldapsUrl}\t`),
        'the refused edit changed nothing',
      );
      const onOff = tallyCli(['identity-source', 'edit', ...args, '--name', 'corp', '--start-tls', 'maybe']);
      assert.equal(onOff.status, 2, 'a value outside on|off is bad usage');

      // order: every source, first to last.
      const second = tallyCli(
        [
          ...['identity-source', 'add', ...args, '--name', 'corp-b', '--url', directory.ldapsUrl, '--ca-file', directory.caFile],
          ...['--bind-dn', READER_DN, '--base-dn', SUFFIX],
        ],
        { input: `${READER_PASSWORD}\n` },
      );
      assert.equal(second.status, 0, second.stderr);
      const ordered = tallyCli(['identity-source', 'order', ...args, '--name', 'corp-b', '--name', 'corp']);
      assert.equal(ordered.status, 0, ordered.stderr);
      assert.equal(ordered.stdout, '1\tcorp-b\n2\tcorp\n');
      assert.notEqual(tallyCli(['identity-source', 'order', ...args, '--name', 'corp']).status, 0, 'a partial order is refused');
      assert.equal(tallyCli(['identity-source', 'remove', ...args, '--name', 'corp-b']).status, 0);
      assert.equal(tallyCli(['identity-source', 'remove', ...args, '--name', 'corp']).status, 0);
      const store = await openStore(place.options);
      const events = await store.db.selectFrom('audit_events').selectAll().execute();
      await store.close();
      assert.ok(!JSON.stringify(events).includes(READER_PASSWORD));
    } finally {
      await place.cleanup();
    }
  });
});
