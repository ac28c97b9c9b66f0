import { resolve } from 'node:path';
import { TallyError } from '../../errors.js';
import { defineCommand, EXIT } from '../command.js';
import { storeOptions, storeSettings } from '../store.js';

export const restoreCommand = defineCommand({
  name: 'restore',
  summary: 'Fill an empty store from an archive `tally backup` wrote (also to move between SQLite and PostgreSQL).',
  positionals: [{ name: 'FILE', doc: 'The archive to restore.' }],
  settings: [...storeSettings, 'masterKey'],
  notes: [
    'Refused, with nothing written: a store that holds data, an archive from a newer Tally, a truncated or damaged',
    'archive, and a master key (DATA_DIR/master.key or TALLY_MASTER_KEY) other than the one of the backed-up store.',
    'The archive is checked whole first; its rows are inserted in one transaction, then the store is migrated to',
    "this Tally's latest schema. Progress goes to standard error.",
  ],
  async run({ config, positionals, io }) {
    const [
      { openStore },
      { restoreArchive, verifyArchive },
      { loadKeyring, masterKeyPath },
      { checkMasterKeyOpens, MASTER_KEY_CHECK_ENTRY },
      { recordStoreEvent },
    ] = await Promise.all([
      import('../../store/connect.js'),
      import('../../store/backup.js'),
      import('../../store/master-key.js'),
      import('../../domain/setup.js'),
      import('../audit.js'),
    ]);
    const file = resolve(String(positionals[0]));
    const dataDir = config.dataDir ?? './data';
    let keyring: ReturnType<typeof loadKeyring>;
    try {
      keyring = loadKeyring({ dataDir, masterKey: config.masterKey });
    } catch (error) {
      if (!(error instanceof TallyError && error.code === 'MASTER_KEY_MISSING')) throw error;
      throw new TallyError(
        'MASTER_KEY_MISSING',
        `No master key: put the backed-up store's key at ${masterKeyPath(dataDir)} (mode 0600) or set TALLY_MASTER_KEY to it; nothing was written.`,
      );
    }
    const { header, meta } = await verifyArchive(file);
    const rows = header.tables.reduce((sum, table) => sum + table.rows, 0);
    io.err(
      `${file}: ${rows} row(s) in ${header.tables.length} table(s), schema ${header.schema}, from ${header.dialect} by Tally ${header.tally} at ${header.createdAt}: complete.\n`,
    );
    checkMasterKeyOpens(keyring, meta.get(MASTER_KEY_CHECK_ENTRY), `the archive ${file}`);
    const store = await openStore(storeOptions(config));
    try {
      const restored = await restoreArchive(store, file, header, (message) => io.err(`${message}\n`));
      await recordStoreEvent(store, {
        action: 'store.restore',
        details: { file, createdAt: header.createdAt, dialect: header.dialect, schema: header.schema, rows: restored },
      });
      io.out(`Restored ${restored} row(s) from ${file} into ${store.description}; it opens with the master key used here.\n`);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
});
