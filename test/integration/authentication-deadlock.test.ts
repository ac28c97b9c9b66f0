import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { AuthenticationRepository } from '../../src/store/repositories/authentication.js';
import { type Connection, queryBuilderOf } from '../../src/store/unit-of-work.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

/**
 * Two nodes' batches on one PostgreSQL can lock the same rows in opposite orders (an accept's
 * step on one token and a failure count on another, each way round). PostgreSQL then aborts one
 * transaction; the batch must run again rather than fail its requests. SQLite has one writer at a
 * time, so it cannot deadlock.
 */
if (testDialects().includes('postgres')) {
  test('two nodes whose batches lock rows in opposite orders: PostgreSQL aborts one, and it runs again', async (t) => {
    const place = freshStoreOptions('postgres');
    const first = await openStore(place.options);
    t.after(() => place.cleanup());
    t.after(() => first.close());
    await migrateToLatest(first);
    const second = await openStore(place.options);
    t.after(() => second.close());
    await first.db
      .insertInto('rate_limits')
      .values([
        { key: 'row-a', window_start: 0, hits: 0 },
        { key: 'row-b', window_start: 0, hits: 0 },
      ])
      .execute();

    let holding = 0;
    let bothHolding!: () => void;
    const bothHold = new Promise<void>((resolve) => (bothHolding = resolve));
    let runs = 0;
    const batch = (mine: string, theirs: string) => async (connection: Connection) => {
      const trx = queryBuilderOf(connection);
      runs++;
      await sql`update rate_limits set hits = hits + 1 where key = ${mine}`.execute(trx);
      if (++holding === 2) bothHolding();
      await bothHold;
      await sql`update rate_limits set hits = hits + 1 where key = ${theirs}`.execute(trx);
      return mine;
    };
    const results = await Promise.all([
      new AuthenticationRepository(first.db).write(batch('row-a', 'row-b')),
      new AuthenticationRepository(second.db).write(batch('row-b', 'row-a')),
    ]);
    assert.deepEqual(results, ['row-a', 'row-b']);
    assert.equal(runs, 3, 'one of the two ran again');
    const hits = await first.db.selectFrom('rate_limits').select(['key', 'hits']).orderBy('key').execute();
    assert.deepEqual(
      hits,
      [
        { key: 'row-a', hits: 2 },
        { key: 'row-b', hits: 2 },
      ],
      'each batch counted once',
    );
  });
}
