import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { systemActor } from '../../domain/actor.js';
import { defineCommand, EXIT, UsageError } from '../command.js';
import { storeSettings, withServices } from '../store.js';

const credentialsCommand = defineCommand({
  name: 'bulk credentials',
  summary: "Write a CT-KIP bulk distribution's credentials file (a CSV of username, serial, CT-KIP URL, activation code, expiry), once.",
  positionals: [{ name: 'ID', doc: 'The bulk distribution, by its number.' }],
  settings: [...storeSettings, 'masterKey', 'publicUrl'],
  options: {
    out: { type: 'string', doc: 'The file to write (created with mode 0600; an existing file is not overwritten).', required: true },
  },
  notes: [
    'The file is given once, to whichever console, API call or command asks first; it is recorded in the audit trail.',
    'Give --public-url as the server has it (TALLY_PUBLIC_URL): it makes the CT-KIP URL of profiles without one of their own.',
    'Example: tally bulk credentials 7 --out /root/bulk-7.csv --data-dir /var/lib/tally --public-url https://tally.example.com',
  ],
  async run({ config, options, positionals, io }) {
    // biome-ignore lint/style/noNonNullAssertion: ID is a required positional; parseCommandLine refuses a call without it.
    const id = positionals[0]!;
    if (!/^[0-9]{1,15}$/.test(id)) throw new UsageError(`ID must be the number of a bulk distribution (got "${id.slice(0, 40)}").`);
    const out = String(options.out);
    // Made before the file is claimed: a path that cannot be written must not use up the one download.
    let fd: number;
    try {
      fd = openSync(out, 'wx', 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(code === 'EEXIST' ? `${out} exists already; choose a new file.` : `cannot create ${out}.`);
    }
    let written = false;
    try {
      return await withServices(
        config,
        async (services) => {
          const file = await services.bulk.downloadCredentials(systemActor, Number(id));
          writeSync(fd, file.body);
          written = true;
          io.out(`${out}: ${file.rows} rows, ${file.codes} with an activation code.\n`);
          return EXIT.ok;
        },
        config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl.replace(/\/$/, '') },
      );
    } finally {
      closeSync(fd);
      if (!written) rmSync(out, { force: true });
    }
  },
});

export const bulkCommands = [credentialsCommand];
