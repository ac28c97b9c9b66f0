/** What the audit trail can be searched by. */
export interface AuditQuery {
  actor?: string;
  target?: string;
  targetType?: string;
  /** An action name, or a prefix ending in `*` (`token.*`). */
  action?: string;
  result?: 'success' | 'failure';
  since?: number;
  until?: number;
  limit: number;
  /** Only events older than this id (for paging newest-first). */
  beforeId?: number;
}
