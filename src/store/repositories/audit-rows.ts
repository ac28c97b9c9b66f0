import type { Insertable } from 'kysely';
import type { AuditEventsTable } from '../schema.js';

/**
 * How an audit event's row is written, for the audit repository and for the one statement that
 * writes events beside other rows (an authentication batch's). A leaf module: the repositories
 * that use it import one another through the unit of work.
 */

/** The columns an event is written with, in the order of `auditValues`. */
export const AUDIT_COLUMNS = 'at, actor_type, actor, action, target_type, target, result, source, details, request_id';

/** An event's values in the order of `AUDIT_COLUMNS`. */
export function auditValues(event: Insertable<AuditEventsTable>): unknown[] {
  return [
    event.at,
    event.actor_type,
    event.actor,
    event.action,
    event.target_type ?? null,
    event.target ?? null,
    event.result,
    event.source ?? null,
    event.details ?? null,
    event.request_id ?? null,
  ];
}

export const AUDIT_COLUMN_COUNT = AUDIT_COLUMNS.split(',').length;

/** PostgreSQL: the parameters of a set-based insert, one typed array per column, numbered from `$first` (for `unnest`). */
export function postgresAuditArrays(first: number): string {
  const types = ['bigint', ...Array<string>(AUDIT_COLUMN_COUNT - 1).fill('text')];
  return types.map((type, column) => `$${first + column}::${type}[]`).join(', ');
}
