import type { Config } from '../config.js';
import { openStore, migrateToLatest, type Store } from '../store/connect.js';
import { loadKeyring } from '../store/master-key.js';
import { checkStoreReady } from '../domain/setup.js';
import { createServices, type Services } from '../domain/services.js';
import { systemClock } from '../domain/clock.js';

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

/** Opens an initialised store with its master key and hands the domain services to `use`. */
export async function withServices<T>(config: Config<StoreSettings | 'masterKey'>, use: (services: Services, store: Store) => Promise<T>): Promise<T> {
  return withStore(config, async (store) => {
    const keyring = loadKeyring({ dataDir: config.dataDir ?? './data', masterKey: config.masterKey });
    await checkStoreReady(store, keyring);
    return use(createServices(store, keyring, systemClock), store);
  });
}
