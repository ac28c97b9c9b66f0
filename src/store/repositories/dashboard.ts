import type { Kysely } from 'kysely';
import type { TokenState } from '../../model/vocabulary.js';
import type { Database } from '../schema.js';

/** A token whose last valid day is near. */
export interface ExpiringToken {
  serial: string;
  username: string | null;
  expires_on: string;
}

/** The dashboard's read model: a few aggregate queries over users, tokens and requests. */
export class DashboardRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** All users, the disabled ones, and those locked at `now`. */
  async userCounts(now: number): Promise<{ total: number; disabled: number; locked: number }> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => [
        eb.fn.countAll<number>().as('total'),
        eb.fn.sum<number>(eb.case().when('disabled', '=', 1).then(1).else(0).end()).as('disabled'),
        eb.fn.sum<number>(eb.case().when('locked_until', '>', now).then(1).else(0).end()).as('locked'),
      ])
      .executeTakeFirstOrThrow();
    return { total: Number(row.total), disabled: Number(row.disabled ?? 0), locked: Number(row.locked ?? 0) };
  }

  /** Tokens by state; a state no token is in is missing. */
  async tokensByState(): Promise<{ state: TokenState; n: number }[]> {
    const rows = await this.db
      .selectFrom('tokens')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    return rows.map((row) => ({ state: row.state, n: Number(row.n) }));
  }

  async pendingRequests(): Promise<number> {
    const row = await this.db
      .selectFrom('token_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'pending')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Active or pending tokens whose last valid day falls from `firstDay` to `lastDay` (ISO dates):
   * how many, and the first `limit` of them, soonest first.
   */
  async expiring(firstDay: string, lastDay: string, limit: number): Promise<{ count: number; first: ExpiringToken[] }> {
    const expiring = this.db
      .selectFrom('tokens')
      .where('state', 'in', ['active', 'pending'])
      .where('expires_on', '>=', firstDay)
      .where('expires_on', '<=', lastDay);
    const [count, first] = await Promise.all([
      expiring.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
      expiring
        .leftJoin('users', 'users.id', 'tokens.user_id')
        .select(['tokens.serial', 'users.username', 'tokens.expires_on'])
        .$narrowType<{ expires_on: string }>()
        .orderBy('tokens.expires_on')
        .orderBy('tokens.serial')
        .limit(limit)
        .execute(),
    ]);
    return { count: Number(count.n), first };
  }
}
