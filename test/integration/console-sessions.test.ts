import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_SESSIONS } from '../../src/domain/sessions.js';
import { consoleClient } from '../support/console.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, createTestTally, type TestTally } from '../support/tally.js';
import { pageText } from '../support/web.js';

describeEachStore('Security Console sessions: idle and absolute timeouts', (getStore) => {
  let tally: TestTally;
  let address = 0;
  const logOn = () => consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, `192.0.2.${++address}`);
  const loggedOn = (body: string) => /Dashboard/.test(pageText(body)) && !/<form[^>]*action="\/console\/logon"/.test(body);

  before(async () => {
    tally = await createTestTally(getStore(), { logonRateLimit: 100 });
  });
  after(async () => tally.close());

  test(`a session idle for more than ${DEFAULT_SESSIONS.idleMinutes} minutes is refused`, async () => {
    assert.equal(DEFAULT_SESSIONS.idleMinutes, 15);
    const client = await logOn();
    tally.clock.advance(14 * 60);
    assert.ok(loggedOn((await client.get('/console')).body), 'still within 15 idle minutes');
    tally.clock.advance(14 * 60);
    assert.ok(loggedOn((await client.get('/console')).body), 'the request before reset the idle time');
    tally.clock.advance(15 * 60 + 1);
    const page = await client.get('/console');
    assert.ok(!loggedOn(page.body), 'idle for just over 15 minutes');
    assert.match(pageText(page.body), /Log on/);
    tally.clock.advance(60);
    assert.ok(!loggedOn((await client.get('/console')).body), 'and it stays ended: the session is gone, not merely paused');
  });

  test(`a session in use all along ends ${DEFAULT_SESSIONS.maxHours} hours after its log-on`, async () => {
    assert.equal(DEFAULT_SESSIONS.maxHours, 8);
    const client = await logOn();
    for (let minutes = 10; minutes < 8 * 60; minutes += 10) {
      tally.clock.advance(10 * 60);
      assert.ok(loggedOn((await client.get('/console')).body), `${minutes} minutes after log-on`);
    }
    tally.clock.advance(10 * 60);
    assert.ok(!loggedOn((await client.get('/console')).body), 'eight hours after log-on, however active');
  });
});
