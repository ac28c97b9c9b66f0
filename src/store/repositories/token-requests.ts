import type { Kysely, Selectable, Updateable } from 'kysely';
import type { TokenRequestState } from '../../model/vocabulary.js';
import type { Database, TokenRequestsTable } from '../schema.js';

export type TokenRequestRow = Selectable<TokenRequestsTable>;

/** A request with the names people know it by. */
export interface TokenRequestRecord extends TokenRequestRow {
  username: string;
  profile_name: string;
}

export class TokenRequestRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: { user_id: number; profile_id: number; replaces: string | null; created_at: number }): Promise<TokenRequestRow> {
    return this.db
      .insertInto('token_requests')
      .values({ ...row, state: 'pending', reason: null, serial: null, decided_at: null, decided_by: null })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  private records() {
    return this.db
      .selectFrom('token_requests')
      .innerJoin('users', 'users.id', 'token_requests.user_id')
      .innerJoin('profiles', 'profiles.id', 'token_requests.profile_id')
      .selectAll('token_requests')
      .select(['users.username', 'profiles.name as profile_name']);
  }

  async find(id: number): Promise<TokenRequestRecord | undefined> {
    return this.records().where('token_requests.id', '=', id).executeTakeFirst();
  }

  async query(filter: { state?: TokenRequestState; userId?: number; limit: number; offset: number }): Promise<TokenRequestRecord[]> {
    let query = this.records();
    if (filter.state !== undefined) query = query.where('token_requests.state', '=', filter.state);
    if (filter.userId !== undefined) query = query.where('token_requests.user_id', '=', filter.userId);
    return query.orderBy('token_requests.id', 'desc').limit(filter.limit).offset(filter.offset).execute();
  }

  /** Changes a request only while it is still pending: a decision is taken once. */
  async decide(id: number, changes: Updateable<TokenRequestsTable>): Promise<boolean> {
    const result = await this.db
      .updateTable('token_requests')
      .set(changes)
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async update(id: number, changes: Updateable<TokenRequestsTable>): Promise<void> {
    await this.db.updateTable('token_requests').set(changes).where('id', '=', id).execute();
  }

  /** How many of the user's requests wait for approval and would each add a token (replacements do not). */
  async countPendingNew(userId: number): Promise<number> {
    const row = await this.db
      .selectFrom('token_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('state', '=', 'pending')
      .where('replaces', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Whether this user has a pending request for this profile. */
  async hasPending(userId: number, profileId: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('token_requests')
      .select('id')
      .where('user_id', '=', userId)
      .where('profile_id', '=', profileId)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return row !== undefined;
  }
}
