import { csvLine } from '../core/csv/csv.js';
import type { TallyError } from '../errors.js';
import type { AuditQuery } from '../model/audit.js';
import type { AuditAction } from '../model/audit-actions.js';
import type { AuditRepository, AuditRow, NewAuditRow } from '../store/repositories/audit.js';
import type { Connection, Repositories, UnitOfWork } from '../store/unit-of-work.js';
import type { Actor } from './actor.js';
import { requirePermission } from './actor.js';
import type { Clock } from './clock.js';

export interface AuditEntry {
  action: AuditAction;
  targetType?: string;
  target?: string;
  result?: 'success' | 'failure';
  /** Non-secret facts only; callers choose each field (a whitelist, never a request body). */
  details?: Record<string, string | number | boolean | null>;
}

export interface AuditEvent {
  id: number;
  at: string;
  actorType: string;
  actor: string;
  action: string;
  targetType: string | null;
  target: string | null;
  result: 'success' | 'failure';
  source: string | null;
  details: Record<string, unknown> | null;
  /** The request it came from, to find its log lines (X-Request-Id, or a RADIUS packet's id). */
  requestId: string | null;
}

/**
 * Names from requests (a User-Name, a username typed at a log-on) are recorded as given, except
 * control characters, written as JSON escapes: PostgreSQL refuses a NUL in text, and one such
 * name must not cost the events recorded with it.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The event recorded whenever an administrator is shown a credential of someone's token: who, whose,
 * which token and what kind, never the credential itself.
 */
export function credentialShown(serial: string, username: string, kinds: readonly string[]): AuditEntry {
  return { action: 'credential.shown', targetType: 'token', target: serial, details: { username, kind: kinds.join(',') } };
}

/** The events about one token (by serial) or one user, as an audit query's target; a serial wins. */
export function aboutTarget(about: { serial?: string; user?: string }): Pick<AuditQuery, 'target' | 'targetType'> {
  if (about.serial !== undefined) return { target: about.serial, targetType: 'token' };
  if (about.user !== undefined) return { target: about.user, targetType: 'user' };
  return {};
}

/** One event and who caused it. */
export interface AuditRecord {
  actor: Actor;
  entry: AuditEntry;
}

/**
 * Thrown from a change's work to refuse while keeping what the work wrote: a wrong code counted
 * against a lockout must stay counted. The writes commit with the failure event, then `refusal` is
 * thrown to the caller.
 */
export class RefusalKeepingWrites extends Error {
  constructor(readonly refusal: TallyError) {
    super(refusal.message);
  }
}

/**
 * The append-only audit trail: who did what to what, when, from where, and how it ended. The
 * domain records through two calls: `change` for a change (its event commits with it) and `record`
 * for events that are no change of their own.
 */
export class AuditService {
  /** Failure events of changes nested in a transaction, recorded however that transaction ends. */
  private readonly nestedFailures = new WeakMap<Repositories, NewAuditRow[]>();

  private readonly repository: AuditRepository;

  constructor(
    private readonly work: UnitOfWork,
    private readonly clock: Clock,
  ) {
    this.repository = work.repositories.audit;
  }

  /**
   * Makes a change and records it: `work` runs in one transaction with every repository bound to
   * it, and the success event (with what `describe` adds from the result) is appended in that
   * transaction, so neither commits without the other. When `work` throws, the transaction rolls
   * back and a failure event with the error's stable code is recorded on its own. A change made
   * inside another (`within` its transaction) commits or rolls back with it.
   */
  async change<T>(
    actor: Actor,
    entry: AuditEntry,
    work: (tx: Repositories) => Promise<T>,
    describe?: (result: T) => AuditEntry['details'],
    within?: Repositories,
  ): Promise<T> {
    if (within) return this.changeWithin(within, actor, entry, work, describe);
    let nested: NewAuditRow[] = [];
    let outcome: { result: T } | { refusal: TallyError };
    try {
      outcome = await this.work.transaction(async (tx) => {
        nested = [];
        this.nestedFailures.set(tx, nested);
        try {
          const result = await work(tx);
          await tx.audit.appendMany([...nested, this.row(actor, succeeded(entry, describe?.(result)))]);
          return { result };
        } catch (error) {
          if (!(error instanceof RefusalKeepingWrites)) throw error;
          await tx.audit.appendMany([...nested, this.row(actor, failure(entry, error.refusal))]);
          return { refusal: error.refusal };
        }
      });
    } catch (error) {
      await this.repository.appendMany([...nested, this.row(actor, failure(entry, error))]);
      throw error;
    }
    if ('refusal' in outcome) throw outcome.refusal;
    return outcome.result;
  }

  private async changeWithin<T>(
    tx: Repositories,
    actor: Actor,
    entry: AuditEntry,
    work: (tx: Repositories) => Promise<T>,
    describe?: (result: T) => AuditEntry['details'],
  ): Promise<T> {
    try {
      const result = await work(tx);
      await tx.audit.appendMany([this.row(actor, succeeded(entry, describe?.(result)))]);
      return result;
    } catch (error) {
      const refusal = error instanceof RefusalKeepingWrites ? error.refusal : error;
      this.nestedFailures.get(tx)?.push(this.row(actor, failure(entry, refusal)));
      throw refusal;
    }
  }

  /**
   * Records events that are no change of their own, in one statement: inside a change's or a
   * batch's transaction (`within`), where they commit or roll back with it (a credential shown, an
   * authentication), or on their own where there is no change to lose (a read that is recorded, a
   * refusal that changed nothing).
   */
  async record(events: AuditRecord | readonly AuditRecord[], within?: Connection): Promise<void> {
    const list: readonly AuditRecord[] = 'actor' in events ? [events] : events;
    await this.repository.appendMany(
      list.map((record) => this.rowOf(record)),
      within,
    );
  }

  /** The row an event is stored as, for a repository that writes it in a statement of its own making. */
  rowOf({ actor, entry }: AuditRecord): NewAuditRow {
    return this.row(actor, entry);
  }

  private row(actor: Actor, entry: AuditEntry): NewAuditRow {
    return {
      at: this.clock.now(),
      actor_type: actor.kind,
      actor: printable(actor.name),
      action: entry.action,
      target_type: entry.targetType ?? null,
      target: entry.target === undefined ? null : printable(entry.target),
      result: entry.result ?? 'success',
      source: actor.source === undefined ? null : printable(actor.source),
      details: entry.details ? JSON.stringify(entry.details) : null,
      request_id: actor.requestId ?? null,
    };
  }

  async list(actor: Actor, query: AuditQuery): Promise<AuditEvent[]> {
    requirePermission(actor, 'audit.read');
    const rows = await this.repository.query(query);
    return rows.map(toEvent);
  }

  /** A user's recent authentications (REST and RADIUS), against the user or the tokens they hold. */
  async authentications(actor: Actor, username: string, limit = 20): Promise<AuditEvent[]> {
    requirePermission(actor, 'audit.read');
    return (await this.repository.authenticationsOf(username, limit)).map(toEvent);
  }

  /**
   * The events a filter finds, newest first, as CSV for a spreadsheet or an auditor. The export is
   * itself recorded, with its filter.
   */
  async exportCsv(actor: Actor, query: Omit<AuditQuery, 'limit' | 'beforeId'>): Promise<{ csv: string; rows: number }> {
    const filter = Object.fromEntries(
      Object.entries(query)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => [key, typeof value === 'string' ? value.slice(0, 128) : value]),
    );
    const entry: AuditEntry = { action: 'audit.export', details: filter };
    let result: { csv: string; rows: number };
    try {
      requirePermission(actor, 'audit.read');
      result = await this.csvOf(query);
    } catch (error) {
      await this.record({ actor, entry: failure(entry, error) });
      throw error;
    }
    // A read changes nothing: recorded on its own, there is no change for the event to commit with.
    await this.record({ actor, entry: succeeded(entry, { rows: result.rows }) });
    return result;
  }

  private async csvOf(query: Omit<AuditQuery, 'limit' | 'beforeId'>): Promise<{ csv: string; rows: number }> {
    let csv = csvLine(EXPORT_COLUMNS);
    let rows = 0;
    let beforeId: number | undefined;
    while (rows < AUDIT_EXPORT_MAX_ROWS) {
      const batch = await this.repository.query({ ...query, beforeId, limit: Math.min(EXPORT_BATCH, AUDIT_EXPORT_MAX_ROWS - rows) });
      for (const event of batch.map(toEvent))
        csv += csvLine(
          EXPORT_COLUMNS.map((column) => (column === 'details' ? (event.details ? JSON.stringify(event.details) : null) : event[column])),
        );
      rows += batch.length;
      const last = batch.at(-1);
      if (batch.length < EXPORT_BATCH || last === undefined) break;
      beforeId = Number(last.id);
    }
    return { csv, rows };
  }
}

/** The most rows one export holds; narrow the filter for more. */
const AUDIT_EXPORT_MAX_ROWS = 100_000;
const EXPORT_BATCH = 1000;
/** The columns of a CSV export (the REST one and `tally audit export`). */
export const EXPORT_COLUMNS = [
  'id',
  'at',
  'actorType',
  'actor',
  'action',
  'targetType',
  'target',
  'result',
  'source',
  'details',
  'requestId',
] as const;

function succeeded(entry: AuditEntry, described: AuditEntry['details']): AuditEntry {
  return { ...entry, details: { ...entry.details, ...described } };
}

/** The entry of something that failed, with the error's stable code (`INTERNAL` for anything unexpected). */
export function failure(entry: AuditEntry, error: unknown): AuditEntry {
  const code = (error as { code?: unknown }).code;
  return { ...entry, result: 'failure', details: { ...entry.details, error: typeof code === 'string' ? code : 'INTERNAL' } };
}

export function toEvent(row: AuditRow): AuditEvent {
  return {
    id: Number(row.id),
    at: new Date(row.at).toISOString(),
    actorType: row.actor_type,
    actor: row.actor,
    action: row.action,
    targetType: row.target_type,
    target: row.target,
    result: row.result,
    source: row.source,
    details: row.details ? (JSON.parse(row.details) as Record<string, unknown>) : null,
    requestId: row.request_id,
  };
}
