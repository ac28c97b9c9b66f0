import { readFileSync, statSync } from 'node:fs';
import { systemActor } from '../../domain/actor.js';
import { TallyError } from '../../errors.js';
import { MAX_TOKEN_FILE_BYTES } from '../../formats/detect.js';
import { defineCommand, EXIT, UsageError } from '../command.js';
import { storeSettings, withServices } from '../store.js';

export const inventoryImportCommand = defineCommand({
  name: 'inventory import',
  summary: 'Import sdtid and PSKC token files into the store as unassigned tokens, with a per-token report.',
  positionals: [{ name: 'FILE', doc: 'An sdtid file (one or many tokens) or a PSKC file.' }],
  settings: [...storeSettings, 'masterKey'],
  options: {
    password: { type: 'string', doc: 'The file password, when the file has one.' },
    replace: { type: 'boolean', doc: 'Overwrite tokens whose serial exists already (otherwise they are refused).' },
    json: { type: 'boolean', doc: 'Print the report as JSON.' },
  },
  notes: [
    'A file that fails its MACs or password imports nothing. Exit code 0 when every token was imported,',
    '1 when the file was refused or any token was (the report says why), 2 on bad usage.',
    'Example: tally inventory import tokens.sdtid --data-dir /var/lib/tally --password "$SDTID_PASSWORD"',
  ],
  async run({ config, options, positionals, io }) {
    // biome-ignore lint/style/noNonNullAssertion: FILE is a required positional; parseCommandLine refuses a call without it.
    const file = positionals[0]!;
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new UsageError(`cannot read ${file}.`);
    }
    if (size > MAX_TOKEN_FILE_BYTES)
      throw new TallyError('INPUT_TOO_LARGE', `${file} is ${size} bytes; at most ${MAX_TOKEN_FILE_BYTES} are accepted.`);
    const content = readFileSync(file);
    return withServices(config, async (services) => {
      const report = await services.tokens.importFile(systemActor, {
        content,
        fileName: file.split('/').pop(),
        password: options.password as string | undefined,
        replace: Boolean(options.replace),
      });
      if (options.json) {
        io.out(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const token of report.tokens) {
          const key = token.keyId === undefined ? '' : ` (Key Id ${token.keyId})`;
          io.out(
            `${token.serial.padEnd(14)} ${(token.tokenType ?? '').padEnd(8)} ${token.result}${key}${token.reason ? `: ${token.reason}` : ''}\n`,
          );
        }
        io.out(`${report.format}: ${report.imported} imported, ${report.replaced} replaced, ${report.refused} refused.\n`);
        for (const note of report.notes) io.out(`Note: ${note}\n`);
      }
      return report.refused > 0 ? EXIT.failed : EXIT.ok;
    });
  },
});
