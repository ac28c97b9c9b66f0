import { resolve } from 'node:path';
import { defineCommand, EXIT } from '../command.js';
import { storeOptions, storeSettings } from '../store.js';

export const backupCommand = defineCommand({
  name: 'backup',
  summary: 'Write a consistent archive of the whole store to a file, while Tally serves (SQLite or PostgreSQL).',
  settings: [...storeSettings, 'masterKey'],
  options: {
    out: { type: 'string', doc: "The archive file to write (gzip'd JSON lines, mode 0600).", required: true },
  },
  notes: [
    'The archive is one snapshot of the store, taken without stopping Tally, and store-neutral: `tally restore`',
    'reads it into SQLite or PostgreSQL. Seeds and other secrets stay sealed; the master key is never in it, so',
    'back the key up separately: the restored store opens only with it. Progress goes to standard error.',
  ],
  async run({ config, options, io }) {
    const [{ openStore }, { backupToFile }, { latestMigration }, { recordStoreEvent }, { masterKeyPath }, { version }] = await Promise.all([
      import('../../store/connect.js'),
      import('../../store/backup.js'),
      import('../../store/migrations/index.js'),
      import('../audit.js'),
      import('../../store/master-key.js'),
      import('../run.js'),
    ]);
    const out = resolve(String(options.out));
    const store = await openStore(storeOptions(config));
    try {
      const header = await backupToFile(store, out, {
        tallyVersion: version(),
        now: new Date(),
        progress: (message) => io.err(`${message}\n`),
      });
      const rows = header.tables.reduce((sum, table) => sum + table.rows, 0);
      // A store at another schema level than this Tally's (backed up before an upgrade) gets no event: its audit table may differ.
      if (header.schema === latestMigration()) {
        await recordStoreEvent(store, { action: 'store.backup', details: { file: out, schema: header.schema, rows } });
      }
      io.out(`Backed up ${rows} row(s) in ${header.tables.length} table(s) of ${store.description} (schema ${header.schema}) to ${out}.\n`);
      const key = config.masterKey === undefined ? masterKeyPath(config.dataDir ?? './data') : 'the value of TALLY_MASTER_KEY';
      io.out(
        `The archive holds no master key: back up ${key} separately and keep it apart from the archive. The restored store opens only with that key.\n`,
      );
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});
