import { defineCommand, EXIT } from '../command.js';
import { storeSettings, storeOptions } from '../store.js';
import { migrateToLatest, openStore } from '../../store/connect.js';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: 'Bring the database schema to the latest version (serve does this at start-up too).',
  settings: storeSettings,
  async run({ config, io }) {
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
