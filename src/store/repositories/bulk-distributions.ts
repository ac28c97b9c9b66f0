import type { Kysely, Selectable } from 'kysely';
import type { BulkItemResult } from '../../model/vocabulary.js';
import type { BulkDistributionItemsTable, BulkDistributionsTable, Database } from '../schema.js';
import { atomically } from '../unit-of-work.js';
import type { DistributionRow } from './distributions.js';

export type BulkDistributionRow = Selectable<BulkDistributionsTable>;
export type BulkItemRow = Selectable<BulkDistributionItemsTable>;

/** Rows per insert: SQLite bounds the parameters of one statement. */
const INSERT_CHUNK = 500;

export class BulkDistributionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(run: {
    profile: string;
    createdBy: string;
    usernames: string[];
    /** Whether the run makes a credentials file (its profile delivers by CT-KIP). */
    credentials?: boolean;
    /** The directory group the usernames are the members of. */
    group?: { source: string; dn: string };
    now: number;
  }): Promise<BulkDistributionRow> {
    return atomically(this.db, async (trx) => {
      const row = await trx
        .insertInto('bulk_distributions')
        .values({
          profile: run.profile,
          created_by: run.createdBy,
          state: 'running',
          total: run.usernames.length,
          created_at: run.now,
          updated_at: run.now,
          finished_at: null,
          credentials: run.credentials ? 'waiting' : 'none',
          group_source: run.group?.source ?? null,
          group_dn: run.group?.dn ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      for (let i = 0; i < run.usernames.length; i += INSERT_CHUNK) {
        const items = run.usernames.slice(i, i + INSERT_CHUNK).map((username, j) => ({
          bulk_id: row.id,
          position: i + j + 1,
          username,
          result: 'waiting' as const,
          serial: null,
          error: null,
          message: null,
        }));
        await trx.insertInto('bulk_distribution_items').values(items).execute();
      }
      return row;
    });
  }

  async find(id: number): Promise<BulkDistributionRow | undefined> {
    return this.db.selectFrom('bulk_distributions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async recent(limit: number): Promise<BulkDistributionRow[]> {
    return this.db.selectFrom('bulk_distributions').selectAll().orderBy('id', 'desc').limit(limit).execute();
  }

  async items(id: number, filter: { result?: BulkItemResult; limit: number; offset: number }): Promise<BulkItemRow[]> {
    let query = this.db.selectFrom('bulk_distribution_items').selectAll().where('bulk_id', '=', id);
    if (filter.result !== undefined) query = query.where('result', '=', filter.result);
    return query.orderBy('position').limit(filter.limit).offset(filter.offset).execute();
  }

  /** Takes over a run nobody is working on (none has moved since `staleBefore`); false when someone else got it. */
  async claim(id: number, staleBefore: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('bulk_distributions')
      .set({ updated_at: now })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('updated_at', '<', staleBefore)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** One user done: the item and the run's counts change together. */
  async record(
    id: number,
    itemId: number,
    outcome: { result: Exclude<BulkItemResult, 'waiting'>; serial?: string; expiresAt?: number; error?: string; message?: string },
    now: number,
  ): Promise<void> {
    await atomically(this.db, async (trx) => {
      const changed = await trx
        .updateTable('bulk_distribution_items')
        .set({
          result: outcome.result,
          serial: outcome.serial ?? null,
          error: outcome.error ?? null,
          message: outcome.message?.slice(0, 512) ?? null,
        })
        .where('id', '=', itemId)
        .where('result', '=', 'waiting')
        .executeTakeFirst();
      if (Number(changed.numUpdatedRows) !== 1) return;
      const column = outcome.result === 'distributed' ? 'distributed' : 'failed';
      const expiresAt = outcome.expiresAt;
      await trx
        .updateTable('bulk_distributions')
        .set((eb) => ({
          [column]: eb(column, '+', 1),
          updated_at: now,
          // The file lives as long as its last code.
          ...(expiresAt === undefined
            ? {}
            : {
                credentials_expire_at: eb
                  .case()
                  .when(eb.or([eb('credentials_expire_at', 'is', null), eb('credentials_expire_at', '<', expiresAt)]))
                  .then(expiresAt)
                  .else(eb.ref('credentials_expire_at'))
                  .end(),
              }),
        }))
        .where('id', '=', id)
        .execute();
    });
  }

  async finish(id: number, now: number): Promise<BulkDistributionRow | undefined> {
    return this.db
      .updateTable('bulk_distributions')
      .set({ state: 'finished', finished_at: now, updated_at: now })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * Claims a finished run's credentials file for its one download, in one conditional update: the
   * row is returned only to the caller that claimed it, undefined to every other.
   */
  async claimCredentials(id: number, downloadedBy: string, now: number): Promise<BulkDistributionRow | undefined> {
    return this.db
      .updateTable('bulk_distributions')
      .set({ credentials: 'downloaded', credentials_downloaded_at: now, credentials_downloaded_by: downloadedBy })
      .where('id', '=', id)
      .where('state', '=', 'finished')
      .where('credentials', '=', 'waiting')
      .where('credentials_expire_at', '>', now)
      .returningAll()
      .executeTakeFirst();
  }

  /**
   * The rows of a run's credentials file: each distributed user with the distribution the run made
   * (the token's first: the run made the token), in whatever state it is now, and its profile's CT-KIP URL.
   */
  async credentialRows(id: number): Promise<BulkCredentialRow[]> {
    return this.db
      .selectFrom('bulk_distribution_items as item')
      .leftJoin('tokens', 'tokens.serial', 'item.serial')
      .leftJoin('distributions', (join) =>
        join.onRef('distributions.token_id', '=', 'tokens.id').on('distributions.id', '=', (eb) =>
          eb
            .selectFrom('distributions as first')
            .select((f) => f.fn.min('first.id').as('id'))
            .whereRef('first.token_id', '=', 'tokens.id'),
        ),
      )
      .leftJoin('profiles', 'profiles.id', 'tokens.profile_id')
      .select([
        'item.username',
        'item.serial',
        'distributions.id as distributionId',
        'distributions.state',
        'distributions.credential_sealed as credentialSealed',
        'distributions.expires_at as expiresAt',
        'profiles.ctkip_url as ctkipUrl',
      ])
      .where('item.bulk_id', '=', id)
      .where('item.result', '=', 'distributed')
      .orderBy('item.position')
      .execute();
  }
}

/** A distributed user of a bulk run, with what is left of the distribution it made; nulls where the token has gone. */
export interface BulkCredentialRow {
  username: string;
  serial: string | null;
  distributionId: number | null;
  state: DistributionRow['state'] | null;
  credentialSealed: string | null;
  expiresAt: number | null;
  ctkipUrl: string | null;
}
