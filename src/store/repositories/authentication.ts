import { CompiledQuery, type Kysely } from 'kysely';
import { type Dialect, dialectOf, listParameter, type OffLoopCommits, rowsParameters } from '../connect.js';
import { preparedOnPostgres } from '../prepared-statements.js';
import type { Database } from '../schema.js';
import { type Connection, connectionOf, queryBuilderOf } from '../unit-of-work.js';
import { AuditRepository, type NewAuditRow } from './audit.js';
import { AUDIT_COLUMN_COUNT, AUDIT_COLUMNS, auditValues, postgresAuditArrays } from './audit-rows.js';
import type { TokenRow } from './tokens.js';
import type { UserRow } from './users.js';

/** A user and every token they hold, as one authentication reads them. */
export interface Holder {
  user: UserRow;
  tokens: TokenRow[];
}

/** An accepted step to mark used on the token row it was decided on, with the drift or counter it implies. */
export interface StepUse {
  row: TokenRow;
  step: number;
  at: number;
  driftSteps: number;
  counter: number;
}

/**
 * Set-based SQL, so that a batch of authentications costs the same few statements however many it
 * holds: the list travels as one parameter (a JSON array for SQLite, arrays for PostgreSQL).
 */
const SQLITE = {
  users: 'select * from users where username in (select value from json_each(?))',
  tokens: `select tokens.* from tokens join users on users.id = tokens.user_id
    where users.username in (select value from json_each(?)) order by tokens.id`,
  useSteps: `update tokens set last_step = v.step, failed_count = 0, next_code_required = 0, last_used_at = v.at, drift_steps = v.drift, counter = v.counter,
      transactions_left = tokens.transactions_left - 1
    from (select value ->> 0 as id, value ->> 1 as step, value ->> 2 as at, value ->> 3 as drift, value ->> 4 as counter from json_each(?)) as v
    where tokens.id = v.id and (tokens.last_step is null or tokens.last_step < v.step)
      and (tokens.transactions_left is null or tokens.transactions_left > 0) returning tokens.id, tokens.transactions_left`,
};

/** Columns of a step use, in the order of `stepUseValues` and of the `useSteps` statements' parameters. */
const STEP_USE_COLUMNS = 5;

const POSTGRES_USE_STEPS = `update tokens as t set last_step = v.step, failed_count = 0, next_code_required = 0, last_used_at = v.at, drift_steps = v.drift, counter = v.counter,
    transactions_left = t.transactions_left - 1
  from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[], $5::bigint[]) as v(id, step, at, drift, counter)
  where t.id = v.id and (t.last_step is null or t.last_step < v.step)
    and (t.transactions_left is null or t.transactions_left > 0) returning t.id, t.transactions_left`;

/**
 * On PostgreSQL every statement is a round trip and a backend's parse, plan and execute, so a batch
 * reads in one statement and, when it only uses steps and records events, writes in one.
 */
const POSTGRES = {
  /**
   * The users with these names and their tokens, one row per token (a user without any: one row of
   * nulls), the user as JSON beside it. Every users column is text or a number, which JSON carries
   * as the row parsers would.
   */
  holders: preparedOnPostgres(`select t.*, row_to_json(u) as holder from users u left join tokens t on t.user_id = u.id
    where u.username = any($1::text[]) order by t.id`),
  useSteps: preparedOnPostgres(POSTGRES_USE_STEPS),
  /**
   * Steps used and audit events in one statement, which is one transaction by itself: no BEGIN or
   * COMMIT. An event is inserted unless it needs a step (its last column) that was not taken. The
   * steps' parameters are $1 to $5, the events' the ones after.
   */
  useStepsAndRecord: preparedOnPostgres(`with used as (${POSTGRES_USE_STEPS}),
    recorded as (insert into audit_events (${AUDIT_COLUMNS})
      select ${AUDIT_COLUMNS} from unnest(${postgresAuditArrays(STEP_USE_COLUMNS + 1)}, $${STEP_USE_COLUMNS + AUDIT_COLUMN_COUNT + 1}::bigint[])
        as e(${AUDIT_COLUMNS}, needs_step_of)
      where e.needs_step_of is null or e.needs_step_of in (select id from used))
    select id, transactions_left from used`),
};

/** An audit event of a batch; one that stands for an accept is recorded only if `needsStepOf`'s step was taken. */
export interface BatchEvent {
  row: NewAuditRow;
  needsStepOf?: number;
}

/** Holders kept in memory between batches (SQLite only), the least recently read dropped first. */
const HOLDERS_KEPT = 50_000;

/**
 * SQLite's change counters: `total_changes()` counts every row this connection has changed,
 * `data_version` moves whenever another connection (a `tally` command, another process) commits.
 * While both stand still, nothing read earlier can have changed.
 */
const SQLITE_CHANGE_MARKER = "select total_changes() || ':' || data_version as marker from pragma_data_version";

/**
 * On PostgreSQL two nodes' batches can lock the same tokens and users in opposite orders; the
 * server then aborts one of them (deadlock_detected, 40P01). Run again, it sees what the other
 * committed, so its conditional updates still decide each step once.
 */
const WRITE_ATTEMPTS = 3;

function isLockConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

async function retriedOnLockConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (error) {
      if (attempts >= WRITE_ATTEMPTS || !isLockConflict(error)) throw error;
    }
  }
}

/** A step use's values in the order of the `useSteps` statements' parameters. */
function stepUseValues(use: StepUse): unknown[] {
  return [use.row.id, use.step, use.at, use.driftSteps, use.counter];
}

/** A token whose step was taken, as the `useSteps` statements return it. */
type TakenRow = { id: number | string; transactions_left: number | string | null };

/** The tokens whose step was taken; their rows are updated to match the store. */
function taken(uses: readonly StepUse[], rows: readonly TakenRow[]): Set<number> {
  const left = new Map(rows.map((row) => [Number(row.id), row.transactions_left === null ? null : Number(row.transactions_left)]));
  for (const use of uses) {
    if (!left.has(use.row.id)) continue;
    Object.assign(use.row, {
      last_step: use.step,
      failed_count: 0,
      next_code_required: 0,
      last_used_at: use.at,
      drift_steps: use.driftSteps,
      counter: use.counter,
      transactions_left: left.get(use.row.id),
    });
  }
  return new Set(left.keys());
}

/** What authentication reads and writes on its hot path, a whole batch of requests at a time. */
export class AuthenticationRepository {
  private readonly dialect: Dialect;
  /**
   * SQLite only: users and tokens as last read or written here, valid while the change marker is
   * the one recorded. Any other write (an admin's change, a failed log-on, another process)
   * moves the marker and empties the cache. PostgreSQL keeps none: other nodes write there.
   */
  private cache: { marker: string; holders: Map<string, Holder> } | undefined;

  private readonly audit: AuditRepository;

  /**
   * `offLoopCommits` (SQLite with durable commits): a batch's commit syncs the log off the event
   * loop, which meanwhile reads and decodes the requests of the next batches. `genericPlans`
   * (PostgreSQL): where the batch's own statements run (`Store.genericPlans`).
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly offLoopCommits?: OffLoopCommits,
    private readonly genericPlans: Kysely<Database> = db,
  ) {
    this.dialect = dialectOf(db);
    this.audit = new AuditRepository(db);
  }

  /** The users with these names and their tokens: from the cache where it is still valid, else in two queries. */
  async holders(usernames: readonly string[]): Promise<Map<string, Holder>> {
    const found = new Map<string, Holder>();
    let missing = usernames;
    if (this.dialect === 'sqlite') {
      const marker = await this.marker(this.db);
      if (this.cache?.marker !== marker) this.cache = { marker, holders: new Map() };
      const cached = this.cache.holders;
      missing = usernames.filter((name) => {
        const holder = cached.get(name);
        if (holder === undefined) return true;
        cached.delete(name);
        cached.set(name, holder);
        found.set(name, holder);
        return false;
      });
    }
    if (missing.length === 0) return found;
    const { users, tokens } = this.dialect === 'postgres' ? await this.readPostgresHolders(missing) : await this.readSqliteHolders(missing);
    if (users.length === 0) return found;
    const byId = new Map<number, Holder>();
    for (const user of users) {
      const holder = { user, tokens: [] };
      found.set(user.username, holder);
      byId.set(user.id, holder);
    }
    for (const token of tokens) if (token.user_id !== null) byId.get(token.user_id)?.tokens.push(token);
    const cached = this.cache?.holders;
    if (cached) {
      for (const holder of byId.values()) cached.set(holder.user.username, holder);
      for (const name of cached.keys()) {
        if (cached.size <= HOLDERS_KEPT) break;
        cached.delete(name);
      }
    }
    return found;
  }

  /** SQLite: users and tokens in two statements (no round trips in process; the holder cache saves most). */
  private async readSqliteHolders(names: readonly string[]): Promise<{ users: UserRow[]; tokens: TokenRow[] }> {
    const parameters = [listParameter('sqlite', names)];
    const users = (await this.db.executeQuery(CompiledQuery.raw(SQLITE.users, parameters))).rows as UserRow[];
    const tokens = (await this.db.executeQuery(CompiledQuery.raw(SQLITE.tokens, parameters))).rows as TokenRow[];
    return { users, tokens };
  }

  /** PostgreSQL: users and tokens in one statement, one snapshot, one round trip. */
  private async readPostgresHolders(names: readonly string[]): Promise<{ users: UserRow[]; tokens: TokenRow[] }> {
    const result = await this.genericPlans.executeQuery(CompiledQuery.raw(POSTGRES.holders, [listParameter('postgres', names)]));
    const users = new Map<number, UserRow>();
    const tokens: TokenRow[] = [];
    for (const { holder, ...token } of result.rows as Array<TokenRow & { holder: UserRow }>) {
      users.set(holder.id, holder);
      if (token.id !== null) tokens.push(token);
    }
    return { users: [...users.values()], tokens };
  }

  /**
   * Runs a batch's writes in one transaction. On SQLite, when nothing else has written since the
   * holders were read, the cache stays valid across these writes (`useSteps` updates the cached
   * tokens); otherwise it is dropped.
   */
  async write<T>(work: (trx: Connection) => Promise<T>): Promise<T> {
    return retriedOnLockConflict(() => this.writeOnce(work));
  }

  /**
   * A batch whose only writes are steps used and audit events: returns the tokens whose step was
   * taken, as `useSteps` does, and records each event unless it needs a step that was not taken.
   * On PostgreSQL that is one statement, with no BEGIN or COMMIT around it; on SQLite the two
   * statements of `write`'s transaction.
   */
  async useStepsAndRecord(uses: readonly StepUse[], events: readonly BatchEvent[]): Promise<Set<number>> {
    if (this.dialect === 'sqlite')
      return this.write(async (trx) => {
        const taken = await this.useSteps(uses, trx);
        const recorded = events.filter(({ needsStepOf }) => needsStepOf === undefined || taken.has(needsStepOf));
        await this.audit.appendMany(
          recorded.map(({ row }) => row),
          trx,
        );
        return taken;
      });
    const parameters = [
      ...rowsParameters('postgres', uses.map(stepUseValues), STEP_USE_COLUMNS),
      ...rowsParameters(
        'postgres',
        events.map(({ row, needsStepOf }) => [...auditValues(row), needsStepOf ?? null]),
        AUDIT_COLUMN_COUNT + 1,
      ),
    ];
    const result = await retriedOnLockConflict(() =>
      this.genericPlans.executeQuery(CompiledQuery.raw(POSTGRES.useStepsAndRecord, parameters)),
    );
    return taken(uses, result.rows as TakenRow[]);
  }

  private async writeOnce<T>(work: (trx: Connection) => Promise<T>): Promise<T> {
    const cache = this.cache;
    this.cache = undefined;
    let marker: string | undefined;
    const transaction = (db: Kysely<Database>) =>
      db.transaction().execute(async (trx) => {
        const untouched = cache !== undefined && (await this.marker(trx)) === cache.marker;
        const done = await work(connectionOf(trx));
        if (untouched) marker = await this.marker(trx);
        return done;
      });
    const result = this.offLoopCommits ? await this.offLoopCommits.commit(this.db, transaction) : await transaction(this.db);
    if (cache && marker !== undefined) this.cache = { marker, holders: cache.holders };
    return result;
  }

  /**
   * Marks steps used where each is newer than its token's last one, and returns the tokens whose
   * step was taken: of racing requests (here or on another node) exactly one gets a token's step.
   * A token with a limited number of uses (`transactions_left`, from a PSKC Policy) gives one up in
   * the same statement, and one with none left takes no step, so the limit holds across nodes.
   * A token appears at most once per call. The rows of the tokens taken are updated to match the store.
   */
  async useSteps(uses: readonly StepUse[], connection?: Connection): Promise<Set<number>> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    if (uses.length === 0) return new Set();
    const parameters = rowsParameters(this.dialect, uses.map(stepUseValues));
    const result = await db.executeQuery(CompiledQuery.raw((this.dialect === 'sqlite' ? SQLITE : POSTGRES).useSteps, parameters));
    return taken(uses, result.rows as TakenRow[]);
  }

  /** Counts a wrong passcode on each token (next tokencode mode follows enough of them); the rows are updated to match. */
  async countTokenFailures(tokens: readonly TokenRow[], connection?: Connection): Promise<void> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    if (tokens.length === 0) return;
    const rows = await db
      .updateTable('tokens')
      .set((eb) => ({ failed_count: eb('failed_count', '+', 1) }))
      .where(
        'id',
        'in',
        tokens.map((t) => t.id),
      )
      .returning(['id', 'failed_count'])
      .execute();
    const counts = new Map(rows.map((row) => [Number(row.id), row.failed_count]));
    for (const token of tokens) token.failed_count = counts.get(token.id) ?? token.failed_count;
  }

  // ---- One token's authentication state, outside the batches (challenges, administration) ----

  /**
   * Runs work outside the batches in one transaction (a change and its audit event). Unlike
   * `write`, it keeps no cached holder: the change moves SQLite's marker, which empties the cache.
   */
  async transaction<T>(work: (trx: Connection) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(connectionOf(trx)));
  }

  /** Whether the user with this name holds an active token. */
  async hasActiveToken(username: string): Promise<boolean> {
    const active = await this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .select('tokens.id')
      .where('users.username', '=', username)
      .where('tokens.state', '=', 'active')
      .executeTakeFirst();
    return active !== undefined;
  }

  /** The user holding a token, known to exist (a token's `user_id`). */
  async userById(id: number): Promise<UserRow> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async usernameOf(userId: number): Promise<string | undefined> {
    return (await this.db.selectFrom('users').select('username').where('id', '=', userId).executeTakeFirst())?.username;
  }

  /**
   * Marks only the step used, leaving the token's failures and next tokencode mode as they are;
   * true if it was newer than the token's last one (so of racing callers one wins).
   */
  async takeStepOnly(tokenId: number, step: number): Promise<boolean> {
    const used = await this.db
      .updateTable('tokens')
      .set({ last_step: step })
      .where('id', '=', tokenId)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return Number(used.numUpdatedRows) === 1;
  }

  /**
   * Uses lost tokens' emergency access codes (a batch's, in its transaction): a one-time code is
   * voided where it is still the one matched, so of racing callers one wins; a code that works for
   * days stays. Either way the token's wrong-passcode count is cleared (its holder's typing errors
   * are forgiven). Returns the tokens whose code was used; their rows are updated to match.
   */
  async useEmergencyCodes(tokens: readonly TokenRow[], connection?: Connection): Promise<Set<number>> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    const used = new Set<number>();
    for (const token of tokens) {
      if (token.emergency_one_time === 1) {
        const voided = await db
          .updateTable('tokens')
          .set({ emergency_hash: null, emergency_expires_at: null, failed_count: 0 })
          .where('id', '=', token.id)
          .where('emergency_hash', '=', token.emergency_hash ?? '')
          .executeTakeFirst();
        if (Number(voided.numUpdatedRows) !== 1) continue;
        Object.assign(token, { emergency_hash: null, emergency_expires_at: null });
      } else if (token.failed_count > 0) {
        await db.updateTable('tokens').set({ failed_count: 0 }).where('id', '=', token.id).execute();
      }
      token.failed_count = 0;
      used.add(token.id);
    }
    return used;
  }

  /** Sets tokens' PINs (confirmed new PINs, a batch's) and ends their new PIN mode; the rows are updated to match. */
  async setPins(pins: ReadonlyArray<{ token: TokenRow; pinHash: string }>, now: number, connection?: Connection): Promise<void> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    for (const { token, pinHash } of pins) {
      const changes = { pin_hash: pinHash, previous_pin_hash: token.pin_hash, new_pin_required: 0, updated_at: now };
      await db.updateTable('tokens').set(changes).where('id', '=', token.id).execute();
      Object.assign(token, changes);
    }
  }

  /** Replaces the PIN only where it is still `previous` (null: none yet); true for the one caller that did. */
  async replacePin(tokenId: number, previous: string | null, pinHash: string, now: number): Promise<boolean> {
    const changed = await this.db
      .updateTable('tokens')
      .set({ pin_hash: pinHash, previous_pin_hash: previous, new_pin_required: 0, updated_at: now })
      .where('id', '=', tokenId)
      .where('pin_hash', previous === null ? 'is' : '=', previous)
      .executeTakeFirst();
    return Number(changed.numUpdatedRows) === 1;
  }

  /** Puts a token in new PIN mode. */
  async requireNewPin(tokenId: number, now: number): Promise<void> {
    await this.db.updateTable('tokens').set({ new_pin_required: 1, updated_at: now }).where('id', '=', tokenId).execute();
  }

  /** Counts a wrong pair offered to resynchronise a token. */
  async countResyncFailure(tokenId: number): Promise<void> {
    await this.db
      .updateTable('tokens')
      .set((eb) => ({ resync_failures: eb('resync_failures', '+', 1) }))
      .where('id', '=', tokenId)
      .execute();
  }

  async clearResyncFailures(tokenId: number): Promise<void> {
    await this.db.updateTable('tokens').set({ resync_failures: 0 }).where('id', '=', tokenId).execute();
  }

  /** Clears a token's wrong-passcode counts (passcodes and resync pairs) and its next tokencode mode. */
  async unlockToken(tokenId: number): Promise<void> {
    await this.db
      .updateTable('tokens')
      .set({ failed_count: 0, next_code_required: 0, resync_failures: 0 })
      .where('id', '=', tokenId)
      .execute();
  }

  /**
   * Disables a token as lost, with the keyed hash of its emergency access code (or none), where it
   * is still in `fromState`; true for the one caller that did. Its wrong-passcode count starts
   * again, so a fresh emergency code gets its own few tries.
   */
  async reportLost(
    tokenId: number,
    fromState: TokenRow['state'],
    emergency: { hash: string; expiresAt: number; oneTime: boolean } | undefined,
    now: number,
    connection?: Connection,
  ): Promise<boolean> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    const reported = await db
      .updateTable('tokens')
      .set({
        state: 'disabled',
        disabled_reason: 'lost',
        emergency_hash: emergency?.hash ?? null,
        emergency_expires_at: emergency?.expiresAt ?? null,
        emergency_one_time: emergency ? (emergency.oneTime ? 1 : 0) : null,
        failed_count: 0,
        updated_at: now,
      })
      .where('id', '=', tokenId)
      .where('state', '=', fromState)
      .executeTakeFirst();
    return Number(reported.numUpdatedRows) === 1;
  }

  private async marker(db: Kysely<Database>): Promise<string> {
    return ((await db.executeQuery(CompiledQuery.raw(SQLITE_CHANGE_MARKER))).rows[0] as { marker: string }).marker;
  }
}
