import { generateMasterKey, makeKeyring } from '../../core/crypto/secret-box.js';
import { systemActor } from '../../domain/actor.js';
import { loadKeyring, writeKeyringFile } from '../../store/master-key.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withStore } from '../store.js';

export const rotateMasterKeyCommand = defineCommand({
  name: 'rotate-master-key',
  summary: 'Create a new master key version and re-encrypt every seed and private key under it.',
  settings: [...storeSettings, 'masterKey'],
  notes: [
    'With DATA_DIR/master.key, the file is updated in place (old and new key while re-encrypting, then the new one only).',
    'With TALLY_MASTER_KEY, the new key ring is written to DATA_DIR/master.key.new (mode 0600): set TALLY_MASTER_KEY',
    'to its content before the next start, then delete the file. Stop other Tally processes first.',
  ],
  async run({ config, io }) {
    const dataDir = config.dataDir ?? './data';
    const [{ checkStoreReady }, { createServices }, { systemClock }, { resealAll }, { connectionOf }] = await Promise.all([
      import('../../domain/setup.js'),
      import('../../domain/services.js'),
      import('../../domain/clock.js'),
      import('../../store/sealed.js'),
      import('../../store/unit-of-work.js'),
    ]);
    return withStore(config, async (store) => {
      const old = loadKeyring({ dataDir, masterKey: config.masterKey });
      await checkStoreReady(store, old);
      const next = generateMasterKey(old.current.version + 1);
      const both = makeKeyring([...[...old.byVersion].map(([version, key]) => ({ version, key })), next]);
      // Both keys on disk first: a crash mid-way leaves values sealed under either, all readable.
      if (config.masterKey === undefined) writeKeyringFile(dataDir, both);
      const { audit } = createServices(store, both, systemClock);
      const count = await store.db.transaction().execute(async (trx) => {
        const resealed = await resealAll(trx, both);
        await audit.record(
          { actor: systemActor, entry: { action: 'masterkey.rotate', details: { version: next.version, resealed } } },
          connectionOf(trx),
        );
        return resealed;
      });
      const only = makeKeyring([next]);
      const where = writeKeyringFile(dataDir, only, config.masterKey === undefined ? undefined : 'master.key.new');
      io.out(`Re-encrypted ${count} value(s) under master key version ${next.version}.\n`);
      io.out(
        config.masterKey === undefined
          ? `Key ring: ${where}.\n`
          : `New key ring written to ${where}: set TALLY_MASTER_KEY to its content, then delete it.\n`,
      );
      return EXIT.ok;
    });
  },
});
