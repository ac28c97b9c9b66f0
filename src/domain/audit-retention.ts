import { csvLine } from '../core/csv/csv.js';
import { invalidField, TallyError } from '../errors.js';
import type { AuditRepository } from '../store/repositories/audit.js';
import { type Actor, requirePermission } from './actor.js';
import { type AuditEntry, type AuditService, EXPORT_COLUMNS, failure, toEvent } from './audit.js';
import type { Clock } from './clock.js';

export type AuditExportFormat = 'jsonl' | 'csv';
export const AUDIT_EXPORT_FORMATS: readonly AuditExportFormat[] = ['jsonl', 'csv'];

/** Rows read per query while exporting, and deleted per statement while purging: no statement holds the whole table. */
const PAGE = 1000;

/**
 * Audit retention: the complete export of a time range (streamed, any size) and the purge of what
 * is older than a date, which needs such exports of everything it deletes unless forced.
 *
 * Which ranges were exported is read from the `audit.export` events themselves (`fullRange`,
 * `since`, `coveredUntil` in their details), not from a table of its own: the trail is already the
 * record of what was exported, it needs no migration, and a purge keeps the newest events, so the
 * export events that justify it stay readable after it.
 */
export class AuditRetentionService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /**
   * Writes every event with `since <= at < until`, oldest first, one page at a time (`write` may
   * wait: backpressure), and records the export. `until` defaults to now; an export covers at most
   * up to its own start, since later events were not there to be read.
   */
  async exportRange(
    actor: Actor,
    range: { since?: number; until?: number; format: AuditExportFormat },
    write: (chunk: string) => Promise<void>,
  ): Promise<{ rows: number }> {
    const startedAt = this.clock.now();
    const since = range.since ?? 0;
    const until = range.until ?? startedAt;
    const details = { since: iso(since), until: iso(until), format: range.format };
    const entry: AuditEntry = { action: 'audit.export', details };
    let rows: number;
    try {
      requirePermission(actor, 'audit.read');
      if (since >= until) throw invalidField('since', 'sinceBeforeUntil', { since: iso(since), until: iso(until) });
      rows = await this.writeRange(since, until, range.format, write);
    } catch (error) {
      await this.audit.record({ actor, entry: failure(entry, error) });
      throw error;
    }
    // An export changes nothing: recorded on its own, there is no change for the event to commit with.
    await this.audit.record({
      actor,
      entry: { ...entry, details: { ...details, rows, fullRange: true, coveredUntil: iso(Math.min(until, startedAt)) } },
    });
    return { rows };
  }

  private async writeRange(
    since: number,
    until: number,
    format: AuditExportFormat,
    write: (chunk: string) => Promise<void>,
  ): Promise<number> {
    if (format === 'csv') await write(csvLine(EXPORT_COLUMNS));
    let rows = 0;
    let afterId = 0;
    for (;;) {
      const page = await this.repository.ascending({ afterId, since, until, limit: PAGE });
      const last = page.at(-1);
      if (last === undefined) break;
      let chunk = '';
      for (const event of page.map(toEvent))
        chunk +=
          format === 'jsonl'
            ? `${JSON.stringify(event)}\n`
            : csvLine(
                EXPORT_COLUMNS.map((column) =>
                  column === 'details' ? (event.details ? JSON.stringify(event.details) : null) : event[column],
                ),
              );
      await write(chunk);
      rows += page.length;
      afterId = Number(last.id);
    }
    return rows;
  }

  /**
   * Deletes the events older than `before`, in batches, and records `audit.purge` with the count
   * after them (so this run never deletes its own event). Refused with AUDIT_NOT_EXPORTED unless
   * complete exports cover every event it would delete, or `force`.
   */
  async purge(actor: Actor, request: { before: number; force: boolean }): Promise<{ deleted: number }> {
    const { before, force } = request;
    return this.audit.change(
      actor,
      { action: 'audit.purge', details: { before: iso(before), forced: force } },
      async (tx) => {
        requirePermission(actor, 'audit.purge');
        if (before > this.clock.now()) throw invalidField('before', 'purgeBeforeInFuture', { before: iso(before) });
        if (!force) await this.requireExported(tx.audit, before);
        let deleted = 0;
        for (;;) {
          const batch = await tx.audit.purgeBefore(before, PAGE);
          deleted += batch;
          if (batch < PAGE) break;
        }
        return { deleted };
      },
      (result) => ({ deleted: result.deleted }),
    );
  }

  /**
   * Refuses unless every event older than `before` lies in a complete export: the stretches no
   * export covers must hold no event (a quiet month between two exports is fine). An export covers
   * up to its start, so its own `audit.export` event is never covered by itself: purge before the
   * `--until` of an export that already ended, as the message suggests.
   */
  private async requireExported(events: AuditRepository, before: number): Promise<void> {
    let from = 0;
    for (const [since, until] of [...(await this.exportedRanges(events)), [before, before] as const]) {
      if (since > from) {
        const uncovered = (await events.ascending({ afterId: 0, since: from, until: Math.min(since, before), limit: 1 })).at(0);
        if (uncovered !== undefined) {
          const at = iso(Number(uncovered.at));
          throw new TallyError(
            'AUDIT_NOT_EXPORTED',
            `the audit event of ${at} (and maybe more before ${iso(before)}) is in no complete export: run \`tally audit export --since ${at} --until ${iso(before)} --format jsonl --out FILE\` first, or purge with --force.`,
          );
        }
      }
      from = Math.max(from, until);
      if (from >= before) return;
    }
  }

  /** The [since, coveredUntil) ranges of successful complete exports, sorted by start. */
  private async exportedRanges(events: AuditRepository): Promise<[number, number][]> {
    const ranges: [number, number][] = [];
    let beforeId: number | undefined;
    for (;;) {
      const page = await events.query({ action: 'audit.export', result: 'success', beforeId, limit: PAGE });
      for (const event of page.map(toEvent)) {
        const details = event.details ?? {};
        if (details.fullRange !== true || typeof details.since !== 'string' || typeof details.coveredUntil !== 'string') continue;
        ranges.push([Date.parse(details.since), Date.parse(details.coveredUntil)]);
      }
      const last = page.at(-1);
      if (last === undefined || page.length < PAGE) break;
      beforeId = Number(last.id);
    }
    return ranges.sort((a, b) => a[0] - b[0]);
  }
}

function iso(time: number): string {
  return new Date(time).toISOString();
}
