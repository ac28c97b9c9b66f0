import type { Insertable, Kysely, Selectable } from 'kysely';
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

/** Append-only: there is deliberately no update or delete here. */
export class AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async append(event: NewAuditRow): Promise<void> {
    await this.db.insertInto('audit_events').values(event).execute();
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
