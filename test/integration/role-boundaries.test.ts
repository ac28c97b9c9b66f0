import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import { systemActor } from '../../src/domain/actor.js';
import { createServices, DEFAULT_SERVICE_OPTIONS } from '../../src/domain/services.js';
import { buildAdminApp } from '../../src/http/admin/app.js';
import { requireRoutePermissions } from '../../src/http/admin/permissions.js';
import { createLogger } from '../../src/logger.js';
import { consoleClient } from '../support/console.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, bearer, createTestTally, readyOn, type TestTally } from '../support/tally.js';
import { pageText } from '../support/web.js';

const PROFILES = {
  // Pending until its holder scans it: for distribution actions.
  phone: { name: 'Phone app', tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr' },
  // Made active by the test (the file is claimed), with a PIN: for authentication actions.
  pinFile: {
    name: 'Desktop file with PIN',
    tokenType: 'totp',
    deviceType: 'tally-cli',
    delivery: 'file',
    filePasswordPolicy: 'generated',
    pinMode: 'required',
  },
  ctkip: { name: 'SecurID iPhone', tokenType: 'securid', deviceType: 'ios', appVersion: '2.1', delivery: 'ctkip' },
  ctf: { name: 'SecurID CTF', tokenType: 'securid', deviceType: 'android', appVersion: '1.5', delivery: 'ctf' },
  approval: {
    name: 'Contractor phone',
    tokenType: 'totp',
    deviceType: 'authenticator',
    delivery: 'qr',
    selfService: true,
    requiresApproval: true,
  },
} as const;

type ActorRole = 'superadmin' | 'helpdesk';
type TargetRole = 'user' | 'helpdesk' | 'superadmin';
type Method = 'POST' | 'PATCH' | 'DELETE';

/** What an action needs made first: a target user, perhaps a token they hold or one to assign them. */
interface Fixture {
  username: string;
  serial: string;
}

interface Action {
  name: string;
  /** A token the action works on: active (PIN profile), pending (phone profile), unassigned, or none. */
  token: 'active' | 'disabled' | 'pending' | 'unassigned' | 'none';
  request: (f: Fixture) => { method: Method; url: string; payload?: object };
  /** The status when the actor may act; a refusal is always 403 FORBIDDEN. */
  allowed: number;
  /** Only a super admin may do it at all (tokens.delete), whoever the target. */
  superadminOnly?: boolean;
}

const ACTIONS: Action[] = [
  {
    name: 'edit the user',
    token: 'none',
    request: (f) => ({ method: 'PATCH', url: `/api/v1/users/${f.username}`, payload: { firstName: 'Changed' } }),
    allowed: 200,
  },
  {
    name: 'disable the user',
    token: 'none',
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.username}/disable` }),
    allowed: 200,
  },
  { name: 'enable the user', token: 'none', request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.username}/enable` }), allowed: 200 },
  { name: 'unlock the user', token: 'none', request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.username}/unlock` }), allowed: 200 },
  {
    name: 'end their sessions',
    token: 'none',
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.username}/sessions/revoke` }),
    allowed: 200,
  },
  {
    name: 'distribute them a token',
    token: 'none',
    request: (f) => ({ method: 'POST', url: `/api/v1/users/${f.username}/tokens`, payload: { profile: PROFILES.phone.name } }),
    allowed: 201,
  },
  {
    name: 'assign them a token',
    token: 'unassigned',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/assign`, payload: { username: f.username } }),
    allowed: 200,
  },
  {
    name: 'report their token lost',
    token: 'active',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/lost`, payload: { emergency: 'none' } }),
    allowed: 200,
  },
  {
    name: 'reset their PIN',
    token: 'active',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/reset-pin` }),
    allowed: 200,
  },
  {
    name: 'resynchronise their token',
    token: 'active',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/resync`, payload: { code1: '000000', code2: '111111' } }),
    allowed: 400,
  },
  {
    name: 'disable their token',
    token: 'active',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/disable` }),
    allowed: 200,
  },
  {
    name: 'enable their token',
    token: 'disabled',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/enable` }),
    allowed: 200,
  },
  {
    name: 'unlock their token',
    token: 'active',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/unlock` }),
    allowed: 200,
  },
  {
    name: 'reissue their token',
    token: 'pending',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/reissue` }),
    allowed: 200,
  },
  {
    name: 'reset their activation attempts',
    token: 'pending',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/reset-activation` }),
    allowed: 204,
  },
  {
    name: 'unassign their token',
    token: 'pending',
    request: (f) => ({ method: 'POST', url: `/api/v1/tokens/${f.serial}/unassign` }),
    allowed: 200,
  },
  {
    name: 'delete their token',
    token: 'pending',
    request: (f) => ({ method: 'DELETE', url: `/api/v1/tokens/${f.serial}` }),
    allowed: 204,
    superadminOnly: true,
  },
];

/**
 * No one acts on an account of equal or higher role: help desk looks after users whose role is
 * `user`; a super admin acts on anyone. One check in the domain, so REST, console and bulk agree.
 */
describeEachStore('Role boundaries', (getStore) => {
  let tally: TestTally;
  let made = 0;
  const api = (role: ActorRole, request: { method: Method; url: string; payload?: object }) =>
    tally.admin.inject({
      method: request.method,
      url: request.url,
      headers: bearer(tally.tokens[role]),
      ...(request.payload ? { payload: request.payload } : {}),
    });
  const tokenRow = (serial: string) =>
    getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  /** An active token for `username`: distributed as a file, whose one download makes it active. */
  const activeToken = async (username: string) => {
    const serial = (await tally.services.distribution.distributeToUser(systemActor, username, PROFILES.pinFile.name)).serial;
    await tally.services.distribution.adminDownload(systemActor, serial);
    return serial;
  };
  const fixture = async (targetRole: TargetRole, token: Action['token']): Promise<Fixture> => {
    const username = `${targetRole}-${++made}`;
    await tally.services.users.create(systemActor, { username, role: targetRole });
    let serial = '';
    if (token === 'active' || token === 'disabled') serial = await activeToken(username);
    if (token === 'disabled') await tally.services.tokenAdmin.setEnabled(systemActor, serial, false);
    if (token === 'pending')
      serial = (await tally.services.distribution.distributeToUser(systemActor, username, PROFILES.phone.name)).serial;
    if (token === 'unassigned')
      serial = (await tally.services.distribution.createUnassigned(systemActor, PROFILES.phone.name, 1))[0]!.serial;
    return { username, serial };
  };

  /** The `credential.shown` events about a token: who was shown what, for whom. */
  const shown = async (serial: string) =>
    (await tally.services.audit.list(systemActor, { action: 'credential.shown', target: serial, limit: 10 }))
      .filter((event) => event.actor !== 'system') // the test's own set-up (a file claimed to make a token active)
      .map((event) => ({ actor: event.actor, ...event.details }));

  before(async () => {
    tally = await createTestTally(getStore(), { logonRateLimit: 100 });
    for (const profile of Object.values(PROFILES)) await tally.services.profiles.create(systemActor, profile);
  });
  after(async () => tally.close());

  test('every action on a user or their token × actor role × target role, over REST', async () => {
    for (const action of ACTIONS) {
      for (const actorRole of ['superadmin', 'helpdesk'] as const) {
        for (const targetRole of ['user', 'helpdesk', 'superadmin'] as const) {
          const f = await fixture(targetRole, action.token);
          const before = action.token === 'none' ? undefined : await tokenRow(f.serial);
          const response = await api(actorRole, action.request(f));
          const may = actorRole === 'superadmin' || (targetRole === 'user' && !action.superadminOnly);
          const cell = `${action.name}: ${actorRole} on a ${targetRole} answered ${response.statusCode} ${response.body.slice(0, 200)}`;
          assert.equal(response.statusCode, may ? action.allowed : 403, cell);
          if (may) continue;
          assert.equal(response.json().error.code, 'FORBIDDEN', cell);
          // Refused means nothing changed.
          if (before) assert.deepEqual(await tokenRow(f.serial), before, cell);
        }
      }
    }
  });

  test("the attack: help desk reports a super admin's token lost and gets no emergency code", async () => {
    const f = await fixture('superadmin', 'active');
    const lost = await api('helpdesk', {
      method: 'POST',
      url: `/api/v1/tokens/${f.serial}/lost`,
      payload: { emergency: 'fixed', days: 30 },
    });
    assert.equal(lost.statusCode, 403);
    assert.equal(lost.json().error.code, 'FORBIDDEN');
    assert.equal(lost.json().emergencyCode, undefined);
    const row = await tokenRow(f.serial);
    assert.equal(row.state, 'active');
    assert.equal(row.emergency_hash, null, 'no emergency code exists that could authenticate');
    const refused = (await tally.services.audit.list(systemActor, { action: 'token.lost', target: f.serial, limit: 5 })).at(-1)!;
    assert.equal(refused.result, 'failure', 'the refusal is in the audit trail');
    // A super admin still can: the same request works for them.
    const own = await api('superadmin', { method: 'POST', url: `/api/v1/tokens/${f.serial}/lost`, payload: { emergency: 'one-time' } });
    assert.equal(own.statusCode, 200);
    const verify = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/auth/verify',
      headers: bearer(tally.tokens.agent),
      payload: { username: f.username, passcode: own.json().emergencyCode },
    });
    assert.equal(verify.json().result, 'accept');
  });

  test('a bulk distribution goes through the same check, user by user', async () => {
    const user = await fixture('user', 'none');
    const admin = await fixture('superadmin', 'none');
    const started = await api('helpdesk', {
      method: 'POST',
      url: '/api/v1/bulk-distributions',
      payload: { profile: PROFILES.ctkip.name, usernames: [user.username, admin.username] },
    });
    assert.equal(started.statusCode, 202, started.body);
    await tally.services.bulk.idle();
    const items = await tally.services.bulk.items(systemActor, started.json().id, { limit: 10, offset: 0 });
    assert.deepEqual(
      items.map((item) => [item.username, item.result, item.error]),
      [
        [user.username, 'distributed', null],
        [admin.username, 'failed', 'FORBIDDEN'],
      ],
    );
    const byAdmin = await api('superadmin', {
      method: 'POST',
      url: '/api/v1/bulk-distributions',
      payload: { profile: PROFILES.ctkip.name, usernames: [user.username] },
    });
    await tally.services.bulk.idle();
    const [item] = await tally.services.bulk.items(systemActor, byAdmin.json().id, { limit: 10, offset: 0 });
    assert.equal(item?.result, 'distributed');
    assert.deepEqual(await shown(item?.serial ?? ''), [], 'a bulk run shows no one a credential, so none is recorded as shown');
    assert.deepEqual(
      await getStore()
        .db.selectFrom('tokens')
        .innerJoin('users', 'users.id', 'tokens.user_id')
        .select('serial')
        .where('users.username', '=', admin.username)
        .execute(),
      [],
    );
  });

  test('--helpdesk-credentials none (the default): help desk is shown no activation or emergency code; super admins are, and each showing is audited', async () => {
    const f = await fixture('user', 'none');
    const distributed = await api('helpdesk', {
      method: 'POST',
      url: `/api/v1/users/${f.username}/tokens`,
      payload: { profile: PROFILES.ctkip.name },
    });
    assert.equal(distributed.statusCode, 201, distributed.body);
    const serial = distributed.json().serial;
    assert.equal(distributed.json().activationCode, undefined, 'the CT-KIP client would turn the code into the seed');
    assert.equal(distributed.json().appLink, undefined, 'the app link carries the code');
    const reissued = await api('helpdesk', { method: 'POST', url: `/api/v1/tokens/${serial}/reissue` });
    assert.equal(reissued.statusCode, 200);
    assert.equal(reissued.json().activationCode, undefined);
    assert.deepEqual(await shown(serial), []);
    // The holder still gets a code, in the Self-Service Console.
    const activation = await tally.services.distribution.activation({ kind: 'user', name: f.username, role: 'user' }, serial);
    assert.match(activation.kind === 'ctkip' ? (activation.activationCode ?? '') : '', /^\d{12}$/);

    const active = await fixture('user', 'active');
    const lost = await api('helpdesk', { method: 'POST', url: `/api/v1/tokens/${active.serial}/lost`, payload: { emergency: 'one-time' } });
    assert.equal(lost.statusCode, 403);
    assert.match(lost.json().error.message, /emergency access codes.*helpdesk-credentials none/);
    assert.equal((await tokenRow(active.serial)).state, 'active', 'refused before anything changed');
    assert.equal(
      (await api('helpdesk', { method: 'POST', url: `/api/v1/tokens/${active.serial}/lost`, payload: { emergency: 'none' } })).statusCode,
      200,
      'without a code it may',
    );
    assert.deepEqual(await shown(active.serial), []);

    const byAdmin = await api('superadmin', {
      method: 'POST',
      url: `/api/v1/users/${f.username}/tokens`,
      payload: { profile: PROFILES.ctkip.name },
    });
    assert.match(byAdmin.json().activationCode, /^\d{12}$/);
    assert.deepEqual(await shown(byAdmin.json().serial), [{ actor: 'test-superadmin', username: f.username, kind: 'activation-code' }]);
    const adminLost = await api('superadmin', {
      method: 'POST',
      url: `/api/v1/tokens/${(await fixture('user', 'active')).serial}/lost`,
      payload: { emergency: 'fixed' },
    });
    assert.match(adminLost.json().emergencyCode, /^\d{8}$/);
    assert.deepEqual(await shown(adminLost.json().token.serial), [
      { actor: 'test-superadmin', username: adminLost.json().token.username, kind: 'emergency-code' },
    ]);
    const file = await api('superadmin', {
      method: 'POST',
      url: `/api/v1/users/${f.username}/tokens`,
      payload: { profile: PROFILES.pinFile.name },
    });
    assert.deepEqual(await shown(file.json().serial), [
      { actor: 'test-superadmin', username: f.username, kind: 'download-link,file-password' },
    ]);
    const audit = JSON.stringify(await tally.services.audit.list(systemActor, { action: 'credential.shown', limit: 100 }));
    for (const secret of [byAdmin.json().activationCode, adminLost.json().emergencyCode, file.json().filePassword])
      assert.ok(!audit.includes(secret), 'the audit never holds the credential');
  });

  test('--helpdesk-credentials one-time-codes: help desk is shown activation and emergency codes (audited), never a seed or a file', async () => {
    // Another node on the same store, started with the other setting.
    const services = createServices(getStore(), tally.keyring, tally.clock, {
      ...DEFAULT_SERVICE_OPTIONS,
      helpdeskCredentials: 'one-time-codes',
    });
    const app = await buildAdminApp(services, { logger: createLogger('silent'), readiness: readyOn(getStore(), tally.keyring) });
    const other = { services, admin: app, tokens: tally.tokens };
    try {
      const call = (request: { method: Method; url: string; payload?: object }) =>
        other.admin.inject({
          method: request.method,
          url: request.url,
          headers: bearer(other.tokens.helpdesk),
          ...(request.payload ? { payload: request.payload } : {}),
        });
      await other.services.users.create(systemActor, { username: 'olga' });
      const distributed = await call({ method: 'POST', url: '/api/v1/users/olga/tokens', payload: { profile: PROFILES.ctkip.name } });
      assert.match(distributed.json().activationCode, /^\d{12}$/);
      const events = await other.services.audit.list(systemActor, {
        action: 'credential.shown',
        target: distributed.json().serial,
        limit: 5,
      });
      assert.deepEqual(
        events.map((event) => [event.actor, event.details]),
        [['test-helpdesk', { username: 'olga', kind: 'activation-code' }]],
      );

      const file = await call({ method: 'POST', url: '/api/v1/users/olga/tokens', payload: { profile: PROFILES.pinFile.name } });
      assert.equal(file.statusCode, 201);
      assert.equal(file.json().downloadUrl, undefined, 'a token file is its seed');
      assert.equal(file.json().filePassword, undefined);
      assert.equal(
        (await call({ method: 'POST', url: '/api/v1/users/olga/tokens', payload: { profile: PROFILES.ctf.name } })).statusCode,
        403,
        'a CTF string is its seed',
      );

      await other.services.distribution.adminDownload(systemActor, file.json().serial);
      const lost = await call({ method: 'POST', url: `/api/v1/tokens/${file.json().serial}/lost`, payload: { emergency: 'one-time' } });
      assert.equal(lost.statusCode, 200);
      const verify = await other.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(other.tokens.agent),
        payload: { username: 'olga', passcode: lost.json().emergencyCode },
      });
      assert.equal(verify.json().result, 'accept');
      const lostEvents = await other.services.audit.list(systemActor, { action: 'credential.shown', target: file.json().serial, limit: 5 });
      assert.deepEqual(
        lostEvents.map((event) => [event.actor, event.details]),
        [
          ['test-helpdesk', { username: 'olga', kind: 'emergency-code' }],
          ['system', { username: 'olga', kind: 'token-file' }],
        ],
      );
    } finally {
      await app.close();
    }
  });

  test('a token request is decided only by whoever has authority over the user who made it', async () => {
    for (const targetRole of ['superadmin', 'helpdesk', 'user'] as const) {
      const f = await fixture(targetRole, 'none');
      // Any account may use the Self-Service Console, as a holder.
      const made = await tally.services.requests.request({ kind: 'user', name: f.username, role: 'user' }, PROFILES.approval.name);
      assert.equal(made.outcome, 'waiting');
      const request = made.outcome === 'waiting' ? made.request : assert.fail('no request');
      for (const decision of [
        { method: 'POST' as const, url: `/api/v1/requests/${request.id}/reject`, payload: { reason: 'no' } },
        { method: 'POST' as const, url: `/api/v1/requests/${request.id}/approve` },
      ]) {
        const response = await api('helpdesk', decision);
        assert.equal(
          response.statusCode,
          targetRole === 'user' ? 200 : 403,
          `${decision.url} for a ${targetRole}: ${response.body.slice(0, 200)}`,
        );
        if (targetRole === 'user') break;
      }
      const [row] = await tally.services.requests
        .list(systemActor, { limit: 500, offset: 0 })
        .then((all) => all.filter((r) => r.id === request.id));
      assert.equal(row?.state, targetRole === 'user' ? 'rejected' : 'pending', targetRole);
    }
  });

  test('the Security Console refuses the same actions with the same rule', async () => {
    await tally.services.users.create(systemActor, { username: 'hilda', role: 'helpdesk', password: 'helpdesk-password-1' });
    const helpdesk = await consoleClient(tally.admin, 'hilda', 'helpdesk-password-1', '10.9.0.1');
    const admin = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '10.9.0.2');
    const target = await fixture('superadmin', 'active');
    const page = `/console/tokens/${target.serial}`;
    const before = await tokenRow(target.serial);
    for (const [from, action, fields] of [
      [page, `${page}/lost`, { emergency: 'one-time', days: '3' }],
      [page, `${page}/reset-pin`, {}],
      [page, `${page}/unassign`, { confirm: 'yes' }],
      [`/console/users/${target.username}`, `/console/users/${target.username}/unlock`, {}],
      [`/console/users/${target.username}`, `/console/users/${target.username}/sessions/revoke`, {}],
    ] as const) {
      await helpdesk.get(from);
      const response = await helpdesk.post(action, fields);
      assert.equal(response.statusCode, 403, `${action}: ${pageText(response.body).slice(0, 300)}`);
      assert.match(pageText(response.body), /FORBIDDEN/);
    }
    assert.deepEqual(await tokenRow(target.serial), before, 'nothing changed');
    await admin.get(page);
    assert.equal((await admin.post(`${page}/disable`, { confirm: 'yes' })).statusCode, 303, 'a super admin may');
    assert.equal((await tokenRow(target.serial)).state, 'disabled');
  });

  test('the Security Console offers help desk no emergency code under none, and marks the token lost without one', async () => {
    await tally.services.users.create(systemActor, { username: 'hanna', role: 'helpdesk', password: 'helpdesk-password-3' });
    const helpdesk = await consoleClient(tally.admin, 'hanna', 'helpdesk-password-3', '10.9.0.4');
    const admin = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '10.9.0.5');
    const target = await fixture('user', 'active');
    const page = `/console/tokens/${target.serial}`;
    const options = (body: string) => [...body.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(options((await helpdesk.get(page)).body), ['none']);
    assert.deepEqual(options((await admin.get(page)).body), ['one-time', 'fixed', 'none']);
    const lost = await helpdesk.post(`${page}/lost`, { emergency: 'none', days: '7' });
    assert.equal(lost.statusCode, 200);
    assert.doesNotMatch(lost.body, /id="emergency-code"/);
    assert.equal((await tokenRow(target.serial)).state, 'disabled');
  });

  test('authorisation before validation: a caller without the right gets 403, never a 400 describing the schema', async () => {
    const cases: [string, ActorRole | 'agent', { method: Method | 'GET' | 'PUT'; url: string; payload?: object }][] = [
      ["a body for a super admin's route", 'helpdesk', { method: 'POST', url: '/api/v1/radius-clients', payload: { nonsense: 1 } }],
      ['a body for a help desk route', 'agent', { method: 'PATCH', url: '/api/v1/users/someone', payload: { shoeSize: 42 } }],
      [
        'params that fail their pattern',
        'agent',
        { method: 'POST', url: '/api/v1/tokens/not%20a%20serial%21/lost', payload: { emergency: 'sometimes' } },
      ],
      ['a device type definition', 'helpdesk', { method: 'PUT', url: '/api/v1/device-types/x', payload: { label: 1 } }],
      ['the capability table', 'agent', { method: 'GET', url: '/api/v1/device-types' }],
    ];
    for (const [name, role, request] of cases) {
      const response = await tally.admin.inject({
        method: request.method,
        url: request.url,
        headers: bearer(tally.tokens[role]),
        ...(request.payload ? { payload: request.payload } : {}),
      });
      assert.equal(response.statusCode, 403, `${name}: ${response.body.slice(0, 300)}`);
      assert.equal(response.json().error.code, 'FORBIDDEN');
      assert.doesNotMatch(response.body, /must have|must NOT|additional/i, 'nothing about the schema');
    }
    // Those allowed still get the schema's answer.
    assert.equal(
      (
        await tally.admin.inject({
          method: 'POST',
          url: '/api/v1/radius-clients',
          headers: bearer(tally.tokens.superadmin),
          payload: { nonsense: 1 },
        })
      ).statusCode,
      400,
    );
    assert.equal(
      (await tally.admin.inject({ method: 'GET', url: '/api/v1/device-types', headers: bearer(tally.tokens.helpdesk) })).statusCode,
      200,
    );

    await tally.services.users.create(systemActor, { username: 'hugo', role: 'helpdesk', password: 'helpdesk-password-2' });
    const helpdesk = await consoleClient(tally.admin, 'hugo', 'helpdesk-password-2', '10.9.0.3');
    await helpdesk.get('/console/profiles');
    const form = await helpdesk.post('/console/profiles/new', { name: 'x'.repeat(5000), digits: 'many' });
    assert.equal(form.statusCode, 403, pageText(form.body).slice(0, 300));
    assert.match(pageText(form.body), /FORBIDDEN/);
  });

  test('every admin route declares its permission: a route without one stops the start', async () => {
    const app = Fastify();
    const registered = app.register(async (scope) => {
      requireRoutePermissions(scope);
      scope.get('/declared', { config: { permission: 'users.read' } }, async () => ({}));
      scope.get('/forgotten', async () => ({}));
    });
    await assert.rejects(async () => registered, /GET \/forgotten declares no permission/);
    await app.close().catch(() => undefined);
  });
});
