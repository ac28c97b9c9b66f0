import type { Kysely, Selectable } from 'kysely';
import type { Delivery } from '../../model/vocabulary.js';
import { isUniqueViolation } from '../connect.js';
import type { Database, DistributionsTable } from '../schema.js';

export type DistributionRow = Selectable<DistributionsTable>;

export interface NewDistribution {
  tokenId: number;
  delivery: Delivery;
  /** A delivery that is complete when made (a CTF string) is written redeemed at once. */
  redeemedAt: number | null;
  expiresAt: number;
  createdBy: string;
  now: number;
}

/**
 * Distributions with their activation codes and one-time download links. Everything one-time is a
 * conditional update here (`state = 'open'` in the WHERE clause): of callers racing for the same
 * distribution exactly one wins, and the methods say whether this caller did.
 */
/** What the consoles and mails say about a pending token's activation. */
export type OpenDistribution = Pick<Selectable<DistributionsTable>, 'delivery' | 'expires_at' | 'failed_attempts'>;

export class DistributionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The newest open distribution of a token (expired or not), if any: what token views and mails say of it. */
  async latestFor(tokenId: number): Promise<OpenDistribution | undefined> {
    return this.db
      .selectFrom('distributions')
      .select(['delivery', 'expires_at', 'failed_attempts'])
      .where('token_id', '=', tokenId)
      .where('state', '=', 'open')
      .orderBy('id', 'desc')
      .executeTakeFirst();
  }

  /** Closes every open distribution of the token: their codes and links stop working now. */
  async supersedeOpen(tokenId: number): Promise<void> {
    await this.db
      .updateTable('distributions')
      .set({ state: 'superseded', locator: null, credential_sealed: null })
      .where('token_id', '=', tokenId)
      .where('state', '=', 'open')
      .execute();
  }

  /** A new distribution, open (or already redeemed when `redeemedAt` is set); returns its id. */
  async open(distribution: NewDistribution): Promise<number> {
    const row = await this.db
      .insertInto('distributions')
      .values({
        token_id: distribution.tokenId,
        delivery: distribution.delivery,
        state: distribution.redeemedAt === null ? 'open' : 'redeemed',
        locator: null,
        secret_hash: null,
        file_password_sealed: null,
        expires_at: distribution.expiresAt,
        created_by: distribution.createdBy,
        created_at: distribution.now,
        redeemed_at: distribution.redeemedAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** The newest open distribution of the token, if any (expired ones included: the caller says why they fail). */
  async findOpenForToken(tokenId: number): Promise<DistributionRow | undefined> {
    return this.db
      .selectFrom('distributions')
      .selectAll()
      .where('token_id', '=', tokenId)
      .where('state', '=', 'open')
      .orderBy('id', 'desc')
      .executeTakeFirst();
  }

  /** Whether an activation code's locator is in use by any distribution (open or not). */
  async locatorTaken(locator: string): Promise<boolean> {
    return (await this.db.selectFrom('distributions').select('id').where('locator', '=', locator).executeTakeFirst()) !== undefined;
  }

  /**
   * Puts a fresh activation code (its locator and hash) on a distribution, resetting its wrong
   * attempts; false when another distribution took the locator at the same moment (a unique violation).
   */
  async setActivationCode(id: number, locator: string, secretHash: string, credentialSealed: string): Promise<boolean> {
    try {
      await this.db
        .updateTable('distributions')
        .set({ locator, secret_hash: secretHash, credential_sealed: credentialSealed, failed_attempts: 0 })
        .where('id', '=', id)
        .execute();
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** Counts one wrong code against the distribution, in the database (concurrent attempts all count). */
  async countFailedAttempt(id: number): Promise<void> {
    await this.db
      .updateTable('distributions')
      .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1) }))
      .where('id', '=', id)
      .execute();
  }

  /** Marks an open distribution redeemed; true only for the caller that did it. */
  async redeem(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('distributions')
      .set({ state: 'redeemed', redeemed_at: now, credential_sealed: null })
      .where('id', '=', id)
      .where('state', '=', 'open')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Sets a file delivery's download link (its hash) and sealed file password. */
  async attachFile(id: number, file: { secretHash: string; credentialSealed: string; filePasswordSealed: string | null }): Promise<void> {
    await this.db
      .updateTable('distributions')
      .set({ secret_hash: file.secretHash, credential_sealed: file.credentialSealed, file_password_sealed: file.filePasswordSealed })
      .where('id', '=', id)
      .execute();
  }

  /** Replaces the download link of a still open distribution; false when it was redeemed or superseded meanwhile. */
  async replaceDownloadLink(id: number, secretHash: string, credentialSealed: string): Promise<boolean> {
    const result = await this.db
      .updateTable('distributions')
      .set({ secret_hash: secretHash, credential_sealed: credentialSealed })
      .where('id', '=', id)
      .where('state', '=', 'open')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** The open, unexpired file distribution a download link names; reads only. */
  async findOpenDownload(secretHash: string, now: number): Promise<Pick<DistributionRow, 'expires_at'> | undefined> {
    return this.db
      .selectFrom('distributions')
      .select('expires_at')
      .where('secret_hash', '=', secretHash)
      .where('delivery', '=', 'file')
      .where('state', '=', 'open')
      .where('expires_at', '>', now)
      .executeTakeFirst();
  }

  /** The file distribution a download link names, in any state, with its token's serial. */
  async findDownload(secretHash: string): Promise<{ id: number; serial: string } | undefined> {
    return this.db
      .selectFrom('distributions')
      .innerJoin('tokens', 'tokens.id', 'distributions.token_id')
      .select(['distributions.id', 'tokens.serial'])
      .where('secret_hash', '=', secretHash)
      .where('delivery', '=', 'file')
      .executeTakeFirst();
  }

  /** The id of the token's open file distribution, if it has one. */
  async findOpenFileForToken(tokenId: number): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('distributions')
      .select('id')
      .where('token_id', '=', tokenId)
      .where('delivery', '=', 'file')
      .where('state', '=', 'open')
      .executeTakeFirst();
    return row?.id;
  }

  /**
   * Claims an open, unexpired distribution's one download in one conditional update: the row is
   * returned only to the caller that claimed it, undefined to every other.
   */
  async claimDownload(id: number, now: number): Promise<DistributionRow | undefined> {
    return this.db
      .updateTable('distributions')
      .set({ state: 'redeemed', redeemed_at: now, credential_sealed: null })
      .where('id', '=', id)
      .where('state', '=', 'open')
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
  }
}
