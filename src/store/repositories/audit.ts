import { CompiledQuery, type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import type { AuditQuery } from '../../model/audit.js';
import { type Dialect, dialectOf, rowsParameters } from '../connect.js';
import type { AuditEventsTable, Database } from '../schema.js';
import { type Connection, queryBuilderOf } from '../unit-of-work.js';
import { AUDIT_COLUMNS, auditValues, postgresAuditArrays } from './audit-rows.js';

export type AuditRow = Selectable<AuditEventsTable>;
export type NewAuditRow = Insertable<AuditEventsTable>;

/** The actions an authentication records, by channel. */
const AUTHENTICATION_ACTIONS = ['auth.rest', 'auth.radius', 'auth.self-service'];

/**
 * Append-only: there is deliberately no update, and one delete: `purgeBefore`, the retention
 * purge (which the domain allows only over an exported range, or when forced, and records).
 */
export class AuditRepository {
  /** Any number of events in one statement, the list as one parameter (JSON for SQLite, arrays for PostgreSQL). */
  private readonly insertSql: string;
  private readonly dialect: Dialect;

  constructor(private readonly db: Kysely<Database>) {
    this.dialect = dialectOf(db);
    this.insertSql =
      this.dialect === 'sqlite'
        ? `insert into audit_events (${AUDIT_COLUMNS}) select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9 from json_each(?)`
        : `insert into audit_events (${AUDIT_COLUMNS}) select * from unnest(${postgresAuditArrays(1)})`;
  }

  /** Appends events in one statement, on this repository's connection or on `connection` (a transaction they belong to). */
  async appendMany(events: readonly NewAuditRow[], connection?: Connection): Promise<void> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    if (events.length === 0) return;
    await db.executeQuery(CompiledQuery.raw(this.insertSql, rowsParameters(this.dialect, events.map(auditValues))));
  }

  async query(filter: AuditQuery): Promise<AuditRow[]> {
    let query = this.db.selectFrom('audit_events').selectAll();
    if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
    if (filter.target !== undefined) query = query.where('target', '=', filter.target);
    if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
    if (filter.action?.endsWith('*')) {
      const prefix = filter.action.slice(0, -1);
      // substr, not LIKE: the dialects disagree on LIKE's escape character.
      query = query.where(sql<string>`substr(action, 1, ${prefix.length})`, '=', prefix);
    } else if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.result !== undefined) query = query.where('result', '=', filter.result);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<=', filter.until);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    return query.orderBy('id', 'desc').limit(filter.limit).execute();
  }

  /**
   * Events after an id, oldest first, optionally within [since, until) by time: for streaming an
   * export and for forwarding, page by page without holding the table.
   */
  async ascending(range: { afterId: number; since?: number; until?: number; limit: number }): Promise<AuditRow[]> {
    let query = this.db.selectFrom('audit_events').selectAll().where('id', '>', range.afterId);
    if (range.since !== undefined) query = query.where('at', '>=', range.since);
    if (range.until !== undefined) query = query.where('at', '<', range.until);
    return query.orderBy('id', 'asc').limit(range.limit).execute();
  }

  /**
   * The retention purge: deletes up to `limit` of the oldest events older than `before` and returns
   * how many. The newest event is never deleted, so SQLite never hands out an id again (its
   * AUTOINCREMENT counter survives, but a forwarder's cursor must never meet a reused id).
   */
  async purgeBefore(before: number, limit: number): Promise<number> {
    const db = this.db;
    const result = await db
      .deleteFrom('audit_events')
      .where(
        'id',
        'in',
        db
          .selectFrom('audit_events')
          .select('id')
          .where('at', '<', before)
          .where('id', '<', (eb) => eb.selectFrom('audit_events').select((e) => e.fn.max('id').as('newest')))
          .orderBy('id', 'asc')
          .limit(limit),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** A user's authentications, newest first: those recorded against the user and those against the tokens they hold now. */
  async authenticationsOf(username: string, limit: number): Promise<AuditRow[]> {
    return this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', 'in', AUTHENTICATION_ACTIONS)
      .where((eb) =>
        eb.or([
          eb.and([eb('target_type', '=', 'user'), eb('target', '=', username)]),
          eb.and([
            eb('target_type', '=', 'token'),
            eb(
              'target',
              'in',
              eb
                .selectFrom('tokens')
                .innerJoin('users', 'users.id', 'tokens.user_id')
                .select('tokens.serial')
                .where('users.username', '=', username),
            ),
          ]),
        ]),
      )
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  /** Authentications since a time, per hour and result: the dashboard's chart. */
  async authenticationsByHour(since: number): Promise<{ hour: number; result: 'success' | 'failure'; n: number }[]> {
    const hour = sql<number>`(at / 3600000)`;
    const rows = await this.db
      .selectFrom('audit_events')
      .select([hour.as('hour'), 'result', (eb) => eb.fn.countAll<number>().as('n')])
      .where('at', '>=', since)
      .where('action', 'in', AUTHENTICATION_ACTIONS)
      .groupBy([hour, 'result'])
      .execute();
    return rows.map((row) => ({ hour: Number(row.hour), result: row.result, n: Number(row.n) }));
  }
}
