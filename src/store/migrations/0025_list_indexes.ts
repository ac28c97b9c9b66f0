import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../connect.js';

/**
 * Indexes for the lists paged by key (`store/list-order.ts`): each list's filter followed by its
 * order, so a page is one range of an index, read in order, at any table size. Text keys are in
 * code-point order ("C" on PostgreSQL, where the unique indexes keep the database's collation).
 */
export function listIndexes(dialect: Dialect) {
  const text = (column: string) => (dialect === 'postgres' ? `${column} collate "C"` : column);
  const indexes: Record<string, string> = {
    users_username_folded: `users (${text('lower(username)')}, ${text('username')})`,
    tokens_user_serial: `tokens (user_id, ${text('serial')})`,
    tokens_state_serial: `tokens (state, ${text('serial')})`,
    tokens_type_serial: `tokens (token_type, ${text('serial')})`,
    audit_events_actor_id: 'audit_events (actor, id)',
    audit_events_target_id: 'audit_events (target_type, target, id)',
    audit_events_action_id: 'audit_events (action, id)',
  };
  if (dialect === 'postgres') indexes.tokens_serial_order = `tokens (${text('serial')})`;
  return {
    async up(db: Kysely<any>): Promise<void> {
      for (const [name, on] of Object.entries(indexes)) await sql.raw(`create index ${name} on ${on}`).execute(db);
      // Their leading columns are the new indexes' leading columns.
      for (const replaced of ['tokens_user', 'tokens_state', 'audit_events_actor', 'audit_events_target'])
        await db.schema.dropIndex(replaced).execute();
    },
  };
}
