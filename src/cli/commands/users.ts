import { streamCsvRecords } from '../../core/csv/csv.js';
import { systemActor } from '../../domain/actor.js';
import type { UserStreamImportTotals } from '../../domain/users.js';
import { defineCommand, EXIT, UsageError } from '../command.js';
import { streamWithProgress } from '../file-progress.js';
import { storeSettings, withServices } from '../store.js';

export const usersImportCommand = defineCommand({
  name: 'users import',
  summary: 'Create users from a CSV file of any size, read as it streams, batch by batch, with progress on stderr.',
  positionals: [
    {
      name: 'FILE',
      doc: 'A CSV file with a header row: username, and any of email, firstName, lastName, role (user, helpdesk, superadmin), password.',
    },
  ],
  settings: [...storeSettings, 'masterKey'],
  options: {
    batch: { type: 'string', doc: 'Users per transaction (default 1000, at most 100000).' },
    json: { type: 'boolean', doc: 'Print each refused row and the totals as JSON lines.' },
  },
  notes: [
    'Each batch is committed with an audit event per user. A row that cannot be a user (no or a malformed username,',
    'a bad email, an unknown role, a short password, listed twice) is refused on its own and printed with its line;',
    'a username the store has already is skipped, so a run stopped midway, run again, goes on where it stopped.',
    'Passwords are hashed with argon2 (tens of milliseconds each): a file without them imports far faster, and its',
    'users log on once an administrator sets a password or through a directory. Exit code 0 when every row was',
    'created or skipped, 1 when the file or any row was refused, 2 on bad usage.',
    'Example: tally users import people.csv --data-dir /var/lib/tally',
  ],
  async run({ config, options, positionals, io }) {
    // biome-ignore lint/style/noNonNullAssertion: FILE is a required positional; parseCommandLine refuses a call without it.
    const file = positionals[0]!;
    const batchSize = options.batch === undefined ? 1000 : Number(options.batch);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new UsageError('--batch takes 1 to 100000 users.');
    const streamed = streamWithProgress(file, 'users', io);
    const progress = (totals: UserStreamImportTotals, final = false) =>
      streamed.progress(
        totals.created + totals.skipped + totals.refused,
        `${totals.created} created, ${totals.skipped} skipped, ${totals.refused} refused`,
        final,
      );
    return withServices(config, async (services) => {
      const totals = await services.users.importStream(systemActor, {
        records: streamCsvRecords(decodeUtf8(streamed.pieces)),
        fileName: file.split('/').pop(),
        batchSize,
        onRefused: (refusal) => {
          if (options.json) io.out(`${JSON.stringify({ ...refusal, result: 'refused' })}\n`);
          else io.out(`line ${String(refusal.line).padEnd(8)} ${refusal.username.padEnd(24)} refused: ${refusal.reason}\n`);
        },
        onBatch: (totals) => progress(totals),
      });
      progress(totals, true);
      if (options.json) io.out(`${JSON.stringify(totals)}\n`);
      else io.out(`${totals.created} created, ${totals.skipped} skipped (in the store already), ${totals.refused} refused.\n`);
      return totals.refused > 0 ? EXIT.failed : EXIT.ok;
    });
  },
});

/** Bytes as text, a character split between two pieces kept whole. */
async function* decodeUtf8(pieces: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const piece of pieces) yield decoder.decode(piece, { stream: true });
  const rest = decoder.decode();
  if (rest) yield rest;
}
