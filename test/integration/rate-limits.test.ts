import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimitService } from '../../src/domain/rate-limits.js';
import { openStore } from '../../src/store/connect.js';
import { RateLimitRepository } from '../../src/store/repositories/rate-limits.js';
import { item } from '../support/items.js';
import { describeEachStore } from '../support/store.js';
import { TestClock } from '../support/tally.js';

describeEachStore('Rate limits in the store', (getStore, getHandle) => {
  const rows = async () => (await getStore().db.selectFrom('rate_limits').select('key').orderBy('key').execute()).map((row) => row.key);

  test('hits count within a window, a new window counts afresh, and the reset time says when', async () => {
    const clock = new TestClock();
    const limits = new RateLimitService(new RateLimitRepository(getStore().db), clock);
    assert.deepEqual(await limits.hit('form:192.0.2.1', 60_000), { hits: 1, resetInMs: 60_000 });
    clock.advance(20);
    assert.deepEqual(await limits.hit('form:192.0.2.1', 60_000), { hits: 2, resetInMs: 40_000 });
    assert.deepEqual(await limits.hit('form:192.0.2.2', 60_000), { hits: 1, resetInMs: 60_000 }, 'each key counts alone');
    clock.advance(40);
    assert.deepEqual(await limits.hit('form:192.0.2.1', 60_000), { hits: 1, resetInMs: 60_000 }, 'the window ended');
  });

  test('hits at the same moment from two nodes, each with its own connection to the store, all count', async (t) => {
    const clock = new TestClock(Date.UTC(2026, 10, 30));
    const otherNode = await openStore(getHandle().options);
    t.after(() => otherNode.close());
    const nodes = [
      new RateLimitService(new RateLimitRepository(getStore().db), clock),
      new RateLimitService(new RateLimitRepository(otherNode.db), clock),
    ];
    const counts = await Promise.all(Array.from({ length: 20 }, (_, i) => item(nodes, i % 2).hit('race:198.51.100.7', 60_000)));
    assert.deepEqual(
      counts.map((c) => c.hits).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  test('windows that ended an hour ago are deleted, the rest kept', async () => {
    const clock = new TestClock(Date.UTC(2026, 11, 1));
    const limits = new RateLimitService(new RateLimitRepository(getStore().db), clock);
    await limits.hit('old:203.0.113.1', 60_000);
    clock.advance(30 * 60);
    await limits.hit('recent:203.0.113.2', 60_000);
    clock.advance(31 * 60);
    await limits.hit('now:203.0.113.3', 60_000);
    const left = await rows();
    assert.ok(!left.includes('old:203.0.113.1'), 'started over an hour ago: deleted');
    assert.ok(left.includes('recent:203.0.113.2') && left.includes('now:203.0.113.3'));
  });
});
