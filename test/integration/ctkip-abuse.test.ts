import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clientHello } from '../../src/core/ctkip/exchange.js';
import { createServices } from '../../src/domain/services.js';
import { buildPublicApp } from '../../src/http/public/app.js';
import { createLogger } from '../../src/logger.js';
import { activate, postCtkip } from '../support/ctkip.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

const INVALID = 'Invalid authorization code.';
const BLOCKED = /Too many wrong activation codes from this address/;

/**
 * No CT-KIP client can lock the pending activations of others: wrong codes count per source too,
 * a source that sends too many is refused before any token's count is touched, its failures fill
 * no audit trail, and the endpoint is rate limited per source across nodes.
 */
describeEachStore('CT-KIP abuse', (getStore) => {
  let tally: TestTally;
  before(async () => {
    tally = await createTestTally(getStore());
    for (const username of ['dana', 'erin', 'fred']) {
      assert.equal(
        (
          await tally.admin.inject({
            method: 'POST',
            url: '/api/v1/users',
            headers: bearer(tally.tokens.superadmin),
            payload: { username },
          })
        ).statusCode,
        201,
      );
    }
    const profile = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/profiles',
      headers: bearer(tally.tokens.superadmin),
      payload: { name: 'ctkip', tokenType: 'securid', deviceType: 'android', appVersion: '2.1', delivery: 'ctkip', digits: 8, period: 60 },
    });
    assert.equal(profile.statusCode, 201, profile.body);
  });
  after(async () => tally.close());

  const distribute = async (username: string) => {
    const response = await tally.admin.inject({
      method: 'POST',
      url: `/api/v1/users/${username}/tokens`,
      headers: bearer(tally.tokens.superadmin),
      payload: { profile: 'ctkip' },
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as { serial: string; activationCode: string };
  };
  const wrongCode = (code: string, i: number) => code.slice(0, 5) + String((Number(code.slice(5)) + 1 + i) % 10_000_000).padStart(7, '0');
  const failedAttempts = async (serial: string) =>
    (
      await getStore()
        .db.selectFrom('distributions')
        .innerJoin('tokens', 'tokens.id', 'distributions.token_id')
        .select('distributions.failed_attempts')
        .where('tokens.serial', '=', serial)
        .where('distributions.state', '=', 'open')
        .executeTakeFirstOrThrow()
    ).failed_attempts;
  const auditRows = (source: string, action: string) =>
    getStore().db.selectFrom('audit_events').selectAll().where('source', '=', source).where('action', '=', action).execute();

  test("a source spraying wrong codes over many locators is blocked after 10, before it can lock anyone's activation; others still activate", async () => {
    const victims = [await distribute('dana'), await distribute('erin')];
    const attacker = '10.66.0.1';
    const faults: (string | undefined)[] = [];
    for (let i = 0; i < 40; i++) {
      // Each victim's locator with a wrong secret part, and locators that select nothing.
      const code = i % 4 < 2 ? wrongCode(victims[i % 2]!.activationCode, i) : String(10_000_000_000 + i * 7_919_113).slice(-12);
      faults.push((await activate(tally.public, code, attacker)).fault);
    }
    assert.ok(
      faults.slice(0, 10).every((fault) => fault === INVALID),
      String(faults.slice(0, 10)),
    );
    for (const fault of faults.slice(10)) assert.match(fault ?? '', BLOCKED);
    for (const victim of victims) assert.ok((await failedAttempts(victim.serial)) < 5, 'no activation was locked');
    const before = await Promise.all(victims.map((v) => failedAttempts(v.serial)));
    assert.match((await activate(tally.public, wrongCode(victims[0]!.activationCode, 99), attacker)).fault ?? '', BLOCKED);
    assert.deepEqual(
      await Promise.all(victims.map((v) => failedAttempts(v.serial))),
      before,
      "a blocked source touches no distribution's counter",
    );
    assert.match(
      (await activate(tally.public, victims[1]!.activationCode, attacker)).fault ?? '',
      BLOCKED,
      'not even a right code is looked at from a blocked source',
    );

    for (const [i, victim] of victims.entries()) {
      const { token, fault } = await activate(tally.public, victim.activationCode, `10.77.0.${i + 1}`);
      assert.equal(fault, undefined);
      assert.equal(token?.serial, victim.serial);
    }
    tally.clock.advance(3601);
    const third = await distribute('fred');
    assert.ok((await activate(tally.public, third.activationCode, attacker)).token, 'the block ends with its hour');
  });

  test('repeated failures of one source are folded into one audit event (and one when it is blocked), not one row per request', async () => {
    const source = '10.66.0.2';
    for (let i = 0; i < 25; i++) await activate(tally.public, String(20_000_000_000 + i * 104_729).slice(-12), source);
    const failures = await auditRows(source, 'ctkip.code');
    assert.equal(failures.length, 1, 'one event for the window');
    assert.match(failures[0]!.details ?? '', /counted, not recorded/);
    const blocked = await auditRows(source, 'ctkip.source.blocked');
    assert.equal(blocked.length, 1);
    assert.match(blocked[0]!.details ?? '', /"wrongCodes":"10"/);
  });

  test('the endpoint is rate limited per source, counted across nodes: the request over the limit gets a RATE_LIMITED fault (HTTP 200)', async () => {
    const options = { logger: createLogger('silent'), ctkipRateLimit: 3 };
    const here = await buildPublicApp(tally.services, options);
    const there = await buildPublicApp(createServices(getStore(), tally.keyring, tally.clock), options);
    try {
      const source = '10.88.0.1';
      const hello = (app: typeof here, address = source) => postCtkip(app, 'not-a-code', clientHello(), 'StartService', address);
      for (const app of [here, there, here]) assert.equal((await hello(app)).status, 200);
      const limited = await hello(there);
      assert.equal(limited.status, 200, 'token apps read no reason from a non-2xx answer');
      assert.match(limited.body, /tally\.RATE_LIMITED/);
      assert.doesNotMatch((await hello(here, '10.88.0.2')).body, /RATE_LIMITED/, 'another source is not limited');
      tally.clock.advance(60);
      assert.doesNotMatch((await hello(here)).body, /RATE_LIMITED/, 'a new minute, a new count');
    } finally {
      await here.close();
      await there.close();
    }
  });
});
