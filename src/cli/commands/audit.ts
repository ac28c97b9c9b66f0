import { createWriteStream, renameSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { parseInstant } from '../../core/time/instant.js';
import { systemActor } from '../../domain/actor.js';
import { TallyError } from '../../errors.js';
import { defineCommand, EXIT, UsageError } from '../command.js';
import { storeSettings, withServices } from '../store.js';

/** A date flag as milliseconds; a bad one is bad usage (exit 2), with the parser's message. */
function instantOption(name: string, value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseInstant(`--${name}`, value);
  } catch (error) {
    if (error instanceof TallyError) throw new UsageError(error.message.replace(/\.$/, ''));
    throw error;
  }
}

/** Writes chunk by chunk, waiting whenever the stream's buffer is full, so a slow reader never makes the export hold the trail in memory. */
function writerTo(stream: Writable): (chunk: string) => Promise<void> {
  return (chunk) =>
    new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      stream.once('error', onError);
      const wait = () => {
        stream.off('error', onError);
        resolve();
      };
      if (stream.write(chunk)) wait();
      else stream.once('drain', wait);
    });
}

export const auditExportCommand = defineCommand({
  name: 'audit export',
  summary:
    'Export the audit events of a time range, oldest first, as JSON lines or CSV (recorded as a complete export, which a purge needs).',
  settings: [...storeSettings, 'masterKey'],
  options: {
    since: { type: 'string', doc: 'The first instant exported (ISO 8601 date or date-time with a zone); default: the beginning.' },
    until: { type: 'string', doc: 'The end of the range, not included (same forms); default: now.' },
    format: { type: 'string', doc: 'One JSON object per line, or CSV with a header.', choices: ['jsonl', 'csv'], required: true },
    out: { type: 'string', doc: 'Write to this file (made readable by its owner only) instead of standard output.' },
  },
  notes: [
    'Events are read page by page and written as they come, so an export of any size takes little memory.',
    'With --out, the export goes to FILE.partial first and becomes FILE only once complete.',
    'Example: tally audit export --since 2026-01-01 --until 2026-04-01 --format jsonl --out q1.jsonl --data-dir /var/lib/tally',
  ],
  async run({ config, options, io }) {
    const since = instantOption('since', options.since);
    const until = instantOption('until', options.until);
    const format = options.format === 'csv' ? 'csv' : 'jsonl';
    const file = typeof options.out === 'string' ? options.out : undefined;
    return withServices(config, async (services) => {
      if (file === undefined) {
        const write = io.stdout ? writerTo(io.stdout) : async (chunk: string) => io.out(chunk);
        await services.auditRetention.exportRange(systemActor, { since, until, format }, write);
        return EXIT.ok;
      }
      const partial = `${file}.partial`;
      const stream = createWriteStream(partial, { mode: 0o600 });
      try {
        const { rows } = await services.auditRetention.exportRange(systemActor, { since, until, format }, writerTo(stream));
        await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
        renameSync(partial, file);
        io.err(`Exported ${rows} audit events to ${file}.\n`);
        return EXIT.ok;
      } catch (error) {
        stream.destroy();
        rmSync(partial, { force: true });
        throw error;
      }
    });
  },
});

export const auditPurgeCommand = defineCommand({
  name: 'audit purge',
  summary: 'Delete the audit events older than a date, once complete exports (tally audit export) cover them all.',
  settings: [...storeSettings, 'masterKey'],
  options: {
    before: {
      type: 'string',
      doc: 'Delete events older than this (ISO 8601 date or date-time with a zone; not in the future).',
      required: true,
    },
    force: { type: 'boolean', doc: 'Purge even where no complete export covers the events.' },
  },
  notes: [
    'Without --force the purge is refused (exit code 1, AUDIT_NOT_EXPORTED) unless the complete exports made so far,',
    'together, cover every event older than --before. Events are deleted in batches; the purge is recorded as',
    'audit.purge with the count. The newest event always stays.',
    'Example: tally audit purge --before 2026-01-01 --data-dir /var/lib/tally',
  ],
  async run({ config, options, io }) {
    const before = instantOption('before', options.before);
    if (before === undefined) throw new UsageError('--before is required');
    return withServices(config, async (services) => {
      const { deleted } = await services.auditRetention.purge(systemActor, { before, force: Boolean(options.force) });
      io.out(`Purged ${deleted} audit events older than ${new Date(before).toISOString()}.\n`);
      return EXIT.ok;
    });
  },
});
