import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { migrateToLatest, openStore, type Store, type StoreOptions } from '../../src/store/connect.js';
import { type NewTokenRow, TokenRepository, type TokenRow } from '../../src/store/repositories/tokens.js';
import type { Database } from '../../src/store/schema.js';

/** The dialects a store test runs on: SQLite always, PostgreSQL when TALLY_TEST_DATABASE_URL is set. */
export function testDialects(): ('sqlite' | 'postgres')[] {
  return process.env.TALLY_TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestStoreHandle {
  options: StoreOptions;
  dataDir: string;
  /** Drops what the test made (the PostgreSQL schema, the temp dir). */
  cleanup(): Promise<void>;
}

/** A fresh, empty place for a store: a temp dir, plus a schema of its own on PostgreSQL. */
export function freshStoreOptions(dialect: 'sqlite' | 'postgres'): TestStoreHandle {
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-test-'));
  const schema = dialect === 'postgres' ? `t_${process.pid}_${randomBytes(4).toString('hex')}` : undefined;
  const options: StoreOptions = { dataDir, databaseUrl: dialect === 'postgres' ? process.env.TALLY_TEST_DATABASE_URL : undefined, schema };
  return {
    options,
    dataDir,
    async cleanup() {
      if (schema) {
        const store = await openStore({ dataDir, databaseUrl: options.databaseUrl });
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
        await store.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs the suite once per dialect with a migrated store of its own; `use` gets a getter because
 * the store only exists once `before` has run.
 */
export function describeEachStore(name: string, use: (getStore: () => Store, handle: () => TestStoreHandle) => void): void {
  for (const dialect of testDialects()) {
    describe(`${name} [${dialect}]`, () => {
      let store: Store | undefined;
      let handle: TestStoreHandle | undefined;
      before(async () => {
        handle = freshStoreOptions(dialect);
        store = await openStore(handle.options);
        await migrateToLatest(store);
      });
      after(async () => {
        await store?.close();
        await handle?.cleanup();
      });
      use(
        () => {
          if (!store) throw new Error('store not open yet');
          return store;
        },
        () => {
          if (!handle) throw new Error('store not open yet');
          return handle;
        },
      );
    });
  }
}

/**
 * A bare token row for repository tests: a pending, unassigned TOTP token with nothing issued, made
 * at `now`; `fields` change what the test is about (serial, type, state, holder...).
 */
export async function insertTokenRow(
  db: Kysely<Database>,
  now: number,
  fields: Partial<NewTokenRow> & { serial: string },
): Promise<TokenRow> {
  return new TokenRepository(db).insert({
    token_type: 'totp',
    state: 'pending',
    origin: 'generated',
    user_id: null,
    profile_id: null,
    label: null,
    seed_sealed: null,
    digits: 6,
    period: 30,
    algorithm: 'SHA1',
    last_step: null,
    expires_on: null,
    attributes: null,
    disabled_reason: null,
    created_at: now,
    updated_at: now,
    activated_at: null,
    last_used_at: null,
    ...fields,
  });
}
