import type { Config } from '../config.js';
import type { ServiceOptions, Services } from '../domain/services.js';
import type { Store } from '../store/connect.js';

// The store and the domain are imported when a command needs them, not at start-up: the token
// client and --help then start in a fraction of the time.

export type StoreSettings = 'dataDir' | 'databaseUrl' | 'databaseSchema' | 'sqliteSynchronous';
export const storeSettings = ['dataDir', 'databaseUrl', 'databaseSchema', 'sqliteSynchronous'] as const;

export function storeOptions(config: Config<StoreSettings>) {
  return {
    dataDir: config.dataDir ?? './data',
    databaseUrl: config.databaseUrl,
    schema: config.databaseSchema,
    sqliteSynchronous: config.sqliteSynchronous,
  };
}

/** Opens and migrates the store for a command, and always closes it. */
export async function withStore<T>(config: Config<StoreSettings>, use: (store: Store) => Promise<T>): Promise<T> {
  const { openStore, migrateToLatest } = await import('../store/connect.js');
  const store = await openStore(storeOptions(config));
  try {
    await migrateToLatest(store);
    return await use(store);
  } finally {
    await store.close();
  }
}

/** Opens an initialised store with its master key and hands the domain services to `use`. */
export async function withServices<T>(
  config: Config<StoreSettings | 'masterKey'>,
  use: (services: Services, store: Store) => Promise<T>,
  serviceOptions?: Partial<ServiceOptions>,
): Promise<T> {
  const [{ loadKeyring }, { checkStoreReady }, { createServices, DEFAULT_SERVICE_OPTIONS }, { systemClock }] = await Promise.all([
    import('../store/master-key.js'),
    import('../domain/setup.js'),
    import('../domain/services.js'),
    import('../domain/clock.js'),
  ]);
  return withStore(config, async (store) => {
    const keyring = loadKeyring({ dataDir: config.dataDir ?? './data', masterKey: config.masterKey });
    await checkStoreReady(store, keyring);
    return use(createServices(store, keyring, systemClock, { ...DEFAULT_SERVICE_OPTIONS, ...serviceOptions }), store);
  });
}
