import type { Kysely, Selectable } from 'kysely';
import type { Database, DistributionsTable } from '../schema.js';

/** What the consoles and mails say about a pending token's activation. */
export type OpenDistribution = Pick<Selectable<DistributionsTable>, 'delivery' | 'expires_at' | 'failed_attempts'>;

/**
 * The read side of distributions that token views and mails need. The distribution aggregate's own
 * repository (claims, issue, close) belongs with domain/distribution.ts; this one only reads.
 */
export class OpenDistributionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The newest open distribution of a token (expired or not), if any. */
  async latestFor(tokenId: number): Promise<OpenDistribution | undefined> {
    return this.db
      .selectFrom('distributions')
      .select(['delivery', 'expires_at', 'failed_attempts'])
      .where('token_id', '=', tokenId)
      .where('state', '=', 'open')
      .orderBy('id', 'desc')
      .executeTakeFirst();
  }
}
