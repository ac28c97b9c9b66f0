import type { Kysely } from 'kysely';

export function auditRequestId() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // The id of the request an event came from (its X-Request-Id, or the id a RADIUS packet is
      // given), to find the event's log lines; null for events from before, or from no request.
      await db.schema.alterTable('audit_events').addColumn('request_id', 'text').execute();
    },
  };
}
