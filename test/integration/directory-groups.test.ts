import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { systemActor } from '../../src/domain/actor.js';
import { freePort } from '../support/cli.js';
import { consoleClient, postMultipart } from '../support/console.js';
import { directoryForFile, GROUPS, identitySourceOn, PEOPLE, USER_PASSWORD } from '../support/slapd.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, bearer, createTestTally, type TestTally } from '../support/tally.js';
import { pageText, WebClient } from '../support/web.js';

const { available, skip, directory } = directoryForFile();

/** carol is in vpn-users directly; alice through vpn-contractors, which also names itself (a loop that must end). */
const VPN_USERS = `cn=vpn-users,${GROUPS}`;
const VPN_CONTRACTORS = `cn=vpn-contractors,${GROUPS}`;
const GROUP_LDIF = `dn: ${VPN_CONTRACTORS}
changetype: add
objectClass: groupOfNames
cn: vpn-contractors
member: uid=alice,${PEOPLE}
member: ${VPN_CONTRACTORS}

dn: ${VPN_USERS}
changetype: add
objectClass: groupOfNames
cn: vpn-users
member: uid=carol,${PEOPLE}
member: ${VPN_CONTRACTORS}
`;

/** Whether GROUP_LDIF is in the directory yet: it is added once, by the first store's suite, after slapd is up. */
let groupsLoaded = false;

const OPEN_PROFILE = { name: 'Open phone', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr', selfService: true };
const VPN_PROFILE = { ...OPEN_PROFILE, name: 'VPN token' };

describeEachStore('directory groups: self-service profiles, bulk runs and lists by group (against a real slapd)', (getStore) => {
  let tally: TestTally;
  before(async () => {
    if (!available) return;
    if (!groupsLoaded) {
      directory().modify(GROUP_LDIF);
      groupsLoaded = true;
    }
    tally = await createTestTally(getStore());
    // No role groups: alice, a member here, is also in the test directory's help desk group.
    await tally.services.directory.create(systemActor, identitySourceOn(directory(), { name: 'corp', roleGroups: {} }));
  });
  after(async () => {
    await tally?.close();
  });
  const api = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), payload });
  const localUser = (username: string) =>
    tally.store.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  const count = async (table: 'users' | 'bulk_distributions' | 'tokens') =>
    Number(
      (
        await tally.store.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  test('a profile takes directory groups over REST: a known source and a well-formed DN; the view shows them; audited', skip, async () => {
    assert.equal((await api('POST', '/api/v1/profiles', OPEN_PROFILE)).json().directoryGroups.length, 0);
    const created = await api('POST', '/api/v1/profiles', { ...VPN_PROFILE, directoryGroups: [{ source: 'corp', dn: VPN_USERS }] });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json().directoryGroups, [{ source: 'corp', dn: VPN_USERS }]);
    for (const [group, field] of [
      [{ source: 'nowhere', dn: VPN_USERS }, 'directoryGroups[0].source'],
      [{ source: 'corp', dn: 'not a dn' }, 'directoryGroups[0].dn'],
    ] as const) {
      const refused = await api('PATCH', '/api/v1/profiles/VPN%20token', { directoryGroups: [group] });
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json().error.code, 'VALIDATION_FAILED');
      assert.equal(refused.json().error.details.field, field);
    }
    const widened = await api('PATCH', '/api/v1/profiles/VPN%20token', {
      directoryGroups: [
        { source: 'corp', dn: VPN_USERS },
        { source: 'corp', dn: VPN_CONTRACTORS },
      ],
    });
    assert.equal(widened.json().directoryGroups.length, 2);
    const narrowed = await api('PATCH', '/api/v1/profiles/VPN%20token', { directoryGroups: [{ source: 'corp', dn: VPN_USERS }] });
    assert.deepEqual(narrowed.json().directoryGroups, [{ source: 'corp', dn: VPN_USERS }]);
    // A change that leaves the groups out keeps them.
    assert.equal((await api('PATCH', '/api/v1/profiles/VPN%20token', { description: 'VPN only' })).json().directoryGroups.length, 1);
    const audit = await tally.store.db
      .selectFrom('audit_events')
      .select(['details'])
      .where('action', '=', 'profile.update')
      .where('target', '=', 'VPN token')
      .where('result', '=', 'success')
      .execute();
    assert.ok(audit.some((event) => String(event.details).includes('directoryGroups')));
  });

  test('a bulk run by group while the directory is unreachable: 503 DIRECTORY_UNAVAILABLE, no run, no user, no token', skip, async () => {
    await api('PATCH', '/api/v1/identity-sources/corp', { urls: [`ldaps://127.0.0.1:${await freePort()}`], timeoutSeconds: 1 });
    try {
      const before = [await count('users'), await count('bulk_distributions'), await count('tokens')];
      const refused = await api('POST', '/api/v1/bulk-distributions', {
        profile: 'Open phone',
        group: { source: 'corp', dn: `cn=tally-superadmins,${GROUPS}` },
      });
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(refused.json().error.code, 'DIRECTORY_UNAVAILABLE');
      assert.doesNotMatch(refused.body, /ECONN|ldaps:|ldapts/);
      assert.deepEqual([await count('users'), await count('bulk_distributions'), await count('tokens')], before);
      assert.equal(await localUser('bob'), undefined);
    } finally {
      await api('PATCH', '/api/v1/identity-sources/corp', { urls: [directory().ldapsUrl], timeoutSeconds: 5 });
    }
  });

  test('a bulk run by group distributes to exactly its members, nested included, creating them on first use', skip, async () => {
    assert.equal(await localUser('alice'), undefined);
    assert.equal(await localUser('carol'), undefined);
    const started = await api('POST', '/api/v1/bulk-distributions', { profile: 'VPN token', group: { source: 'corp', dn: VPN_USERS } });
    assert.equal(started.statusCode, 202, started.body);
    assert.deepEqual(started.json().group, { source: 'corp', dn: VPN_USERS });
    await tally.services.bulk.idle();
    const report = (await api('GET', `/api/v1/bulk-distributions/${started.json().id}`)).json();
    assert.equal(report.bulkDistribution.state, 'finished');
    assert.deepEqual(report.items.map((item: { username: string; result: string }) => [item.username, item.result]).sort(), [
      ['alice', 'distributed'],
      ['carol', 'distributed'],
    ]);
    for (const username of ['alice', 'carol']) {
      const user = await localUser(username);
      assert.notEqual(user?.source_id ?? null, null, `${username} is tied to the source`);
      assert.equal(user?.password_hash, null);
    }
    const appeared = await tally.store.db
      .selectFrom('audit_events')
      .select('target')
      .where('action', '=', 'directory-user.appear')
      .execute();
    assert.deepEqual(appeared.map((event) => event.target).sort(), ['alice', 'carol']);
    const both = await api('POST', '/api/v1/bulk-distributions', {
      profile: 'VPN token',
      usernames: ['alice'],
      group: { source: 'corp', dn: VPN_USERS },
    });
    assert.equal(both.statusCode, 400);
  });

  test('users and tokens lists filter by group (SOURCE:DN), nested members included, others left out', skip, async () => {
    await tally.services.users.create(systemActor, { username: 'ivan', password: 'Internal-pass-9' });
    assert.equal((await api('POST', '/api/v1/users/ivan/tokens', { profile: 'Open phone' })).statusCode, 201);
    const query = (group: string) => `group=${encodeURIComponent(group)}`;
    const tokens = await api('GET', `/api/v1/tokens?${query(`corp:${VPN_USERS}`)}`);
    assert.equal(tokens.statusCode, 200, tokens.body);
    assert.deepEqual(
      tokens
        .json()
        .tokens.map((token: { username: string }) => token.username)
        .sort(),
      ['alice', 'carol'],
    );
    const users = await api('GET', `/api/v1/users?${query(`corp:${VPN_USERS}`)}`);
    assert.deepEqual(
      users.json().users.map((user: { username: string }) => user.username),
      ['alice', 'carol'],
    );
    const nested = await api('GET', `/api/v1/users?${query(`corp:${VPN_CONTRACTORS}`)}`);
    assert.deepEqual(
      nested.json().users.map((user: { username: string }) => user.username),
      ['alice'],
    );
    const unknownSource = await api('GET', `/api/v1/tokens?${query(`nowhere:${VPN_USERS}`)}`);
    assert.equal(unknownSource.json().error.code, 'IDENTITY_SOURCE_NOT_FOUND');
    const noForm = await api('GET', `/api/v1/tokens?${query(VPN_USERS.replace(/=/g, ''))}`);
    assert.equal(noForm.statusCode, 400);
  });

  test('a group DN with filter or DN syntax in it is taken literally: it finds nobody and starts no run', skip, async () => {
    const runs = await count('bulk_distributions');
    for (const dn of [
      `cn=*,${GROUPS}`,
      `cn=vpn-users)(cn=*,${GROUPS}`,
      `cn=vpn-users\\29(uid=*,${GROUPS}`,
      `cn=vpn-users,${GROUPS})(|(cn=*`,
    ]) {
      const listed = await api('GET', `/api/v1/tokens?group=${encodeURIComponent(`corp:${dn}`)}`);
      assert.equal(listed.statusCode, 200, `${dn}: ${listed.body}`);
      assert.deepEqual(listed.json().tokens, [], dn);
      const bulk = await api('POST', '/api/v1/bulk-distributions', { profile: 'VPN token', group: { source: 'corp', dn } });
      assert.equal(bulk.statusCode, 400, `${dn}: ${bulk.body}`);
      assert.equal(bulk.json().error.code, 'VALIDATION_FAILED');
    }
    assert.equal(await count('bulk_distributions'), runs);
  });

  test("the console's bulk form takes a directory group (SOURCE:DN) instead of usernames", skip, async () => {
    const admin = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '10.24.0.9');
    assert.match(pageText((await admin.get('/console/bulk')).body), /Or a directory group/);
    const both = await postMultipart(tally.admin, admin, '/console/bulk', {
      profile: 'Open phone',
      usernames: 'carol',
      group: `corp:${VPN_CONTRACTORS}`,
    });
    assert.equal(both.statusCode, 400);
    await admin.get('/console/bulk');
    const started = await postMultipart(tally.admin, admin, '/console/bulk', { profile: 'Open phone', group: `corp:${VPN_CONTRACTORS}` });
    assert.equal(started.statusCode, 303, started.body);
    await tally.services.bulk.idle();
    const [run] = await tally.services.bulk.list(systemActor, 1);
    assert.deepEqual(run?.group, { source: 'corp', dn: VPN_CONTRACTORS });
    assert.deepEqual(
      (await tally.services.bulk.items(systemActor, run?.id ?? 0, { limit: 10, offset: 0 })).map((item) => [item.username, item.result]),
      [['alice', 'distributed']],
    );
  });

  test(
    'self-service offers a group profile to a nested member; a non-member and an internal user neither see nor get it',
    skip,
    async () => {
      const alice = new WebClient(tally.public, '10.24.0.1');
      assert.equal((await alice.logOn('alice', USER_PASSWORD)).statusCode, 303);
      const offered = pageText((await alice.get('/request')).body);
      assert.match(offered, /VPN token/);
      assert.match(offered, /Open phone/);
      assert.equal((await alice.post('/request', { profile: 'VPN token' })).statusCode, 303);
      const held = await tally.store.db
        .selectFrom('tokens')
        .innerJoin('users', 'users.id', 'tokens.user_id')
        .select('users.username')
        .where('users.username', '=', 'alice')
        .execute();
      assert.equal(held.length, 3, 'the two bulk runs gave one each, the request a third');

      for (const [username, password, address] of [
        ['bob', USER_PASSWORD, '10.24.0.2'],
        ['ivan', 'Internal-pass-9', '10.24.0.3'],
      ] as const) {
        const holder = new WebClient(tally.public, address);
        assert.equal((await holder.logOn(username, password)).statusCode, 303, username);
        const page = pageText((await holder.get('/request')).body);
        assert.doesNotMatch(page, /VPN token/, username);
        assert.match(page, /Open phone/, username);
        const tokensBefore = await count('tokens');
        const forged = await holder.post('/request', { profile: 'VPN token' });
        assert.equal(forged.statusCode, 403, username);
        assert.match(pageText(forged.body), /directory groups/);
        assert.equal(await count('tokens'), tokensBefore);
        const actor = { kind: 'user' as const, name: username, role: 'user' as const };
        await assert.rejects(tally.services.requests.request(actor, 'VPN token'), { code: 'PROFILE_RESTRICTED' });
      }
    },
  );

  test("a replacement follows the profile's groups: a holder who left them is not given a new token", skip, async () => {
    const alice = { kind: 'user' as const, name: 'alice', role: 'user' as const };
    const held = await tally.store.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .innerJoin('profiles', 'profiles.id', 'tokens.profile_id')
      .select('tokens.serial')
      .where('users.username', '=', 'alice')
      .where('profiles.name', '=', 'VPN token')
      // The newest: an older one is replaced by it already.
      .orderBy('tokens.id', 'desc')
      .executeTakeFirstOrThrow();
    // Active and in its last days, so that a replacement is due.
    const soon = new Date(tally.clock.now() + 5 * 86_400_000).toISOString().slice(0, 10);
    await tally.store.db.updateTable('tokens').set({ state: 'active', expires_on: soon }).where('serial', '=', held.serial).execute();
    const leave = `dn: ${VPN_CONTRACTORS}\nchangetype: modify\ndelete: member\nmember: uid=alice,${PEOPLE}\n`;
    const rejoin = `dn: ${VPN_CONTRACTORS}\nchangetype: modify\nadd: member\nmember: uid=alice,${PEOPLE}\n`;
    directory().modify(leave);
    try {
      const tokensBefore = await count('tokens');
      await assert.rejects(tally.services.requests.requestReplacement(alice, held.serial), { code: 'PROFILE_RESTRICTED' });
      assert.equal(await count('tokens'), tokensBefore);
    } finally {
      directory().modify(rejoin);
    }
    const replaced = await tally.services.requests.requestReplacement(alice, held.serial);
    assert.equal(replaced.outcome, 'distributed', 'back in the group, the replacement is given');
  });
});
