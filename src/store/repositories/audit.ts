import { CompiledQuery, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { AuditEventsTable, Database } from '../schema.js';

export type AuditRow = Selectable<AuditEventsTable>;
export type NewAuditRow = Insertable<AuditEventsTable>;

export interface AuditQuery {
  actor?: string;
  target?: string;
  targetType?: string;
  action?: string;
  result?: 'success' | 'failure';
  since?: number;
  until?: number;
  limit: number;
  /** Only events older than this id (for paging newest-first). */
  beforeId?: number;
}

/** Every column, in the order `append` passes the values. */
const AUDIT_COLUMNS_TEMPLATE: NewAuditRow = { at: 0, actor_type: 'system', actor: '', action: '', target_type: null, target: null, result: 'success', source: null, details: null };

/** Append-only: there is deliberately no update or delete here. */
export class AuditRepository {
  /** Compiled once: the audit insert runs on every authentication. */
  private readonly insertSql: string;

  constructor(private readonly db: Kysely<Database>) {
    this.insertSql = db.insertInto('audit_events').values(AUDIT_COLUMNS_TEMPLATE).compile().sql;
  }

  /** Appends on this repository's connection, or on `db` (a transaction the event belongs to). */
  async append(event: NewAuditRow, db: Kysely<Database> = this.db): Promise<void> {
    const values = [event.at, event.actor_type, event.actor, event.action, event.target_type ?? null, event.target ?? null, event.result, event.source ?? null, event.details ?? null];
    await db.executeQuery(CompiledQuery.raw(this.insertSql, values));
  }

  async query(filter: AuditQuery): Promise<AuditRow[]> {
    let query = this.db.selectFrom('audit_events').selectAll();
    if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
    if (filter.target !== undefined) query = query.where('target', '=', filter.target);
    if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.result !== undefined) query = query.where('result', '=', filter.result);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<=', filter.until);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    return query.orderBy('id', 'desc').limit(filter.limit).execute();
  }
}
