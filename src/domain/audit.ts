import { csvLine } from '../core/csv/csv.js';
import type { AuditQuery } from '../model/audit.js';
import type { AuditAction } from '../model/audit-actions.js';
import type { AuditRepository, AuditRow, NewAuditRow } from '../store/repositories/audit.js';
import type { Connection } from '../store/unit-of-work.js';
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

/** The append-only audit trail: who did what to what, when, from where, and how it ended. */
export class AuditService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly clock: Clock,
  ) {}

  async record(actor: Actor, entry: AuditEntry): Promise<void> {
    await this.repository.append(this.row(actor, entry));
  }

  /** Records inside a transaction, so the event commits (or rolls back) with the change it describes. */
  async recordIn(connection: Connection, actor: Actor, entry: AuditEntry): Promise<void> {
    await this.repository.append(this.row(actor, entry), connection);
  }

  /** Records many events inside a transaction, in one statement (a batch of authentications). */
  async recordManyIn(connection: Connection, events: ReadonlyArray<{ actor: Actor; entry: AuditEntry }>): Promise<void> {
    await this.repository.appendMany(
      events.map(({ actor, entry }) => this.row(actor, entry)),
      connection,
    );
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
    };
  }

  /**
   * Runs a change and records it either way: success, or failure with the error's stable code.
   * `describe` may add non-secret facts from the result.
   */
  async track<T>(actor: Actor, entry: AuditEntry, change: () => Promise<T>, describe?: (result: T) => AuditEntry['details']): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      await this.record(actor, {
        ...entry,
        result: 'failure',
        details: { ...entry.details, error: typeof code === 'string' ? code : 'INTERNAL' },
      });
      throw error;
    }
    await this.record(actor, { ...entry, details: { ...entry.details, ...describe?.(result) } });
    return result;
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
    return this.track(
      actor,
      { action: 'audit.export', details: filter },
      async () => {
        requirePermission(actor, 'audit.read');
        let csv = csvLine(EXPORT_COLUMNS);
        let rows = 0;
        let beforeId: number | undefined;
        while (rows < AUDIT_EXPORT_MAX_ROWS) {
          const batch = await this.repository.query({ ...query, beforeId, limit: Math.min(EXPORT_BATCH, AUDIT_EXPORT_MAX_ROWS - rows) });
          for (const event of batch.map(toEvent))
            csv += csvLine(
              EXPORT_COLUMNS.map((column) =>
                column === 'details' ? (event.details ? JSON.stringify(event.details) : null) : event[column],
              ),
            );
          rows += batch.length;
          if (batch.length < EXPORT_BATCH) break;
          beforeId = Number(batch[batch.length - 1].id);
        }
        return { csv, rows };
      },
      (result) => ({ rows: result.rows }),
    );
  }
}

/** The most rows one export holds; narrow the filter for more. */
const AUDIT_EXPORT_MAX_ROWS = 100_000;
const EXPORT_BATCH = 1000;
const EXPORT_COLUMNS = ['id', 'at', 'actorType', 'actor', 'action', 'targetType', 'target', 'result', 'source', 'details'] as const;

function toEvent(row: AuditRow): AuditEvent {
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
  };
}
