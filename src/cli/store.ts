import type { Config } from '../config.js';
import { openStore, migrateToLatest, type Store } from '../store/connect.js';

export type StoreSettings = 'dataDir' | 'databaseUrl' | 'databaseSchema';
export const storeSettings = ['dataDir', 'databaseUrl', 'databaseSchema'] as const;

export function storeOptions(config: Config<StoreSettings>) {
  return { dataDir: config.dataDir ?? './data', databaseUrl: config.databaseUrl, schema: config.databaseSchema };
}

/** Opens and migrates the store for a command, and always closes it. */
export async function withStore<T>(config: Config<StoreSettings>, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(storeOptions(config));
  try {
    await migrateToLatest(store);
    return await use(store);
  } finally {
    await store.close();
  }
}
