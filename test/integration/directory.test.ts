import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { systemActor } from '../../src/domain/actor.js';
import type { IdentitySourceInput } from '../../src/domain/directory.js';
import { isTallyError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../support/cli.js';
import { interopRequired } from '../support/peers.js';
import {
  ADA_GUID_TEXT,
  GROUPS,
  hasSlapd,
  identitySourceOn,
  PEOPLE,
  READER_PASSWORD,
  startDirectory,
  type TestDirectory,
  USER_PASSWORD,
} from '../support/slapd.js';
import { describeEachStore, insertTokenRow } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally, type TestTally } from '../support/tally.js';

const available = hasSlapd();
if (!available && interopRequired()) throw new Error('REQUIRE_INTEROP=1 but slapd, ldapadd or openssl is missing');

let directory: TestDirectory;
/** A TCP server that accepts connections and never answers: a hung directory. */
let silent: Server;
const silentSockets: Socket[] = [];
let silentUrl = '';

if (available) {
  before(async () => {
    directory = await startDirectory();
    silent = createServer((socket) => silentSockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    silentUrl = `ldap://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    for (const socket of silentSockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await directory.stop();
  });
}

function openldapSource(overrides: Partial<IdentitySourceInput> = {}): IdentitySourceInput {
  return identitySourceOn(directory, {
    roleGroups: { superadmin: `cn=tally-superadmins,${GROUPS}`, helpdesk: `cn=tally-helpdesk,${GROUPS}` },
    ...overrides,
  });
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isTallyError(error)) return error.code;
    throw error;
  }
  assert.fail('expected a refusal');
}

describeEachStore('directory users (LDAP, against a real slapd)', (getStore) => {
  let tally: TestTally;
  const log = new PassThrough();
  let logText = '';
  log.on('data', (chunk) => {
    logText += chunk;
  });

  before(async () => {
    if (!available) return;
    tally = await createTestTally(getStore(), { services: { logger: createLogger('debug', log) } });
  });
  after(async () => {
    await tally?.close();
  });
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, available ? {} : { skip: 'slapd, ldapadd or openssl not installed' }, fn);

  it('a source is added over LDAPS with the test CA, listed without its bind password', async () => {
    const view = await tally.services.directory.create(systemActor, openldapSource());
    assert.equal(view.loginAttribute, 'uid');
    assert.equal(view.attributes.id, 'entryUUID');
    assert.equal(view.position, 1);
    assert.ok(!JSON.stringify(await tally.services.directory.list(systemActor)).includes(READER_PASSWORD));
  });

  it('log-on by bind: a directory-only user appears as a local record tied to the source and entryUUID', async () => {
    const actor = await tally.services.users.logOn({ username: 'carol', password: USER_PASSWORD, console: 'self-service' });
    assert.equal(actor.name, 'carol');
    const row = await tally.store.db.selectFrom('users').selectAll().where('username', '=', 'carol').executeTakeFirstOrThrow();
    assert.equal(row.password_hash, null);
    assert.equal(row.directory_state, 'present');
    assert.match(row.external_id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-/);
    assert.equal(row.email, 'carol@example.org');
    assert.equal(row.role, 'user');
  });

  it('a wrong or empty password is refused like any wrong password', async () => {
    for (const password of ['wrong-password', '']) {
      assert.equal(
        await refusal(tally.services.users.logOn({ username: 'alice', password, console: 'self-service' })),
        'INVALID_CREDENTIALS',
      );
    }
  });

  it('roles come from groups: a nested group makes a help desk administrator, a direct one a super admin', async () => {
    const alice = await tally.services.users.logOn({ username: 'alice', password: USER_PASSWORD, console: 'security' });
    assert.equal(alice.role, 'helpdesk');
    const bob = await tally.services.users.logOn({ username: 'bob', password: USER_PASSWORD, console: 'security' });
    assert.equal(bob.role, 'superadmin');
    assert.equal(
      await refusal(tally.services.users.logOn({ username: 'carol', password: USER_PASSWORD, console: 'security' })),
      'INVALID_CREDENTIALS',
    );
  });

  it('a user locked in the directory (nsAccountLock, pwdAccountLockedTime) cannot log on, although the bind succeeds', async () => {
    for (const username of ['dave', 'erin']) {
      assert.equal(
        await refusal(tally.services.users.logOn({ username, password: USER_PASSWORD, console: 'self-service' })),
        'INVALID_CREDENTIALS',
      );
      const row = await tally.store.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirstOrThrow();
      assert.equal(row.directory_state, 'disabled');
      assert.equal(row.disabled, 1);
    }
  });

  it('filter injection finds nothing: the source test and the log-on treat *)(uid=* as a name', async () => {
    for (const name of ['*)(uid=*', '*', 'al*', 'alice)(|(uid=*', 'a\0lice']) {
      assert.equal(await refusal(tally.services.directory.test(systemActor, 'corp-ldap', name)), 'USER_NOT_FOUND', name);
      assert.equal(
        await refusal(tally.services.users.logOn({ username: name, password: USER_PASSWORD, console: 'self-service' })),
        'INVALID_CREDENTIALS',
        name,
      );
    }
  });

  it('the source test shows the entry found and how it mapped', async () => {
    const result = await tally.services.directory.test(systemActor, 'corp-ldap', 'alice');
    assert.equal(result.found.dn, `uid=alice,${PEOPLE}`);
    assert.equal(result.found.login, 'alice');
    assert.equal(result.found.lastName, 'Liddell');
    assert.equal(result.found.role, 'helpdesk');
    assert.equal(result.found.refused, null);
  });

  it('a renamed user keeps their record and tokens', async () => {
    const before = await tally.store.db.selectFrom('users').selectAll().where('username', '=', 'carol').executeTakeFirstOrThrow();
    await insertTokenRow(tally.store.db, tally.clock.now(), { serial: '000555000555', user_id: before.id, state: 'active' });
    directory.modify(`dn: uid=carol,${PEOPLE}\nchangetype: modrdn\nnewrdn: uid=caroline\ndeleteoldrdn: 1\n`);
    try {
      const actor = await tally.services.users.logOn({ username: 'caroline', password: USER_PASSWORD, console: 'self-service' });
      assert.equal(actor.name, 'caroline');
      const after = await tally.store.db.selectFrom('users').selectAll().where('external_id', '=', before.external_id).execute();
      assert.deepEqual(
        after.map((row) => [row.id, row.username]),
        [[before.id, 'caroline']],
      );
      const token = await tally.store.db
        .selectFrom('tokens')
        .select('user_id')
        .where('serial', '=', '000555000555')
        .executeTakeFirstOrThrow();
      assert.equal(token.user_id, before.id);
    } finally {
      directory.modify(`dn: uid=caroline,${PEOPLE}\nchangetype: modrdn\nnewrdn: uid=carol\ndeleteoldrdn: 1\n`);
    }
  });

  it('sync marks a user gone from the directory and disables them; they come back when the directory has them again', async () => {
    // Leaving the source's filter is leaving the directory, as far as Tally can tell.
    await tally.services.directory.update(systemActor, 'corp-ldap', { userFilter: '(&(objectClass=inetOrgPerson)(!(description=left)))' });
    directory.modify(`dn: uid=carol,${PEOPLE}\nchangetype: modify\nadd: description\ndescription: left\n`);
    try {
      const report = await tally.services.directory.sync(systemActor, 'corp-ldap');
      assert.ok(report.gone.includes('caroline'), JSON.stringify(report));
      const row = await tally.store.db.selectFrom('users').selectAll().where('username', '=', 'caroline').executeTakeFirstOrThrow();
      assert.equal(row.directory_state, 'gone');
      assert.equal(row.disabled, 1);
    } finally {
      directory.modify(`dn: uid=carol,${PEOPLE}\nchangetype: modify\ndelete: description\n`);
    }
    const report = await tally.services.directory.sync(systemActor, 'corp-ldap');
    assert.deepEqual(report.gone, []);
    const row = await tally.store.db.selectFrom('users').selectAll().where('username', '=', 'carol').executeTakeFirstOrThrow();
    assert.equal(row.directory_state, 'present');
    assert.equal(row.disabled, 0);
  });

  it('failover: when the first URL is down, the second answers', async () => {
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    await tally.services.directory.update(systemActor, 'corp-ldap', { urls: [closed, directory.ldapUrl], startTls: true });
    const actor = await tally.services.users.logOn({ username: 'alice', password: USER_PASSWORD, console: 'self-service' });
    assert.equal(actor.name, 'alice');
  });

  it('a directory that does not answer times out with DIRECTORY_UNAVAILABLE; the internal super admin still logs on', async () => {
    await tally.services.directory.update(systemActor, 'corp-ldap', {
      urls: [silentUrl],
      startTls: false,
      allowPlain: true,
      timeoutSeconds: 1,
    });
    const error = await tally.services.users.logOn({ username: 'alice', password: USER_PASSWORD, console: 'self-service' }).catch((e) => e);
    assert.ok(isTallyError(error));
    assert.equal(error.code, 'DIRECTORY_UNAVAILABLE');
    assert.doesNotMatch(error.message, /ldap|timeout|ECONN/i);
    const admin = await tally.services.users.logOn({ username: 'admin', password: ADMIN_PASSWORD, console: 'security' });
    assert.equal(admin.role, 'superadmin');
    await tally.services.directory.update(systemActor, 'corp-ldap', { urls: [directory.ldapsUrl], allowPlain: false, timeoutSeconds: 5 });
  });

  it('Active Directory names: sAMAccountName and objectGUID map, memberOf gives the role, userAccountControl 514 refuses', async () => {
    await tally.services.directory.create(
      systemActor,
      openldapSource({
        name: 'corp-ad',
        preset: 'ad',
        // The stand-in directory has no objectCategory; a real AD takes the preset's filter.
        userFilter: '(objectClass=inetOrgPerson)',
        roleGroups: { helpdesk: `cn=helpdesk-staff,${GROUPS}` },
      }),
    );
    // The OpenLDAP source comes first and knows ada by uid: put the AD source first.
    await tally.services.directory.reorder(systemActor, ['corp-ad', 'corp-ldap']);
    const result = await tally.services.directory.test(systemActor, 'corp-ad', 'ada');
    assert.equal(result.found.externalId, ADA_GUID_TEXT);
    const ada = await tally.services.users.logOn({ username: 'ada', password: USER_PASSWORD, console: 'security' });
    assert.equal(ada.role, 'helpdesk');
    const row = await tally.store.db.selectFrom('users').selectAll().where('username', '=', 'ada').executeTakeFirstOrThrow();
    assert.equal(row.external_id, ADA_GUID_TEXT);
    assert.equal(
      await refusal(tally.services.users.logOn({ username: 'adam', password: USER_PASSWORD, console: 'self-service' })),
      'INVALID_CREDENTIALS',
    );
    assert.equal((await tally.services.directory.test(systemActor, 'corp-ad', 'adam')).found.refused, 'userAccountControl');
  });

  it('a bind password the directory refuses is DIRECTORY_BIND_REFUSED for the test', async () => {
    await tally.services.directory.update(systemActor, 'corp-ad', { bindPassword: 'not-the-password' });
    assert.equal(await refusal(tally.services.directory.test(systemActor, 'corp-ad', 'ada')), 'DIRECTORY_BIND_REFUSED');
    await tally.services.directory.update(systemActor, 'corp-ad', { bindPassword: READER_PASSWORD });
  });

  it('the bind password appears in no response, log line or audit event', async () => {
    const events = await tally.store.db.selectFrom('audit_events').selectAll().execute();
    assert.ok(events.some((event) => event.action === 'identity-source.create'));
    assert.ok(events.some((event) => event.action === 'directory-user.appear'));
    for (const secret of [READER_PASSWORD, USER_PASSWORD]) {
      assert.ok(!JSON.stringify(events).includes(secret), 'audit');
      assert.ok(!logText.includes(secret), 'log');
    }
    const stored = await tally.store.db.selectFrom('identity_sources').select('bind_password_sealed').execute();
    assert.ok(stored.every((row) => row.bind_password_sealed.startsWith('v1.') && !row.bind_password_sealed.includes(READER_PASSWORD)));
  });

  it('settings are checked: plain ldap:// without allowPlain, a broken filter, a bad attribute, a foreign role', async () => {
    const cases: [Partial<IdentitySourceInput>, string][] = [
      [{ urls: [directory.ldapUrl] }, 'urls'],
      [{ urls: [] }, 'urls'],
      [{ urls: ['http://example.org'] }, 'urls'],
      [{ userFilter: '(objectClass=person))(uid=*' }, 'userFilter'],
      [{ loginAttribute: 'uid)(x' }, 'attributes.login'],
      [{ roleGroups: { auditor: 'cn=x' } as never }, 'roleGroups'],
      [{ timeoutSeconds: 0 }, 'timeoutSeconds'],
      [{ name: '../etc' }, 'name'],
      [{ bindPassword: '' }, 'bindPassword'],
    ];
    for (const [overrides, field] of cases) {
      const error = await tally.services.directory.create(systemActor, openldapSource({ name: 'bad', ...overrides })).catch((e) => e);
      assert.ok(isTallyError(error), field);
      assert.equal(error.code, 'VALIDATION_FAILED', field);
      assert.equal(error.details?.field, field);
    }
  });
});
