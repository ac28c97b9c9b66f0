import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { systemActor } from '../../src/domain/actor.js';
import { DirectoryConnector, type DirectoryEndpoint, type DirectorySession } from '../../src/domain/directory-connection.js';
import { unobserved } from '../../src/domain/observer.js';
import { createLogger } from '../../src/logger.js';
import type { SyncOutcome } from '../../src/model/vocabulary.js';
import { IdentitySourceRepository } from '../../src/store/repositories/identity-sources.js';
import { freePort } from '../support/cli.js';
import { firstItem } from '../support/items.js';
import { interopRequired } from '../support/peers.js';
import { hasSlapd, identitySourceOn, PEOPLE, startDirectory, type TestDirectory, USER_PASSWORD } from '../support/slapd.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

const available = hasSlapd();
if (!available && interopRequired()) throw new Error('REQUIRE_INTEROP=1 but slapd, ldapadd or openssl is missing');

let directory: TestDirectory;
if (available) {
  before(async () => {
    directory = await startDirectory();
  });
  after(async () => directory.stop());
}

/** Counts the operations that reach the directory: what a cache spares shows here. */
class CountingConnector extends DirectoryConnector {
  operations = 0;
  override run<T>(endpoint: DirectoryEndpoint, operation: (session: DirectorySession) => Promise<T>): Promise<T> {
    this.operations++;
    return super.run(endpoint, operation);
  }
}

describeEachStore('directory sync, users who left, and cached lookups (against a real slapd)', (getStore) => {
  let tally: TestTally;
  const connector = new CountingConnector();
  const syncs: SyncOutcome[] = [];
  let logText = '';
  const log = new PassThrough();
  log.on('data', (chunk) => {
    logText += chunk;
  });
  const api = (url: string) => tally.admin.inject({ method: 'GET', url, headers: bearer(tally.tokens.superadmin) });
  const userRow = (username: string) =>
    tally.store.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirstOrThrow();
  const lastReason = async () => firstItem(await tally.services.audit.list(systemActor, { action: 'auth.rest', limit: 1 })).details?.reason;
  const verify = (username: string) => tally.services.authentication.verify(systemActor, { username, passcode: '123456', channel: 'rest' });

  before(async () => {
    if (!available) return;
    tally = await createTestTally(getStore(), {
      services: {
        directoryConnector: connector,
        observer: { ...unobserved, directorySync: (outcome) => syncs.push(outcome) },
        logger: createLogger('debug', log),
      },
    });
    await tally.services.directory.create(systemActor, identitySourceOn(directory));
    for (const username of ['alice', 'carol'])
      await tally.services.users.logOn({ username, password: USER_PASSWORD, console: 'self-service' });
  });
  after(async () => tally?.close());
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, available ? {} : { skip: 'slapd, ldapadd or openssl not installed' }, fn);

  it('a new source syncs hourly by default; the periodic pass syncs it when due, and not before', async () => {
    const [view] = await tally.services.directory.list(systemActor);
    assert.equal(view?.syncIntervalMinutes, 60);
    assert.equal(view?.lastSync, null);
    assert.equal(await tally.services.directory.syncDue(), 1, 'a source never synced is due at once');
    const synced = firstItem(await tally.services.directory.list(systemActor)).lastSync;
    assert.deepEqual(synced, {
      at: new Date(tally.clock.now()).toISOString(),
      outcome: 'ok',
      checked: 2,
      updated: 0,
      gone: 0,
      disabled: 0,
    });
    tally.clock.advance(59 * 60);
    assert.equal(await tally.services.directory.syncDue(), 0, 'not due before its interval');
    tally.clock.advance(60);
    assert.equal(await tally.services.directory.syncDue(), 1);
    assert.deepEqual(syncs, ['ok', 'ok']);
  });

  it('an interval of 0 turns the periodic sync off; the interval is checked', async () => {
    await tally.services.directory.update(systemActor, 'corp-ldap', { syncIntervalMinutes: 0 });
    tally.clock.advance(7 * 86_400);
    assert.equal(await tally.services.directory.syncDue(), 0);
    for (const syncIntervalMinutes of [-1, 10_081, 1.5])
      await assert.rejects(tally.services.directory.update(systemActor, 'corp-ldap', { syncIntervalMinutes }), {
        code: 'VALIDATION_FAILED',
      });
    await tally.services.directory.update(systemActor, 'corp-ldap', { syncIntervalMinutes: 60 });
  });

  it("one node syncs a source at a time: a claim holds until its lease ends, when a crashed node's sync is taken over", async () => {
    const repository = new IdentitySourceRepository(tally.store.db);
    const id = firstItem(await repository.list()).id;
    tally.clock.advance(61 * 60);
    const now = tally.clock.now();
    assert.ok(await repository.claimSync(id, 'node-a', now, now + 15 * 60_000, true));
    assert.equal(await repository.claimSync(id, 'node-b', now, now + 15 * 60_000, true), undefined);
    assert.equal(await tally.services.directory.syncDue(), 0, 'this node leaves a source another node holds');
    await assert.rejects(tally.services.directory.sync(systemActor, 'corp-ldap'), { code: 'CONFLICT' });
    tally.clock.advance(15 * 60);
    assert.equal(await tally.services.directory.syncDue(), 1, 'node-a crashed: its lease ended, this node syncs');
    assert.equal(await repository.finishSync(id, 'node-a', { at: now, outcome: 'ok', result: '{}', nextAt: now }), false);
  });

  it('an outage during sync changes nobody: it is logged, audited as a failed sync, counted, and shown on the source', async () => {
    const before = await tally.store.db.selectFrom('users').selectAll().orderBy('id').execute();
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    await tally.services.directory.update(systemActor, 'corp-ldap', { urls: [closed], allowPlain: true, timeoutSeconds: 1 });
    try {
      await assert.rejects(tally.services.directory.sync(systemActor, 'corp-ldap'), { code: 'DIRECTORY_UNAVAILABLE' });
      assert.deepEqual(await tally.store.db.selectFrom('users').selectAll().orderBy('id').execute(), before);
      const event = firstItem(await tally.services.audit.list(systemActor, { action: 'identity-source.sync', limit: 1 }));
      assert.equal(event.result, 'failure');
      assert.equal(event.details?.error, 'DIRECTORY_UNAVAILABLE');
      assert.equal(syncs.at(-1), 'failed');
      assert.match(logText, /identity source sync failed/);
      const listed = (await api('/api/v1/identity-sources')).json().identitySources[0];
      assert.equal(listed.lastSync.outcome, 'failed');
      assert.equal(listed.lastSync.error, 'DIRECTORY_UNAVAILABLE');
    } finally {
      await tally.services.directory.update(systemActor, 'corp-ldap', { urls: [directory.ldapsUrl], allowPlain: false, timeoutSeconds: 5 });
    }
  });

  it('users who left: REST shows source and directoryState, filters on them, and their authentication is refused with the reason', async () => {
    await tally.services.directory.update(systemActor, 'corp-ldap', { userFilter: '(&(objectClass=inetOrgPerson)(!(description=left)))' });
    directory.modify(`dn: uid=carol,${PEOPLE}\nchangetype: modify\nadd: description\ndescription: left\n`);
    try {
      const report = await tally.services.directory.sync(systemActor, 'corp-ldap');
      assert.deepEqual(report.gone, ['carol']);
      const gone = (await api('/api/v1/users?directoryState=gone')).json().users;
      assert.deepEqual(
        gone.map((user: { username: string; source: string; directoryState: string; disabled: boolean }) => [
          user.username,
          user.source,
          user.directoryState,
          user.disabled,
        ]),
        [['carol', 'corp-ldap', 'gone', true]],
      );
      const fromSource = (await api('/api/v1/users?source=corp-ldap')).json().users.map((user: { username: string }) => user.username);
      assert.deepEqual(fromSource, ['alice', 'carol']);
      assert.deepEqual((await api('/api/v1/users?source=elsewhere')).json().users, []);
      const admin = (await api('/api/v1/users/admin')).json();
      assert.deepEqual([admin.source, admin.directoryState], [null, null]);
      assert.equal((await api('/api/v1/users?directoryState=left')).statusCode, 400);
      assert.equal((await verify('carol')).result, 'reject');
      assert.equal(await lastReason(), 'user gone from directory');
    } finally {
      directory.modify(`dn: uid=carol,${PEOPLE}\nchangetype: modify\ndelete: description\n`);
    }
    await tally.services.directory.sync(systemActor, 'corp-ldap');
    assert.equal((await userRow('carol')).directory_state, 'present');
  });

  it('authentication asks the directory once per 30 s: a second one within it does not search again; a user locked there is refused after it', async () => {
    await verify('alice');
    const afterFirst = connector.operations;
    await verify('alice');
    assert.equal(connector.operations, afterFirst, 'the second authentication within the cache time reached no directory');
    assert.notEqual(await lastReason(), 'user disabled in directory');
    directory.modify(`dn: uid=alice,${PEOPLE}\nchangetype: modify\nadd: nsAccountLock\nnsAccountLock: true\n`);
    try {
      await verify('alice');
      assert.notEqual(await lastReason(), 'user disabled in directory', 'within the cache time the last answer stands');
      tally.clock.advance(31);
      assert.equal((await verify('alice')).result, 'reject');
      assert.equal(await lastReason(), 'user disabled in directory');
      assert.equal(connector.operations, afterFirst + 1);
      // The local record is left to the sync and the next log-on: only the answer changed.
      assert.equal((await userRow('alice')).disabled, 0);
    } finally {
      directory.modify(`dn: uid=alice,${PEOPLE}\nchangetype: modify\ndelete: nsAccountLock\n`);
    }
    await tally.services.directory.update(systemActor, 'corp-ldap', { timeoutSeconds: 4 });
    await verify('alice');
    assert.equal(connector.operations, afterFirst + 2, "a source's edit drops its cached lookups");
    assert.notEqual(await lastReason(), 'user disabled in directory');
  });

  it('a directory that does not answer an authentication refuses nobody: the local record decides, and it is logged', async () => {
    const closed = `ldap://127.0.0.1:${await freePort()}`;
    await tally.services.directory.update(systemActor, 'corp-ldap', { urls: [closed], allowPlain: true, timeoutSeconds: 1 });
    try {
      const before = connector.operations;
      await verify('alice');
      assert.notEqual(await lastReason(), 'user gone from directory');
      assert.match(logText, /did not answer an authentication's lookup/);
      await verify('alice');
      assert.equal(connector.operations, before + 1, 'a source that did not answer is not asked again at once');
    } finally {
      await tally.services.directory.update(systemActor, 'corp-ldap', { urls: [directory.ldapsUrl], allowPlain: false, timeoutSeconds: 5 });
    }
  });
});
