import type { Kysely, Selectable } from 'kysely';
import type { AuthChallengesTable, Database } from '../schema.js';
import { type Connection, queryBuilderOf } from '../unit-of-work.js';

export type ChallengeRow = Selectable<AuthChallengesTable>;

/** A challenge to issue: the chain it continues has had `attempts` answers already. */
export interface NewChallenge {
  state: string;
  tokenId: number;
  kind: ChallengeRow['kind'];
  data: string | null;
  expiresAt: number;
  attempts: number;
}

/**
 * The challenges of authentication (next tokencode, new PIN, confirm PIN) in `auth_challenges`.
 * Each is answered once: `take` deletes it, and of racing callers (on any node) exactly one wins.
 */
export class ChallengeRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Stores challenges in one statement (a batch's, in its transaction), dropping the ones expired by `now`. */
  async issueAll(challenges: readonly NewChallenge[], now: number, connection?: Connection): Promise<void> {
    const db = connection ? queryBuilderOf(connection) : this.db;
    if (challenges.length === 0) return;
    await db.deleteFrom('auth_challenges').where('expires_at', '<', now).execute();
    await db
      .insertInto('auth_challenges')
      .values(
        challenges.map((challenge) => ({
          state: challenge.state,
          token_id: challenge.tokenId,
          kind: challenge.kind,
          data: challenge.data,
          expires_at: challenge.expiresAt,
          attempts: challenge.attempts,
        })),
      )
      .execute();
  }

  /** The challenge with this state, unless it has expired by `now`. */
  async find(state: string, now: number): Promise<ChallengeRow | undefined> {
    return this.db.selectFrom('auth_challenges').selectAll().where('state', '=', state).where('expires_at', '>', now).executeTakeFirst();
  }

  /** Deletes the challenge; true for the one caller that deleted it. */
  async take(state: string): Promise<boolean> {
    const deleted = await this.db.deleteFrom('auth_challenges').where('state', '=', state).executeTakeFirst();
    return Number(deleted.numDeletedRows) === 1;
  }
}
