import { type Insertable, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import { dialectOf } from '../connect.js';
import { codePointOrder, orderedColumn, prefixEnd } from '../list-order.js';
import type { Database, ProfilesTable, TokensTable, UsersTable } from '../schema.js';

export type TokenRow = Selectable<TokensTable>;
export type NewTokenRow = Insertable<TokensTable>;
export type TokenChanges = Updateable<TokensTable>;

export interface TokenQuery {
  userId?: number;
  /** Only tokens these users hold (none: no token). */
  userIds?: readonly number[];
  state?: TokensTable['state'];
  tokenType?: TokensTable['token_type'];
  serialPrefix?: string;
  /** The last serial of the page before (paging by key). */
  after?: string;
  limit: number;
  /** Kept for REST clients that page by offset; slow far into a big table. */
  offset?: number;
}

export class TokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: NewTokenRow): Promise<TokenRow> {
    return this.db.insertInto('tokens').values(row).returningAll().executeTakeFirstOrThrow();
  }

  /** Many rows in few statements (a large import): chunked, since SQLite bounds the parameters of one. */
  async insertMany(rows: readonly NewTokenRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 200)
      await this.db
        .insertInto('tokens')
        .values(rows.slice(i, i + 200))
        .execute();
  }

  async findBySerial(serial: string): Promise<TokenRow | undefined> {
    return this.db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirst();
  }

  /** A token known to exist (just written in the same transaction). */
  async getBySerial(serial: string): Promise<TokenRow> {
    return this.db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  }

  /** The token with this serial if `username` holds it: another user's token looks like a missing one. */
  async findHeldBy(serial: string, username: string): Promise<TokenRow | undefined> {
    return this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .where('tokens.serial', '=', serial)
      .where('users.username', '=', username)
      .executeTakeFirst();
  }

  async existingSerials(serials: string[]): Promise<Set<string>> {
    if (serials.length === 0) return new Set();
    const found = new Set<string>();
    // Chunked: SQLite limits bound parameters per statement.
    for (let i = 0; i < serials.length; i += 500) {
      const rows = await this.db
        .selectFrom('tokens')
        .select('serial')
        .where('serial', 'in', serials.slice(i, i + 500))
        .execute();
      for (const row of rows) found.add(row.serial);
    }
    return found;
  }

  /** Updates by serial; with `expect`, only when the row still has those values (a conditional update). */
  async update(serial: string, changes: TokenChanges, expect: Partial<Pick<TokenRow, 'state' | 'user_id'>> = {}): Promise<boolean> {
    let query = this.db.updateTable('tokens').set(changes).where('serial', '=', serial);
    if (expect.state !== undefined) query = query.where('state', '=', expect.state);
    if (expect.user_id !== undefined) query = query.where('user_id', expect.user_id === null ? 'is' : '=', expect.user_id);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Tokens in serial order (code point), filtered; each filter with the order is one index's range (migration 0025). */
  async query(filter: TokenQuery): Promise<TokenRow[]> {
    if (filter.userIds?.length === 0) return [];
    const dialect = dialectOf(this.db);
    const serial = orderedColumn(dialect, 'serial');
    let query = this.db.selectFrom('tokens').selectAll();
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    if (filter.userIds !== undefined) query = query.where('user_id', 'in', filter.userIds);
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.tokenType !== undefined) query = query.where('token_type', '=', filter.tokenType);
    if (filter.serialPrefix !== undefined) {
      const prefix = sql<string>`${filter.serialPrefix}`;
      query = query.where(serial, '>=', codePointOrder(dialect, prefix)).where(serial, '<', prefixEnd(dialect, prefix));
    }
    if (filter.after !== undefined) query = query.where(serial, '>', codePointOrder(dialect, sql<string>`${filter.after}`));
    query = query.orderBy(serial).limit(filter.limit);
    return (filter.offset ? query.offset(filter.offset) : query).execute();
  }

  // --- For domain/tokens, self-service and token-requests (the repositories refactor, #19 item 2) ---

  /** Deletes a token by id (what hangs off it goes by cascade); returns whether there was one. */
  async remove(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  /** Every token `username` holds, newest first. */
  async listHeldBy(username: string): Promise<TokenRow[]> {
    return this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .where('users.username', '=', username)
      .orderBy('tokens.created_at', 'desc')
      .orderBy('tokens.id', 'desc')
      .execute();
  }

  /** How many tokens the user holds, in any state, not counting the token `except` (a serial) if given. */
  async countHeldBy(userId: number, except?: string): Promise<number> {
    let query = this.db
      .selectFrom('tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId);
    if (except !== undefined) query = query.where('serial', '!=', except);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  /** The serial of the newest pending or active token of this user and profile made after token `afterId`. */
  async newestOfProfileAfter(userId: number, profileId: number, afterId: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('tokens')
      .select('serial')
      .where('user_id', '=', userId)
      .where('profile_id', '=', profileId)
      .where('id', '>', afterId)
      .where('state', 'in', ['pending', 'active'])
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return row?.serial;
  }

  // --- Distribution (src/domain/distribution.ts): a token's holder, profile and challenges. ---

  /** A token known to exist, by id (referenced by a row read in the same transaction). */
  async getById(id: number): Promise<TokenRow> {
    return this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  /** The user holding the token; undefined when it is unassigned. */
  async holderOf(token: Pick<TokenRow, 'user_id'>): Promise<Selectable<UsersTable> | undefined> {
    if (token.user_id === null) return undefined;
    return this.db.selectFrom('users').selectAll().where('id', '=', token.user_id).executeTakeFirst();
  }

  /** The profile a token was made by (its `profile_id`; an imported token has none). */
  async getProfile(profileId: number): Promise<Selectable<ProfilesTable>> {
    return this.db.selectFrom('profiles').selectAll().where('id', '=', profileId).executeTakeFirstOrThrow();
  }

  /**
   * A pending token becomes active (its holder proved having the seed, or took its file), with the
   * step and counter it was activated at; false when it is no longer pending.
   */
  async activate(serial: string, now: number, moved: Pick<TokenChanges, 'last_step' | 'counter'> = {}): Promise<boolean> {
    return this.update(serial, { ...moved, state: 'active', activated_at: now, updated_at: now }, { state: 'pending' });
  }

  /** Drops the token's pending challenges (an unassigned token answers none). */
  async dropChallenges(tokenId: number): Promise<void> {
    await this.db.deleteFrom('auth_challenges').where('token_id', '=', tokenId).execute();
  }
}
