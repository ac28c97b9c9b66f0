import type { Actor } from './actor.js';
import { requirePermission } from './actor.js';
import type { Clock } from './clock.js';
import type { Kysely } from 'kysely';
import type { AuditQuery, AuditRepository, AuditRow, NewAuditRow } from '../store/repositories/audit.js';
import type { Database } from '../store/schema.js';

export interface AuditEntry {
  action: string;
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
  async recordIn(db: Kysely<Database>, actor: Actor, entry: AuditEntry): Promise<void> {
    await this.repository.append(this.row(actor, entry), db);
  }

  private row(actor: Actor, entry: AuditEntry): NewAuditRow {
    return {
      at: this.clock.now(),
      actor_type: actor.kind,
      actor: actor.name,
      action: entry.action,
      target_type: entry.targetType ?? null,
      target: entry.target ?? null,
      result: entry.result ?? 'success',
      source: actor.source ?? null,
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
      await this.record(actor, { ...entry, result: 'failure', details: { ...entry.details, error: typeof code === 'string' ? code : 'INTERNAL' } });
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
}

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
