import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { migrateToLatest, openStore } from '../../src/store/connect.js';
import { migrations } from '../../src/store/migrations/index.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

const RENAME = '0014_period_column';

for (const dialect of testDialects()) {
  test(`migration 0014 renames period_seconds to period on tokens and profiles, values kept [${dialect}]`, async () => {
    const handle = freshStoreOptions(dialect);
    const store = await openStore(handle.options);
    try {
      // A store as the release before the rename left it: every earlier migration applied and recorded.
      const db = store.db as unknown as Kysely<any>;
      await sql`create table tally_migrations (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(db);
      for (const [name, migration] of Object.entries(migrations(store.dialect))) {
        if (name >= RENAME) break;
        await migration.up(db);
        await db
          .insertInto('tally_migrations')
          .values({ name, timestamp: new Date(0).toISOString() })
          .execute();
      }
      const now = 1_700_000_000_000;
      await db
        .insertInto('tokens')
        .values({
          serial: '000123456789',
          token_type: 'securid',
          state: 'pending',
          origin: 'generated',
          digits: 8,
          period_seconds: 60,
          algorithm: 'AES128',
          created_at: now,
          updated_at: now,
        })
        .execute();
      await db
        .insertInto('profiles')
        .values({
          name: 'Old profile',
          token_type: 'hotp',
          device_type: 'authenticator',
          delivery: 'qr',
          digits: 6,
          period_seconds: 0,
          algorithm: 'SHA1',
          pin_mode: 'none',
          activation_lifetime_days: 7,
          file_password_policy: 'none',
          self_service: 0,
          requires_approval: 0,
          created_at: now,
          updated_at: now,
        })
        .execute();

      assert.ok((await migrateToLatest(store)).includes(RENAME));

      assert.deepEqual(await store.db.selectFrom('tokens').select(['serial', 'period']).execute(), [
        { serial: '000123456789', period: 60 },
      ]);
      assert.deepEqual(await store.db.selectFrom('profiles').select(['name', 'period']).execute(), [{ name: 'Old profile', period: 0 }]);
      await assert.rejects(sql`select period_seconds from tokens`.execute(db));
    } finally {
      await store.close();
      await handle.cleanup();
    }
  });
}
