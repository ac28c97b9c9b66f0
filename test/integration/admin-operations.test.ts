import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Actor, systemActor } from '../../src/domain/actor.js';
import { BulkDistributionRepository } from '../../src/store/repositories/bulk-distributions.js';
import { firstItem } from '../support/items.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

const PROFILES = {
  phone: { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr' },
  desktop: { name: 'Desktop file', tokenType: 'totp', deviceType: 'tally-cli', delivery: 'file', filePasswordPolicy: 'generated' },
  ctf: { name: 'SecurID CTF', tokenType: 'securid', deviceType: 'android', appVersion: '1.5', delivery: 'ctf' },
} as const;

const helpdeskActor: Actor = { kind: 'admin', name: 'hilda', role: 'helpdesk' };

/** The REST side of the Security Console's operations: the API and the console stay at parity. */
describeEachStore('Admin operations over REST', (getStore) => {
  let tally: TestTally;
  type Role = 'superadmin' | 'helpdesk' | 'agent';
  const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, role: Role = 'superadmin') =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens[role]), ...(payload ? { payload } : {}) });
  const tokenRow = (serial: string) =>
    getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();

  before(async () => {
    tally = await createTestTally(getStore());
    for (const username of ['alice', 'bob', 'carol', 'dave'])
      await tally.services.users.create(systemActor, { username, email: `${username}@example.com` });
    await tally.services.users.create(systemActor, { username: 'hilda', role: 'helpdesk', password: 'helpdesk-password-1' });
    for (const profile of Object.values(PROFILES)) await tally.services.profiles.create(systemActor, profile);
  });
  after(async () => tally.close());

  test('each new operation is allowed or refused by role, in the domain', async () => {
    const serial = (await tally.services.distribution.distributeToUser(systemActor, 'alice', PROFILES.phone.name)).serial;
    const matrix: [string, 'GET' | 'POST' | 'PATCH' | 'DELETE', string, object | undefined, Record<Role, number>][] = [
      ['dashboard', 'GET', '/api/v1/dashboard', undefined, { superadmin: 200, helpdesk: 200, agent: 403 }],
      ['user authentications', 'GET', '/api/v1/users/alice/authentications', undefined, { superadmin: 200, helpdesk: 200, agent: 403 }],
      ['change an ordinary user', 'PATCH', '/api/v1/users/bob', { firstName: 'Bob' }, { superadmin: 200, helpdesk: 200, agent: 403 }],
      ['change an admin', 'PATCH', '/api/v1/users/hilda', { firstName: 'Hilda' }, { superadmin: 200, helpdesk: 403, agent: 403 }],
      ['promote', 'PATCH', '/api/v1/users/bob', { role: 'helpdesk' }, { superadmin: 200, helpdesk: 403, agent: 403 }],
      ['import users', 'POST', '/api/v1/users/import', { csv: 'username\n' }, { superadmin: 200, helpdesk: 200, agent: 403 }],
      ['end sessions', 'POST', '/api/v1/users/alice/sessions/revoke', undefined, { superadmin: 200, helpdesk: 200, agent: 403 }],
      ['audit export', 'GET', '/api/v1/audit/export?action=token.*', undefined, { superadmin: 200, helpdesk: 200, agent: 403 }],
      ['list API tokens', 'GET', '/api/v1/apitokens', undefined, { superadmin: 200, helpdesk: 403, agent: 403 }],
      ['list bulk distributions', 'GET', '/api/v1/bulk-distributions', undefined, { superadmin: 200, helpdesk: 200, agent: 403 }],
      [
        'assign from CSV',
        'POST',
        '/api/v1/tokens/assignments',
        { csv: 'serial,username\n' },
        { superadmin: 200, helpdesk: 200, agent: 403 },
      ],
      [
        'start a bulk distribution',
        'POST',
        '/api/v1/bulk-distributions',
        { profile: PROFILES.ctf.name, usernames: ['alice'] },
        { superadmin: 400, helpdesk: 400, agent: 403 },
      ],
      [
        'change a profile',
        'PATCH',
        `/api/v1/profiles/${encodeURIComponent(PROFILES.phone.name)}`,
        { digits: 6 },
        { superadmin: 200, helpdesk: 403, agent: 403 },
      ],
      ['remove a RADIUS client', 'DELETE', '/api/v1/radius-clients/none', undefined, { superadmin: 404, helpdesk: 403, agent: 403 }],
      ['revoke an API token', 'POST', '/api/v1/apitokens/999999/revoke', undefined, { superadmin: 404, helpdesk: 403, agent: 403 }],
      ['delete a token', 'DELETE', '/api/v1/tokens/NOSUCHTOKEN', undefined, { superadmin: 404, helpdesk: 403, agent: 403 }],
      ['download a seed', 'POST', `/api/v1/tokens/${serial}/download`, undefined, { superadmin: 410, helpdesk: 403, agent: 403 }],
    ];
    for (const [name, method, url, payload, expected] of matrix) {
      for (const role of ['agent', 'helpdesk', 'superadmin'] as const) {
        const response = await api(method, url, payload, role);
        assert.equal(response.statusCode, expected[role], `${name} as ${role}: ${response.body.slice(0, 200)}`);
        if (expected[role] === 403) assert.equal(response.json().error.code, 'FORBIDDEN');
      }
    }
    assert.equal((await api('PATCH', '/api/v1/users/bob', { role: 'user' })).statusCode, 200);
  });

  test("a user changes: fields, null clears, a new password; the last super admin and one's own account are kept", async () => {
    const changed = await api('PATCH', '/api/v1/users/carol', {
      email: 'carol@new.example',
      firstName: 'Carol',
      lastName: 'Danvers',
      password: 'carol-password-1',
    });
    assert.equal(changed.statusCode, 200);
    assert.deepEqual([changed.json().email, changed.json().firstName, changed.json().lastName], ['carol@new.example', 'Carol', 'Danvers']);
    assert.equal(changed.json().password, undefined);
    const cleared = (await api('PATCH', '/api/v1/users/carol', { lastName: null })).json();
    assert.deepEqual([cleared.firstName, cleared.lastName], ['Carol', null]);
    assert.equal((await api('PATCH', '/api/v1/users/carol', { email: 'nope' })).json().error.code, 'VALIDATION_FAILED');
    assert.equal((await api('PATCH', '/api/v1/users/carol', { shoeSize: 42 })).statusCode, 400, 'unknown fields are errors');
    await tally.services.users.logOn({ username: 'carol', password: 'carol-password-1', console: 'self-service' });
    const event = (await tally.services.audit.list(systemActor, { action: 'user.update', target: 'carol', limit: 5 })).at(-1)!;
    assert.deepEqual(event.details, { fields: 'email,firstName,lastName,password' });
    assert.doesNotMatch(JSON.stringify(await tally.services.audit.list(systemActor, { limit: 100 })), /carol-password-1/);

    const demote = await api('PATCH', '/api/v1/users/admin', { role: 'helpdesk' });
    assert.equal(demote.statusCode, 409);
    assert.match(demote.json().error.message, /last enabled super admin/);
    await assert.rejects(
      tally.services.users.setDisabled({ kind: 'admin', name: 'admin', role: 'superadmin' }, 'admin', true),
      /cannot disable your own account/,
    );
  });

  test('disable and enable: a disabled user is refused at authentication, and enabled again works', async () => {
    assert.equal((await api('POST', '/api/v1/users/dave/disable', undefined, 'helpdesk')).json().disabled, true);
    const verify = await tally.services.authentication.verify(systemActor, { username: 'dave', passcode: '123456', channel: 'rest' });
    assert.equal(verify.result, 'reject');
    assert.equal(
      firstItem(await tally.services.audit.list(systemActor, { action: 'auth.rest', limit: 1 })).details?.reason,
      'user disabled',
    );
    assert.equal((await api('POST', '/api/v1/users/dave/enable', undefined, 'helpdesk')).json().disabled, false);
    await assert.rejects(tally.services.distribution.distributeToUser(systemActor, 'nobody', PROFILES.phone.name), {
      code: 'USER_NOT_FOUND',
    });
  });

  test('CSV import over REST: a report per row, each with the line of the file it is on', async () => {
    // A quoted line break (in the first password) and a blank line: the rows start on lines 2, 5 and 6.
    const response = await api('POST', '/api/v1/users/import', {
      csv: 'username,email,password\nerin,erin@example.com,"erin-password-1\nsecond line"\n\nerin,,\nfred,fred@example.com,short\n',
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      created: 1,
      refused: 2,
      rows: [
        { row: 1, line: 2, username: 'erin', result: 'created' },
        { row: 2, line: 5, username: 'erin', result: 'refused', reason: 'A user named erin exists already.' },
        { row: 3, line: 6, username: 'fred', result: 'refused', reason: 'password must be 8 to 1024 characters long.' },
      ],
    });
    const event = firstItem(await tally.services.audit.list(systemActor, { action: 'user.import', limit: 1 }));
    assert.deepEqual(event.details, { created: 1, refused: 2 });
    assert.doesNotMatch(JSON.stringify(await tally.services.audit.list(systemActor, { limit: 50 })), /erin-password-1/);
    assert.equal((await api('POST', '/api/v1/users/import', { csv: '' })).json().error.code, 'VALIDATION_FAILED');
    assert.equal((await api('POST', '/api/v1/users/import', { csv: 'username,"x\n' })).json().error.code, 'FORMAT_INVALID');
  });

  test('seeds reach super admins and holders only: help desk gets no file link, no CTF, no download', async () => {
    const file = await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.desktop.name }, 'helpdesk');
    assert.equal(file.statusCode, 201);
    assert.equal(file.json().downloadUrl, undefined);
    assert.equal(file.json().filePassword, undefined);
    assert.equal(file.json().state, 'pending');
    const mine = await tally.services.selfService.activate({ kind: 'user', name: 'bob', role: 'user' }, file.json().serial);
    assert.equal(mine.kind, 'file', 'the holder gets the file in the Self-Service Console');
    const ctf = await api('POST', '/api/v1/users/bob/tokens', { profile: PROFILES.ctf.name }, 'helpdesk');
    assert.equal(ctf.statusCode, 403);
    assert.match(ctf.json().error.message, /never sees a seed/);
    assert.equal(
      (await tally.services.tokens.list(systemActor, { username: 'bob', limit: 10, offset: 0 })).filter((t) => t.tokenType === 'securid')
        .length,
      0,
      'the refused token was not made',
    );
    const unassigned = firstItem(await tally.services.distribution.createUnassigned(systemActor, PROFILES.ctf.name, 1)).serial;
    assert.equal((await api('POST', `/api/v1/tokens/${unassigned}/assign`, { username: 'bob' }, 'helpdesk')).statusCode, 403);
    assert.equal((await tokenRow(unassigned)).state, 'unassigned');
    const superadmin = await api('POST', `/api/v1/tokens/${unassigned}/assign`, { username: 'bob' });
    assert.match(superadmin.json().ctf, /^\d+$/);
    await assert.rejects(tally.services.distribution.adminDownload(helpdeskActor, file.json().serial), { code: 'FORBIDDEN' });
  });

  test('unassign and delete over REST', async () => {
    const serial = (await api('POST', '/api/v1/users/alice/tokens', { profile: PROFILES.desktop.name })).json().serial;
    const unassigned = await api('POST', `/api/v1/tokens/${serial}/unassign`, undefined, 'helpdesk');
    assert.equal(unassigned.statusCode, 200);
    assert.deepEqual([unassigned.json().state, unassigned.json().username], ['unassigned', null]);
    assert.equal((await api('POST', `/api/v1/tokens/${serial}/unassign`)).json().error.code, 'TOKEN_STATE_INVALID');
    const open = await getStore()
      .db.selectFrom('distributions')
      .select('state')
      .where('token_id', '=', (await tokenRow(serial)).id)
      .execute();
    assert.ok(
      open.every((d) => d.state !== 'open'),
      'its link stopped working',
    );
    const reassigned = await api('POST', `/api/v1/tokens/${serial}/assign`, { username: 'bob' });
    assert.match(reassigned.json().downloadUrl, /\/download\//, 'it is distributed afresh, with a new seed');
    const id = (await tokenRow(serial)).id;
    assert.equal((await api('DELETE', `/api/v1/tokens/${serial}`)).statusCode, 204);
    assert.equal((await api('GET', `/api/v1/tokens/${serial}`)).statusCode, 404);
    assert.deepEqual(
      await getStore().db.selectFrom('distributions').select('id').where('token_id', '=', id).execute(),
      [],
      'its distributions went with it',
    );
    const history = await api('GET', `/api/v1/audit?serial=${serial}`);
    assert.deepEqual(
      history
        .json()
        .events.slice(0, 2)
        .map((e: { action: string }) => e.action),
      ['token.delete', 'token.assign'],
    );
    assert.deepEqual(history.json().events[0].details, { state: 'pending', username: 'bob' });
  });

  test('bulk distribution over REST: 202 at once, then progress and a report per user', async () => {
    const names = ['bulk-a', 'bulk-b', 'bulk-c'];
    for (const username of names) await tally.services.users.create(systemActor, { username });
    const started = await api(
      'POST',
      '/api/v1/bulk-distributions',
      { profile: PROFILES.phone.name, usernames: [...names, 'bulk-a', 'ghost'] },
      'helpdesk',
    );
    assert.equal(started.statusCode, 202);
    assert.equal(started.json().total, 4, 'a name listed twice gets one token');
    await tally.services.bulk.idle();
    const progress = await api('GET', `/api/v1/bulk-distributions/${started.json().id}`);
    assert.deepEqual(
      { ...progress.json().bulkDistribution, createdAt: undefined, finishedAt: undefined, id: undefined },
      {
        id: undefined,
        profile: PROFILES.phone.name,
        createdBy: 'test-helpdesk',
        state: 'finished',
        total: 4,
        distributed: 3,
        failed: 1,
        waiting: 0,
        createdAt: undefined,
        finishedAt: undefined,
        group: null,
        credentials: { state: 'none', expiresAt: null, downloadedAt: null, downloadedBy: null, mayDownload: true },
      },
    );
    const failed = await api('GET', `/api/v1/bulk-distributions/${started.json().id}?result=failed`);
    assert.deepEqual(failed.json().items, [
      { position: 4, username: 'ghost', result: 'failed', serial: null, error: 'USER_NOT_FOUND', message: 'No user named ghost.' },
    ]);
    for (const username of names)
      assert.equal((await tally.services.tokens.list(systemActor, { username, limit: 5, offset: 0 })).length, 1);
    const events = await tally.services.audit.list(systemActor, { actor: 'test-helpdesk', action: 'token.distribute', limit: 10 });
    assert.ok(events.length >= 3, 'each distribution is audited with the admin who started the run');
    assert.equal(
      (await api('POST', '/api/v1/bulk-distributions', { profile: 'No such', usernames: ['x'] })).json().error.code,
      'PROFILE_NOT_FOUND',
    );
    assert.equal((await api('POST', '/api/v1/bulk-distributions', { profile: PROFILES.phone.name, usernames: [] })).statusCode, 400);
    assert.equal((await api('GET', '/api/v1/bulk-distributions/999')).json().error.code, 'BULK_DISTRIBUTION_NOT_FOUND');
    assert.equal((await api('POST', `/api/v1/bulk-distributions/${started.json().id}/resume`)).statusCode, 409);
    assert.equal((await api('GET', '/api/v1/bulk-distributions')).json().bulkDistributions[0].id, started.json().id);
  });

  test('a bulk distribution stopped by shutdown stays resumable; its progress is in the store', async () => {
    await tally.services.users.create(systemActor, { username: 'stopped1' });
    const repository = new BulkDistributionRepository(getStore().db);
    const row = await repository.create({
      profile: PROFILES.phone.name,
      createdBy: 'admin',
      usernames: ['stopped1'],
      now: tally.clock.now() - 10 * 60_000,
    });
    assert.equal((await tally.services.bulk.get(systemActor, Number(row.id))).state, 'interrupted');
    const resumed = await api('POST', `/api/v1/bulk-distributions/${row.id}/resume`);
    assert.equal(resumed.statusCode, 200);
    await tally.services.bulk.idle();
    assert.equal((await tally.services.bulk.get(systemActor, Number(row.id))).state, 'finished');
  });

  test('a store fault while a bulk run distributes leaves that user waiting, not failed: the run stops and resumes', async () => {
    for (const username of ['fault1', 'fault2']) await tally.services.users.create(systemActor, { username });
    const distribution = tally.services.distribution;
    const original = distribution.distributeToUser.bind(distribution);
    let faults = 1;
    distribution.distributeToUser = (async (...args: Parameters<typeof original>) => {
      if (faults-- > 0) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return original(...args);
    }) as typeof original;
    try {
      const started = await api('POST', '/api/v1/bulk-distributions', { profile: PROFILES.phone.name, usernames: ['fault1', 'fault2'] });
      assert.equal(started.statusCode, 202, started.body);
      await tally.services.bulk.idle();
      const stopped = (await api('GET', `/api/v1/bulk-distributions/${started.json().id}`)).json().bulkDistribution;
      assert.equal(stopped.failed, 0, "nobody is reported failed for the store's fault");
      assert.equal(stopped.waiting, 2);
      tally.clock.ms += 10 * 60_000;
      assert.equal((await api('GET', `/api/v1/bulk-distributions/${started.json().id}`)).json().bulkDistribution.state, 'interrupted');
      assert.equal((await api('POST', `/api/v1/bulk-distributions/${started.json().id}/resume`)).statusCode, 200);
      await tally.services.bulk.idle();
      const resumed = (await api('GET', `/api/v1/bulk-distributions/${started.json().id}`)).json().bulkDistribution;
      assert.deepEqual([resumed.state, resumed.distributed, resumed.failed], ['finished', 2, 0]);
    } finally {
      distribution.distributeToUser = original;
    }
  });

  test('audit export over REST takes the same filters as the list', async () => {
    const csv = await api('GET', '/api/v1/audit/export?action=user.*&result=success');
    assert.equal(csv.statusCode, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    const lines = csv.body.trim().split('\r\n');
    assert.ok(lines.length > 2);
    assert.ok(lines.slice(1).every((line) => /,user\.[a-z]+,/.test(line) && line.includes(',success,')));
    const list = await api('GET', '/api/v1/audit?action=user.*&result=success&limit=1000');
    assert.equal(list.json().events.length, lines.length - 1);
  });

  test('API tokens: listed without their secret, revoked for good', async () => {
    const created = (await api('POST', '/api/v1/apitokens', { name: 'robot', role: 'agent' })).json();
    const listed = (await api('GET', '/api/v1/apitokens')).json().apiTokens;
    const robot = listed.find((t: { name: string }) => t.name === 'robot');
    assert.deepEqual(Object.keys(robot).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role']);
    assert.doesNotMatch(JSON.stringify(listed), new RegExp(created.token));
    const verify = () =>
      tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(created.token),
        payload: { username: 'alice', passcode: '1' },
      });
    assert.equal((await verify()).statusCode, 200);
    assert.notEqual((await api('POST', `/api/v1/apitokens/${robot.id}/revoke`)).json().revokedAt, null);
    assert.equal((await verify()).statusCode, 401);
    assert.equal((await api('POST', `/api/v1/apitokens/${robot.id}/revoke`)).json().error.code, 'CONFLICT');
  });

  test('RADIUS clients can be removed; their packets are dropped from then on', async () => {
    await api('POST', '/api/v1/radius-clients', { name: 'nas', address: '192.0.2.10', secret: 'a-long-shared-secret' });
    assert.ok(await tally.services.radiusClients.resolve('192.0.2.10'));
    assert.equal((await api('DELETE', '/api/v1/radius-clients/nas')).statusCode, 204);
    assert.equal(await tally.services.radiusClients.resolve('192.0.2.10'), undefined);
  });

  test('profiles change over PATCH, checked against the capability table like a new one', async () => {
    await tally.services.profiles.create(systemActor, {
      name: 'Phones 2',
      tokenType: 'securid',
      deviceType: 'ios',
      appVersion: '2.1',
      delivery: 'qr',
    });
    const url = `/api/v1/profiles/${encodeURIComponent('Phones 2')}`;
    const downgraded = await api('PATCH', url, { appVersion: '1.2' });
    assert.equal(downgraded.statusCode, 422);
    assert.match(downgraded.json().error.message, /1\.x for iOS cannot scan QR codes/);
    const ctkip = await api('PATCH', url, { appVersion: '1.2', delivery: 'ctkip', selfService: true });
    assert.equal(ctkip.statusCode, 200);
    assert.deepEqual(
      [ctkip.json().appVersion, ctkip.json().delivery, ctkip.json().selfService, ctkip.json().digits],
      ['1.2', 'ctkip', true, 8],
    );
    const retyped = await api('PATCH', url, { tokenType: 'totp', deviceType: 'authenticator', appVersion: null, delivery: 'qr' });
    assert.deepEqual(
      [retyped.json().tokenType, retyped.json().digits, retyped.json().period, retyped.json().algorithm, retyped.json().tokenLifetimeDays],
      ['totp', 6, 30, 'SHA1', null],
      'settings start again from the new type',
    );
    const withPassword = await api('PATCH', url, {
      deviceType: 'tally-cli',
      delivery: 'file',
      filePasswordPolicy: 'admin',
      filePassword: 'file-password-1',
    });
    assert.equal(withPassword.statusCode, 200);
    assert.equal((await api('PATCH', url, { description: 'kept password' })).statusCode, 200, 'the sealed password stays');
    const distributed = await api('POST', '/api/v1/users/alice/tokens', { profile: 'Phones 2' });
    assert.equal(distributed.json().filePassword, 'file-password-1');
    assert.equal((await api('PATCH', '/api/v1/profiles/nope', { digits: 6 })).json().error.code, 'PROFILE_NOT_FOUND');
    const events = await tally.services.audit.list(systemActor, { action: 'profile.update', limit: 10 });
    assert.doesNotMatch(JSON.stringify(events), /file-password-1/);
  });

  test('the dashboard over REST', async () => {
    const dashboard = (await api('GET', '/api/v1/dashboard', undefined, 'helpdesk')).json();
    assert.equal(dashboard.authentications.hours.length, 24);
    assert.equal(
      dashboard.tokens.total,
      dashboard.tokens.unassigned + dashboard.tokens.pending + dashboard.tokens.active + dashboard.tokens.disabled,
    );
    assert.ok(dashboard.users.total >= 5);
  });

  test('OpenAPI describes the new endpoints and none of the console pages', async () => {
    const spec = (await api('GET', '/api/v1/openapi.json')).json();
    for (const path of [
      '/api/v1/dashboard',
      '/api/v1/bulk-distributions',
      '/api/v1/bulk-distributions/{id}',
      '/api/v1/audit/export',
      '/api/v1/users/import',
      '/api/v1/users/{username}/authentications',
      '/api/v1/tokens/{serial}/unassign',
      '/api/v1/apitokens/{id}/revoke',
    ]) {
      assert.ok(spec.paths[path], path);
    }
    assert.ok(spec.paths['/api/v1/users/{username}'].patch);
    assert.ok(spec.paths['/api/v1/profiles/{name}'].patch);
    assert.deepEqual(
      Object.keys(spec.paths).filter((path) => !path.startsWith('/api/v1')),
      [],
    );
  });
});
