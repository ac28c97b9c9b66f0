import type { ColumnType, Generated } from 'kysely';

/**
 * The tables, as Kysely sees them. Times are milliseconds since the epoch (INTEGER in SQLite,
 * BIGINT in PostgreSQL, read back as numbers); booleans are 0/1 in both dialects.
 */
export interface MetaTable {
  key: string;
  value: string;
}

export type UserRole = 'user' | 'helpdesk' | 'superadmin';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string | null;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  role: UserRole;
  disabled: number;
  failed_logons: number;
  locked_until: number | null;
  created_at: number;
  updated_at: number;
}

export type ApiTokenRole = 'superadmin' | 'helpdesk' | 'agent';

export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  role: ApiTokenRole;
  token_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  actor_type: 'admin' | 'user' | 'apitoken' | 'system' | 'anonymous';
  actor: string;
  action: string;
  target_type: string | null;
  target: string | null;
  result: 'success' | 'failure';
  source: string | null;
  details: string | null;
}

export interface Database {
  tally_meta: MetaTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  audit_events: AuditEventsTable;
}

export type Timestamp = ColumnType<number, number, number>;
