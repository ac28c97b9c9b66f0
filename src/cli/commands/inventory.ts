import { readFileSync } from 'node:fs';
import { systemActor } from '../../domain/actor.js';
import { ASSIGNMENT_FILE_MAX_CHARS } from '../../domain/assignment-import.js';
import type { StreamImportTotals } from '../../domain/tokens.js';
import { TallyError } from '../../errors.js';
import { MAX_TOKEN_FILE_BYTES } from '../../formats/detect.js';
import { streamPskcFile } from '../../tokens/files.js';
import { defineCommand, EXIT, type Io, UsageError } from '../command.js';
import { sizeOf, streamWithProgress } from '../file-progress.js';
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
    batch: {
      type: 'string',
      doc: 'Stream a PSKC file, this many keys per transaction, with progress on stderr (files over 16 MiB always stream, 1000 a batch).',
    },
  },
  notes: [
    'A streamed import commits batch by batch and prints only the keys it refuses; run again after a stop, it skips',
    'the serials already in the store (counted as skipped), so it resumes where it stopped.',
    'A file that fails its MACs or password imports nothing. Exit code 0 when every token was imported,',
    '1 when the file was refused or any token was (the report says why), 2 on bad usage.',
    'Example: tally inventory import tokens.sdtid --data-dir /var/lib/tally --password "$SDTID_PASSWORD"',
  ],
  async run({ config, options, positionals, io }) {
    // biome-ignore lint/style/noNonNullAssertion: FILE is a required positional; parseCommandLine refuses a call without it.
    const file = positionals[0]!;
    const size = sizeOf(file);
    if (options.batch !== undefined || size > MAX_TOKEN_FILE_BYTES) {
      const batchSize = options.batch === undefined ? 1000 : Number(options.batch);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new UsageError('--batch takes 1 to 100000 keys.');
      return streamImport({ config, options, io, file, batchSize });
    }
    const content = readBounded(file, MAX_TOKEN_FILE_BYTES);
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

export const inventoryAssignCommand = defineCommand({
  name: 'inventory assign',
  summary: 'Assign imported tokens to users from a CSV of serial,username[,requiresNewPin], with a per-row report.',
  positionals: [{ name: 'FILE', doc: 'A CSV file with a header row: serial, username, and optionally requiresNewPin (yes/no).' }],
  settings: [...storeSettings, 'masterKey'],
  options: { json: { type: 'boolean', doc: 'Print the report as JSON.' } },
  notes: [
    'Each row is assigned on its own: a refused row (unknown serial or user, assigned already, listed twice) leaves the others done.',
    'requiresNewPin yes: the user sets a PIN at the first authentication. Exit code 0 when every row was assigned,',
    '1 when the file or any row was refused (the report says why), 2 on bad usage.',
    'Example: tally inventory assign assignments.csv --data-dir /var/lib/tally',
  ],
  async run({ config, options, positionals, io }) {
    // biome-ignore lint/style/noNonNullAssertion: FILE is a required positional; parseCommandLine refuses a call without it.
    const file = positionals[0]!;
    const text = readBounded(file, ASSIGNMENT_FILE_MAX_CHARS).toString('utf8');
    return withServices(config, async (services) => {
      const report = await services.assignments.importCsv(systemActor, text);
      if (options.json) {
        io.out(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const row of report.rows)
          io.out(
            `line ${String(row.line).padEnd(6)} ${row.serial.padEnd(14)} ${row.username.padEnd(20)} ${row.result}${row.reason ? `: ${row.reason}` : ''}\n`,
          );
        io.out(`${report.assigned} assigned, ${report.refused} refused.\n`);
      }
      return report.refused > 0 ? EXIT.failed : EXIT.ok;
    });
  },
});

/** A file's bytes, refused before it is read when it is larger than `limit`. */
function readBounded(file: string, limit: number): Buffer {
  const size = sizeOf(file);
  if (size > limit) throw new TallyError('INPUT_TOO_LARGE', `${file} is ${size} bytes; at most ${limit} are accepted.`);
  return readFileSync(file);
}

/**
 * A PSKC file of any size, read as it streams from disk and written batch by batch; the refused
 * keys are printed as they come, the progress (keys, rate, time left by the bytes read) on stderr.
 */
async function streamImport(run: {
  config: Parameters<typeof withServices>[0];
  options: Record<string, unknown>;
  io: Io;
  file: string;
  batchSize: number;
}): Promise<number> {
  const { io, file, options } = run;
  const streamed = streamWithProgress(file, 'keys', io);
  const notes: string[] = [];
  const progress = (totals: StreamImportTotals, final = false) =>
    streamed.progress(
      totals.imported + totals.replaced + totals.skipped + totals.refused,
      `${totals.imported} imported, ${totals.skipped} skipped, ${totals.refused} refused`,
      final,
    );
  return withServices(run.config, async (services) => {
    const totals = await services.tokens.importStream(systemActor, {
      keys: streamPskcFile(streamed.pieces, options.password as string | undefined, notes),
      fileName: file.split('/').pop(),
      replace: Boolean(options.replace),
      batchSize: run.batchSize,
      onRefused: (refusal) => {
        const key = refusal.keyId === undefined ? '' : ` (Key Id ${refusal.keyId})`;
        if (options.json) io.out(`${JSON.stringify({ ...refusal, result: 'refused' })}\n`);
        else io.out(`${refusal.serial.padEnd(14)} refused${key}: ${refusal.reason}\n`);
      },
      onBatch: (totals) => progress(totals),
    });
    progress(totals, true);
    if (options.json) io.out(`${JSON.stringify({ format: 'pskc', ...totals, notes })}\n`);
    else {
      io.out(
        `pskc: ${totals.imported} imported, ${totals.replaced} replaced, ${totals.skipped} skipped (in the store already), ${totals.refused} refused.\n`,
      );
      for (const note of notes) io.out(`Note: ${note}\n`);
    }
    return totals.refused > 0 ? EXIT.failed : EXIT.ok;
  });
}
