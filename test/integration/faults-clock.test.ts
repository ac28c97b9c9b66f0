import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { PrometheusMetrics } from '../../src/metrics/prometheus.js';
import { consoleClient } from '../support/console.js';
import { describeEachStore } from '../support/store.js';
import { ADMIN_PASSWORD, bearer, createTestTally, type TestTally, verifyOverRest } from '../support/tally.js';
import { pageText } from '../support/web.js';

describeEachStore('clock steps', (getStore) => {
  const secret = randomBytes(20);
  const metrics = new PrometheusMetrics();
  // The monotonic clock stands still unless a test lets time pass on both clocks.
  let monotonic = 0;
  let tally: TestTally;
  const code = () => totp({ secret }, Math.floor(tally.clock.now() / 1000));
  const reason = async () => {
    const answer = await tally.admin.inject({
      url: '/api/v1/audit?serial=CLOCK-1&action=auth.*&limit=1',
      headers: bearer(tally.tokens.superadmin),
    });
    return answer.json().events[0].details.reason;
  };
  const dashboard = async () => (await tally.admin.inject({ url: '/api/v1/dashboard', headers: bearer(tally.tokens.superadmin) })).json();

  before(async () => {
    tally = await createTestTally(getStore(), { services: { observer: metrics, monotonic: () => monotonic } });
    const api = (url: string, payload: object) =>
      tally.admin.inject({ method: 'POST', url, headers: bearer(tally.tokens.superadmin), payload });
    await api('/api/v1/users', { username: 'clara' });
    const file = writePskc([{ kind: 'totp', id: 'CLOCK-1', serial: 'CLOCK-1', secret, digits: 6, algorithm: 'SHA1', period: 30 }]);
    await api('/api/v1/tokens/import', { file: Buffer.from(file).toString('base64') });
    assert.equal((await api('/api/v1/tokens/CLOCK-1/assign', { username: 'clara' })).json().state, 'active');
  });
  after(() => tally.close());

  test('after the clock steps back, the last accepted step stays the floor: no code of it or before it is accepted', async () => {
    const accepted = code();
    assert.equal((await verifyOverRest(tally, 'clara', accepted)).result, 'accept');
    tally.clock.advance(-120);
    assert.equal((await verifyOverRest(tally, 'clara', accepted)).result, 'reject');
    assert.equal(await reason(), 'replayed code');
    // The code the token shows at the stepped-back time was never used, but lies before the floor.
    assert.equal((await verifyOverRest(tally, 'clara', code())).result, 'reject');
    assert.equal(await reason(), 'replayed code');
    // Once the clock is past the floor again, codes are accepted as before.
    tally.clock.advance(150);
    assert.equal((await verifyOverRest(tally, 'clara', code())).result, 'accept');
  });

  test('after the clock steps forward, time-based tokens follow it', async () => {
    tally.clock.advance(3600);
    assert.equal((await verifyOverRest(tally, 'clara', code())).result, 'accept');
  });

  test('the dashboard (REST and console) and the metrics say when the clock moved', async () => {
    // The monotonic clock stood still through the steps above: the watch sees them at its next check.
    await dashboard();
    monotonic += 10_000;
    tally.clock.advance(10);
    assert.equal((await dashboard()).clockStep.seconds, 3630, 'nothing new: the last step stays shown');
    tally.clock.advance(-60);
    const step = (await dashboard()).clockStep;
    assert.deepEqual(step, { at: new Date(tally.clock.now()).toISOString(), seconds: -60 });
    const browser = await consoleClient(tally.admin, 'admin', ADMIN_PASSWORD, '127.0.0.2');
    const page = pageText((await browser.get('/console')).body);
    assert.match(page, /The system clock of this server moved back by 60 s/);
    const text = (await metrics.scrape()).text;
    assert.match(text, /tally_clock_last_step_seconds -60/);
    assert.match(text, /tally_clock_steps_total\{direction="back"\} 1/);
  });
});
