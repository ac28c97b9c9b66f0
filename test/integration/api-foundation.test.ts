import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { firstItem, item } from '../support/items.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

describeEachStore('REST API foundation', (getStore) => {
  let tally: TestTally;
  before(async () => {
    tally = await createTestTally(getStore());
  });
  after(async () => tally.close());

  const post = (url: string, body: unknown, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method: 'POST', url, headers: bearer(token), payload: body as object });

  test('creates, gets and lists users; the password never comes back', async () => {
    const created = await post('/api/v1/users', {
      username: 'alice',
      password: 'alice-password',
      email: 'alice@example.org',
      firstName: 'Alice',
    });
    assert.equal(created.statusCode, 201, created.body);
    const body = created.json();
    assert.equal(body.username, 'alice');
    assert.equal(body.role, 'user');
    assert.doesNotMatch(created.body, /password|argon2/i);
    const got = await tally.admin.inject({ url: '/api/v1/users/alice', headers: bearer(tally.tokens.helpdesk) });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().email, 'alice@example.org');
    const listed = await tally.admin.inject({ url: '/api/v1/users?search=ali&limit=5', headers: bearer(tally.tokens.superadmin) });
    assert.deepEqual(
      listed.json().users.map((u: { username: string }) => u.username),
      ['alice'],
    );
  });

  test('users page by key (after=) and by offset alike; search is a username prefix in any case', async () => {
    for (const username of ['pager-c', 'Pager-B', 'pager-a', 'pager-d'])
      assert.equal((await post('/api/v1/users', { username })).statusCode, 201);
    const get = async (query: string) => {
      const answer = await tally.admin.inject({ url: `/api/v1/users?${query}`, headers: bearer(tally.tokens.superadmin) });
      assert.equal(answer.statusCode, 200, answer.body);
      return answer.json().users.map((u: { username: string }) => u.username);
    };
    assert.deepEqual(await get('search=PAGER-&limit=2'), ['pager-a', 'Pager-B']);
    assert.deepEqual(await get('search=PAGER-&limit=2&after=Pager-B'), ['pager-c', 'pager-d']);
    assert.deepEqual(await get('search=pager-&limit=2&offset=2'), ['pager-c', 'pager-d']);
    assert.deepEqual(await get('search=pager-%25&limit=2'), [], 'a % in the search is text');
    const tokens = await tally.admin.inject({ url: '/api/v1/tokens?after=x&limit=5&serial=%25', headers: bearer(tally.tokens.superadmin) });
    assert.deepEqual(tokens.json(), { tokens: [] });
  });

  test('a duplicate username is USER_EXISTS, and nothing else changes', async () => {
    const again = await post('/api/v1/users', { username: 'alice', email: 'other@example.org' });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'USER_EXISTS');
    const got = await tally.admin.inject({ url: '/api/v1/users/alice', headers: bearer(tally.tokens.superadmin) });
    assert.equal(got.json().email, 'alice@example.org');
  });

  test('bad input gets a stable code and no stack trace', async () => {
    const cases: { payload: string; contentType?: string; code: string; status: number; field?: string }[] = [
      { payload: '{"username":', code: 'MALFORMED_JSON', status: 400 },
      { payload: '{"username": 42}', code: 'VALIDATION_FAILED', status: 400, field: 'username' },
      { payload: '{"username": "bob", "isAdmin": true}', code: 'VALIDATION_FAILED', status: 400, field: 'isAdmin' },
      { payload: '{}', code: 'VALIDATION_FAILED', status: 400, field: 'username' },
      { payload: '{"username": "bad name!"}', code: 'VALIDATION_FAILED', status: 400, field: 'username' },
      { payload: '{"username": "bob", "password": "short"}', code: 'VALIDATION_FAILED', status: 400, field: 'password' },
      { payload: '{"username": "bob", "email": "not-an-email"}', code: 'VALIDATION_FAILED', status: 400, field: 'email' },
      { payload: '{"username": "bob", "role": "root"}', code: 'VALIDATION_FAILED', status: 400, field: 'role' },
      { payload: 'username=bob', contentType: 'application/x-www-form-urlencoded', code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
      { payload: JSON.stringify({ username: 'bob', firstName: 'x'.repeat(2_000_000) }), code: 'BODY_TOO_LARGE', status: 413 },
    ];
    for (const c of cases) {
      const response = await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: { ...bearer(tally.tokens.superadmin), 'content-type': c.contentType ?? 'application/json' },
        payload: c.payload,
      });
      assert.equal(response.statusCode, c.status, `${c.payload.slice(0, 60)}: ${response.body}`);
      const body = response.json();
      assert.equal(body.error.code, c.code, c.payload.slice(0, 60));
      assert.equal(typeof body.error.message, 'string');
      // A refusal points at its field (schema violations and the domain's own checks alike), so a client can show it beside the field.
      assert.equal(body.error.details?.field, c.field, c.payload);
      assert.doesNotMatch(response.body, /\bat \w+ \(|node_modules|\.ts:\d+/);
    }
    const missing = await tally.admin.inject({ url: '/api/v1/users/bob', headers: bearer(tally.tokens.superadmin) });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'USER_NOT_FOUND');
    // A NUL in a name: PostgreSQL cannot store it and says so (VALIDATION_FAILED); SQLite finds nothing.
    for (const [url, found] of [
      ['/api/v1/users/a%00b', 'USER_NOT_FOUND'],
      ['/api/v1/tokens/a%00b', 'TOKEN_NOT_FOUND'],
      ['/api/v1/audit?actor=a%00b', undefined],
    ] as const) {
      const response = await tally.admin.inject({ url, headers: bearer(tally.tokens.superadmin) });
      const expected = getStore().dialect === 'postgres' ? 'VALIDATION_FAILED' : found;
      assert.equal(response.statusCode === 200 ? undefined : response.json().error.code, expected, url);
    }
  });

  test('a refused field is named in details.field, with its message from the catalogue: too long, missing, out of range, wrong choice', async () => {
    // Carol's own user, so the refused change leaves alice's audit trail (checked below) as it was.
    assert.equal((await post('/api/v1/users', { username: 'carol' })).statusCode, 201);
    const refusals = [
      {
        what: 'too long (or with control characters)',
        response: await tally.admin.inject({
          method: 'PATCH',
          url: '/api/v1/users/carol',
          headers: bearer(tally.tokens.superadmin),
          payload: { firstName: 'Ca\u0007rol' },
        }),
        field: 'firstName',
        message: 'firstName must be at most 128 characters, without control characters.',
      },
      {
        what: 'missing',
        response: await post('/api/v1/users', { email: 'carol@example.org' }),
        field: 'username',
        message: /^The request is not valid: .*username/,
      },
      {
        what: 'out of range',
        response: await tally.admin.inject({ url: '/api/v1/users?limit=5000', headers: bearer(tally.tokens.superadmin) }),
        field: 'limit',
        message: 'limit must be a whole number from 1 to 1000.',
      },
      {
        what: 'wrong choice',
        response: await post('/api/v1/profiles', {
          name: 'p45',
          tokenType: 'totp',
          deviceType: 'authenticator',
          delivery: 'qr',
          period: 45,
        }),
        field: 'period',
        message: 'period must be 30 or 60 seconds.',
      },
      {
        what: 'wrong choice for the type',
        response: await post('/api/v1/profiles', { name: 'p7', tokenType: 'securid', deviceType: 'android', delivery: 'ctkip', digits: 7 }),
        field: 'digits',
        message: 'digits must be 6 or 8 for SecurID tokens.',
      },
    ];
    for (const { what, response, field, message } of refusals) {
      assert.equal(response.statusCode, 400, `${what}: ${response.body}`);
      const { error } = response.json();
      assert.equal(error.code, 'VALIDATION_FAILED', what);
      assert.equal(error.details?.field, field, what);
      if (typeof message === 'string') assert.equal(error.message, message, what);
      else assert.match(error.message, message, what);
    }
  });

  test('every answer carries the security headers: success, refusal, unknown path, on both listeners', async () => {
    const answers = [
      await tally.admin.inject({ url: '/api/v1/users', headers: bearer(tally.tokens.superadmin) }),
      await tally.admin.inject({ url: '/api/v1/users' }),
      await tally.admin.inject({ url: '/api/v1/no-such-thing', headers: bearer(tally.tokens.superadmin) }),
      await tally.public.inject({ url: '/no-such-page' }),
    ];
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      [200, 401, 404, 404],
    );
    for (const answer of answers) {
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
      assert.equal(answer.headers['x-frame-options'], 'SAMEORIGIN');
      assert.match(String(answer.headers['content-security-policy']), /default-src 'self';.*frame-ancestors 'none'/);
    }
  });

  test('API tokens: none, malformed or unknown is 401; roles are enforced', async () => {
    for (const headers of [{}, { authorization: 'Basic abc' }, bearer('tly_unknown'), bearer('x'.repeat(500))]) {
      const response = await tally.admin.inject({ url: '/api/v1/users', headers });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'UNAUTHENTICATED');
    }
    const agent = await tally.admin.inject({ url: '/api/v1/users', headers: bearer(tally.tokens.agent) });
    assert.equal(agent.statusCode, 403);
    assert.equal(agent.json().error.code, 'FORBIDDEN');
    const helpdeskPromotes = await post('/api/v1/users', { username: 'eve', role: 'superadmin' }, tally.tokens.helpdesk);
    assert.equal(helpdeskPromotes.statusCode, 403);
    const helpdeskToken = await post('/api/v1/apitokens', { name: 'x', role: 'agent' }, tally.tokens.helpdesk);
    assert.equal(helpdeskToken.statusCode, 403);
    const made = await post('/api/v1/apitokens', { name: 'vpn', role: 'agent' });
    assert.equal(made.statusCode, 201);
    assert.match(made.json().token, /^tly_/);
  });

  test('the audit trail records who did what, from where, and how it ended; newest first; filters work', async () => {
    const response = await tally.admin.inject({ url: '/api/v1/audit?user=alice', headers: bearer(tally.tokens.superadmin) });
    assert.equal(response.statusCode, 200);
    const events = response.json().events as {
      action: string;
      actor: string;
      result: string;
      source: string;
      id: number;
      details: { error?: string };
    }[];
    assert.deepEqual(
      events.map((e) => [e.action, e.result]),
      [
        ['user.create', 'failure'],
        ['user.create', 'success'],
      ],
    );
    assert.equal(firstItem(events).details.error, 'USER_EXISTS');
    assert.equal(item(events, 1).actor, 'test-superadmin');
    assert.equal(item(events, 1).source, '127.0.0.1');
    assert.ok(firstItem(events).id > item(events, 1).id);
    const forbidden = await tally.admin.inject({
      url: '/api/v1/audit?action=user.create&result=failure',
      headers: bearer(tally.tokens.superadmin),
    });
    assert.ok(forbidden.json().events.some((e: { details: { error?: string } }) => e.details.error === 'FORBIDDEN'));
    const agent = await tally.admin.inject({ url: '/api/v1/audit', headers: bearer(tally.tokens.agent) });
    assert.equal(agent.statusCode, 403);
    const badTime = await tally.admin.inject({ url: '/api/v1/audit?since=yesterday', headers: bearer(tally.tokens.superadmin) });
    assert.equal(badTime.json().error.code, 'VALIDATION_FAILED');
    const noSecrets = await tally.admin.inject({ url: '/api/v1/audit?limit=1000', headers: bearer(tally.tokens.superadmin) });
    assert.doesNotMatch(noSecrets.body, /alice-password|tly_/);
  });

  test('OpenAPI describes every route; unknown routes are NOT_FOUND; healthz answers', async () => {
    const spec = (await tally.admin.inject({ url: '/api/v1/openapi.json' })).json();
    assert.equal(spec.openapi, '3.0.3');
    for (const path of ['/api/v1/users', '/api/v1/users/{username}', '/api/v1/audit', '/api/v1/apitokens']) {
      assert.ok(spec.paths[path], `${path} in OpenAPI`);
    }
    const missing = await tally.admin.inject({ url: '/api/v1/nothing', headers: bearer(tally.tokens.superadmin) });
    assert.equal(missing.json().error.code, 'NOT_FOUND');
    assert.equal((await tally.admin.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await tally.public.inject({ url: '/healthz' })).statusCode, 200);
  });
});
