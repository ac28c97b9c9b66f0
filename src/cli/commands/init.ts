import { existsSync } from 'node:fs';
import { generateMasterKey, type Keyring, makeKeyring } from '../../core/crypto/secret-box.js';
import { TallyError } from '../../errors.js';
import { loadKeyring, masterKeyPath, writeKeyringFile } from '../../store/master-key.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withStore } from '../store.js';

export const initCommand = defineCommand({
  name: 'init',
  summary: 'Create the database schema, a master key for seed encryption and the first super admin.',
  settings: [...storeSettings, 'masterKey'],
  options: {
    adminUser: { type: 'string', doc: 'Username of the first super admin.', required: true },
    adminPasswordStdin: { type: 'boolean', doc: 'Read the admin password from standard input (first line).' },
  },
  notes: [
    'The master key goes to DATA_DIR/master.key (mode 0600) unless TALLY_MASTER_KEY is set. Back it up:',
    'without it no seed in the store can be read. On an initialised store, init changes nothing and exits 1.',
  ],
  async run({ config, options, io }) {
    if (!options.adminPasswordStdin) {
      io.err(
        'tally init: give the admin password on standard input with --admin-password-stdin (never as a flag, so it stays out of the process list).\n',
      );
      return EXIT.usage;
    }
    const password = (await io.readStdin()).split(/\r?\n/)[0] ?? '';
    const dataDir = config.dataDir ?? './data';
    const [{ initialiseStore, isInitialised }, { createServices }, { systemClock }] = await Promise.all([
      import('../../domain/setup.js'),
      import('../../domain/services.js'),
      import('../../domain/clock.js'),
    ]);
    return withStore(config, async (store) => {
      if (await isInitialised(store)) {
        throw new TallyError('STORE_ALREADY_INITIALISED', `${store.description} is initialised already; nothing was changed.`);
      }
      const keyFile = masterKeyPath(dataDir);
      let createdKeyFile = false;
      let keyring: Keyring;
      if (config.masterKey !== undefined || existsSync(keyFile)) {
        keyring = loadKeyring({ dataDir, masterKey: config.masterKey });
      } else {
        keyring = makeKeyring([generateMasterKey(1)]);
        writeKeyringFile(dataDir, keyring);
        createdKeyFile = true;
      }
      await initialiseStore(store, keyring, { username: String(options.adminUser), password }, systemClock);
      await createServices(store, keyring, systemClock).provisioning.serverKey();
      io.out(`Initialised ${store.description}.\n`);
      io.out(
        `Master key: ${config.masterKey !== undefined ? 'from TALLY_MASTER_KEY' : keyFile + (createdKeyFile ? ' (created, mode 0600; back it up)' : ' (existing)')}.\n`,
      );
      io.out(`Super admin: ${String(options.adminUser)}.\n`);
      return EXIT.ok;
    });
  },
});
