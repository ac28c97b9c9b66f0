import { CompiledQuery, type Kysely } from 'kysely';
import { dialectOf, type Dialect } from '../connect.js';
import type { Database } from '../schema.js';
import type { TokenRow } from './tokens.js';
import type { UserRow } from './users.js';

/** A user and every token they hold, as one authentication reads them. */
export interface Holder {
  user: UserRow;
  tokens: TokenRow[];
}

/** An accepted step to mark used, with the drift or counter it implies. */
export interface StepUse {
  tokenId: number;
  step: number;
  at: number;
  driftSteps: number;
  counter: number;
}

/**
 * Set-based SQL, so that a batch of authentications costs the same few queries however many it
 * holds: the list travels as one parameter (a JSON array for SQLite, arrays for PostgreSQL).
 */
const STATEMENTS: Record<Dialect, { users: string; tokens: string; useSteps: string }> = {
  sqlite: {
    users: 'select * from users where username in (select value from json_each(?))',
    tokens: 'select * from tokens where user_id in (select value from json_each(?)) order by id',
    useSteps: `update tokens set last_step = v.step, failed_count = 0, next_code_required = 0, last_used_at = v.at, drift_steps = v.drift, counter = v.counter
      from (select value ->> 0 as id, value ->> 1 as step, value ->> 2 as at, value ->> 3 as drift, value ->> 4 as counter from json_each(?)) as v
      where tokens.id = v.id and (tokens.last_step is null or tokens.last_step < v.step) returning tokens.id`,
  },
  postgres: {
    users: 'select * from users where username = any($1::text[])',
    tokens: 'select * from tokens where user_id = any($1::bigint[]) order by id',
    useSteps: `update tokens as t set last_step = v.step, failed_count = 0, next_code_required = 0, last_used_at = v.at, drift_steps = v.drift, counter = v.counter
      from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[], $5::bigint[]) as v(id, step, at, drift, counter)
      where t.id = v.id and (t.last_step is null or t.last_step < v.step) returning t.id`,
  },
};

/** What authentication reads and writes on its hot path, a whole batch of requests at a time. */
export class AuthenticationRepository {
  private readonly dialect: Dialect;

  constructor(private readonly db: Kysely<Database>) {
    this.dialect = dialectOf(db);
  }

  /** The users with these names and their tokens, in two queries. */
  async holders(usernames: readonly string[]): Promise<Map<string, Holder>> {
    const found = new Map<string, Holder>();
    if (usernames.length === 0) return found;
    const statements = STATEMENTS[this.dialect];
    const users = (await this.db.executeQuery(CompiledQuery.raw(statements.users, [this.list(usernames)]))).rows as UserRow[];
    if (users.length === 0) return found;
    const byId = new Map<number, Holder>();
    for (const user of users) {
      const holder = { user, tokens: [] };
      found.set(user.username, holder);
      byId.set(user.id, holder);
    }
    const tokens = (await this.db.executeQuery(CompiledQuery.raw(statements.tokens, [this.list(users.map((u) => u.id))]))).rows as TokenRow[];
    for (const token of tokens) byId.get(token.user_id!)?.tokens.push(token);
    return found;
  }

  /**
   * Marks steps used where each is newer than its token's last one, and returns the tokens whose
   * step was taken: of racing requests (here or on another node) exactly one gets a token's step.
   * A token appears at most once per call.
   */
  async useSteps(uses: readonly StepUse[], db: Kysely<Database> = this.db): Promise<Set<number>> {
    if (uses.length === 0) return new Set();
    const parameters =
      this.dialect === 'sqlite'
        ? [JSON.stringify(uses.map((u) => [u.tokenId, u.step, u.at, u.driftSteps, u.counter]))]
        : [uses.map((u) => u.tokenId), uses.map((u) => u.step), uses.map((u) => u.at), uses.map((u) => u.driftSteps), uses.map((u) => u.counter)];
    const result = await db.executeQuery(CompiledQuery.raw(STATEMENTS[this.dialect].useSteps, parameters));
    return new Set((result.rows as Array<{ id: number }>).map((row) => Number(row.id)));
  }

  private list(values: ReadonlyArray<string | number>): unknown {
    return this.dialect === 'sqlite' ? JSON.stringify(values) : values;
  }
}
