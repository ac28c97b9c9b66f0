import { type Insertable, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import type { DirectoryState, UserRole } from '../../model/vocabulary.js';
import { dialectOf } from '../connect.js';
import { codePointOrder, foldedUsername, orderedColumn, prefixEnd } from '../list-order.js';
import type { Database, UsersTable } from '../schema.js';
import { type Connection, queryBuilderOf } from '../unit-of-work.js';

export type UserRow = Selectable<UsersTable>;
/** A user as listed: with the name of the identity source they come from (null: internal). */
export interface NewUserRow {
  username: string;
  passwordHash: string | null;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  role: UserRole;
  now: number;
}

/** A page of the user list: `after` is the last username of the page before. */
export interface UserListQuery {
  search?: string;
  /** Directory users in this state (`gone`: those who left the directory). */
  directoryState?: DirectoryState;
  /** Only these users (none: nobody). */
  ids?: readonly number[];
  /** Only users from this identity source. */
  sourceId?: number;
  after?: string;
  limit: number;
  offset?: number;
}

/** A new user's row: enabled, unlocked. */
function newRow(user: NewUserRow): Insertable<UsersTable> {
  return {
    username: user.username,
    password_hash: user.passwordHash,
    email: user.email,
    first_name: user.firstName,
    last_name: user.lastName,
    role: user.role,
    disabled: 0,
    failed_logons: 0,
    locked_until: null,
    created_at: user.now,
    updated_at: user.now,
  };
}

export class UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(user: NewUserRow): Promise<UserRow> {
    return this.db.insertInto('users').values(newRow(user)).returningAll().executeTakeFirstOrThrow();
  }

  /** New users in statements of a few hundred rows each (SQLite limits a statement's parameters). */
  async insertMany(users: readonly NewUserRow[]): Promise<void> {
    for (let i = 0; i < users.length; i += 200)
      await this.db
        .insertInto('users')
        .values(users.slice(i, i + 200).map(newRow))
        .execute();
  }

  /** Which of these usernames the store has (exactly as written). */
  async existingUsernames(usernames: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < usernames.length; i += 500) {
      const rows = await this.db
        .selectFrom('users')
        .select('username')
        .where('username', 'in', usernames.slice(i, i + 500))
        .execute();
      for (const row of rows) found.add(row.username);
    }
    return found;
  }

  async findByUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  /** A directory user's record by the directory's stable id, whatever their login name is now. */
  async findByExternalId(sourceId: number, externalId: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('source_id', '=', sourceId)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
  }

  /** A source's users with these stable ids (those with a local record), by username. */
  async listByExternalIds(sourceId: number, externalIds: readonly string[]): Promise<UserRow[]> {
    const rows: UserRow[] = [];
    // In chunks: a statement's parameters are bounded (SQLite, PostgreSQL).
    for (let i = 0; i < externalIds.length; i += 500) {
      const chunk = externalIds.slice(i, i + 500);
      rows.push(
        ...(await this.db.selectFrom('users').selectAll().where('source_id', '=', sourceId).where('external_id', 'in', chunk).execute()),
      );
    }
    return rows.sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  }

  /** A source's users that the directory has not yet been found to have lost. */
  async listFromSource(sourceId: number): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().where('source_id', '=', sourceId).orderBy('username').execute();
  }

  async insertFromDirectory(user: NewUserRow & { sourceId: number; externalId: string; state: DirectoryState }): Promise<UserRow> {
    return this.db
      .insertInto('users')
      .values({
        ...newRow({ ...user, passwordHash: null }),
        disabled: user.state === 'present' ? 0 : 1,
        source_id: user.sourceId,
        external_id: user.externalId,
        directory_state: user.state,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /**
   * Users in case-insensitive order of their names (then exact order, so the key is unique): those
   * whose name starts with `search` in any case, after the user named `after` (the page's key), or
   * skipping `offset` (kept for REST clients that page so; slow far into a big table).
   */
  async list(filter: UserListQuery): Promise<UserRow[]> {
    const dialect = dialectOf(this.db);
    const folded = foldedUsername(dialect);
    const exact = orderedColumn(dialect, 'username');
    if (filter.ids?.length === 0) return [];
    let query = this.db.selectFrom('users').selectAll();
    if (filter.directoryState) query = query.where('directory_state', '=', filter.directoryState);
    if (filter.ids) query = query.where('id', 'in', filter.ids);
    if (filter.sourceId !== undefined) query = query.where('source_id', '=', filter.sourceId);
    if (filter.search) {
      const prefix = codePointOrder(dialect, sql<string>`lower(${filter.search})`);
      query = query.where(folded, '>=', prefix).where(folded, '<', prefixEnd(dialect, sql<string>`lower(${filter.search})`));
    }
    if (filter.after !== undefined) {
      // The range on the index's first column is said on its own: SQLite reads a row value
      // comparison of expressions as a filter, not as a range.
      const foldedKey = codePointOrder(dialect, sql<string>`lower(${filter.after})`);
      const key = codePointOrder(dialect, sql<string>`${filter.after}`);
      query = query.where(folded, '>=', foldedKey).where((eb) => eb.or([eb(folded, '>', foldedKey), eb(exact, '>', key)]));
    }
    query = query.orderBy(folded).orderBy(exact).limit(filter.limit);
    return (filter.offset ? query.offset(filter.offset) : query).execute();
  }

  /**
   * Holds the user's row until the transaction ends, so that counting the user's tokens and giving
   * them one are one step for every node: a write to the row (changing nothing) locks it on
   * PostgreSQL, and on SQLite takes the one writer's lock. A second transaction giving the same
   * user a token waits here, then counts what the first committed.
   */
  async lockForTokens(id: number): Promise<void> {
    await this.db
      .updateTable('users')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('id', '=', id)
      .execute();
  }

  async update(id: number, changes: Updateable<UsersTable>): Promise<UserRow | undefined> {
    return this.db.updateTable('users').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
  }

  /** Enabled super admins other than `exceptId`: there must always be one left. */
  async otherEnabledSuperadmins(exceptId: number): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'superadmin')
      .where('disabled', '=', 0)
      .where('id', '!=', exceptId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // --- Reads by id and the lockout counters (for domain/tokens, notifications and lockout) ---

  async findById(id: number): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Counts one failure for each user in one conditional update (so concurrent failures on several
   * nodes all count), locking until `lockUntil` those who reach `threshold`; returns each one's
   * new count and lock.
   */
  async countFailures(
    ids: readonly number[],
    threshold: number,
    lockUntil: number,
    connection?: Connection,
  ): Promise<{ id: number; failed_logons: number; locked_until: number | null }[]> {
    if (ids.length === 0) return [];
    const db = connection ? queryBuilderOf(connection) : this.db;
    return db
      .updateTable('users')
      .set({
        failed_logons: sql`failed_logons + 1`,
        locked_until: sql`case when failed_logons + 1 >= ${threshold} then ${lockUntil} else locked_until end`,
      })
      .where('id', 'in', ids)
      .returning(['id', 'failed_logons', 'locked_until'])
      .execute();
  }

  /** Clears the failures and lock of each of these users that has any failure. */
  async clearFailures(ids: readonly number[], connection?: Connection): Promise<void> {
    if (ids.length === 0) return;
    const db = connection ? queryBuilderOf(connection) : this.db;
    await db
      .updateTable('users')
      .set({ failed_logons: 0, locked_until: null })
      .where('id', 'in', ids)
      .where('failed_logons', '>', 0)
      .execute();
  }

  /** An administrator's unlock: failures and lock cleared whatever they were. */
  async unlock(id: number): Promise<void> {
    await this.db.updateTable('users').set({ failed_logons: 0, locked_until: null }).where('id', '=', id).execute();
  }
}
