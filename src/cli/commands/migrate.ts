import { defineCommand, EXIT } from '../command.js';
import { storeOptions, storeSettings } from '../store.js';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: 'Bring the database schema to the latest version (serve does this at start-up too).',
  settings: storeSettings,
  async run({ config, io }) {
    const { migrateToLatest, openStore } = await import('../../store/connect.js');
    const store = await openStore(storeOptions(config));
    try {
      const applied = await migrateToLatest(store);
      io.out(applied.length ? `Applied ${applied.join(', ')} to ${store.description}.\n` : `${store.description} is up to date.\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});
