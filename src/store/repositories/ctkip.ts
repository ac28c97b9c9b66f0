import type { Kysely, Selectable } from 'kysely';
import type { CtkipSessionsTable, Database } from '../schema.js';
import { atomically } from '../unit-of-work.js';
import { type TokenChanges, TokenRepository, type TokenRow } from './tokens.js';

export type CtkipSessionRow = Selectable<CtkipSessionsTable>;

/** A server key as stored: the PKCS#8 PEM sealed with context `ctkip-key:<id>`. */
export interface SealedServerKey {
  id: number;
  sealed: string;
}

/** The open distribution an activation code's locator selects, with what its checks need. */
export interface OpenActivation {
  distributionId: number;
  secretHash: string | null;
  failedAttempts: number;
  expiresAt: number;
  serial: string;
  tokenState: TokenRow['state'];
  tokenType: TokenRow['token_type'];
}

/** What one redemption writes: the distribution it claims and the token it activates. */
export interface Redemption {
  distributionId: number;
  /** The hash the code was checked against: a code changed since (reissued) does not redeem. */
  secretHash: string;
  serial: string;
  /** Applied to the token only while it is still pending. */
  token: TokenChanges;
  now: number;
}

/** Thrown inside the redemption's transaction to roll it back; never leaves this module. */
class Lost extends Error {}

/**
 * CT-KIP's storage: server keys, sessions between the two requests, and the open distributions an
 * activation code redeems. Every one-time step is a conditional write, so of two clients or two
 * nodes racing, exactly one wins; the domain only learns whether it did.
 */
export class CtkipRepository {
  constructor(private readonly db: Kysely<Database>) {}

  // -------------------------------------------------------------------------------------------
  // Server keys

  /** The newest unretired key, if any. */
  async currentServerKey(): Promise<SealedServerKey | undefined> {
    const row = await this.db
      .selectFrom('ctkip_server_keys')
      .select(['id', 'private_key_sealed'])
      .where('retired_at', 'is', null)
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return row && { id: row.id, sealed: row.private_key_sealed };
  }

  /** A key by id, retired or not: an exchange finishes with the key it started with. */
  async serverKey(id: number): Promise<SealedServerKey | undefined> {
    const row = await this.db.selectFrom('ctkip_server_keys').select(['id', 'private_key_sealed']).where('id', '=', id).executeTakeFirst();
    return row && { id: row.id, sealed: row.private_key_sealed };
  }

  /**
   * Stores a new key. Its sealed value is bound to the row's id, which exists only after the
   * insert, so `seal(id)` is called between the insert and the update, in one transaction.
   */
  async insertServerKey(now: number, seal: (id: number) => string): Promise<number> {
    return atomically(this.db, async (trx) => {
      const row = await trx
        .insertInto('ctkip_server_keys')
        .values({ private_key_sealed: '', created_at: now, retired_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('ctkip_server_keys')
        .set({ private_key_sealed: seal(row.id) })
        .where('id', '=', row.id)
        .execute();
      return row.id;
    });
  }

  /** Retires every key older than `id` that is still current. */
  async retireServerKeysBefore(id: number, now: number): Promise<void> {
    await this.db.updateTable('ctkip_server_keys').set({ retired_at: now }).where('id', '<', id).where('retired_at', 'is', null).execute();
  }

  // -------------------------------------------------------------------------------------------
  // Activation codes

  /** The open distribution whose activation code starts with `locator`. */
  async findOpenByLocator(locator: string): Promise<OpenActivation | undefined> {
    const row = await this.db
      .selectFrom('distributions')
      .innerJoin('tokens', 'tokens.id', 'distributions.token_id')
      .select([
        'distributions.id',
        'distributions.secret_hash',
        'distributions.failed_attempts',
        'distributions.expires_at',
        'tokens.serial',
        'tokens.state',
        'tokens.token_type',
      ])
      .where('distributions.locator', '=', locator)
      .where('distributions.state', '=', 'open')
      .executeTakeFirst();
    return (
      row && {
        distributionId: row.id,
        secretHash: row.secret_hash,
        failedAttempts: row.failed_attempts,
        expiresAt: row.expires_at,
        serial: row.serial,
        tokenState: row.state,
        tokenType: row.token_type,
      }
    );
  }

  /** Counts one wrong code against a distribution (in the database, so concurrent requests all count). */
  async countWrongCode(distributionId: number): Promise<void> {
    await this.db
      .updateTable('distributions')
      .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1) }))
      .where('id', '=', distributionId)
      .execute();
  }

  /** Clears the wrong-code count of a token's open distributions. */
  async resetWrongCodes(tokenId: number): Promise<void> {
    await this.db
      .updateTable('distributions')
      .set({ failed_attempts: 0 })
      .where('token_id', '=', tokenId)
      .where('state', '=', 'open')
      .execute();
  }

  /** The token a distribution activates, with its holder's username (none for an unassigned token). */
  async activationTarget(distributionId: number): Promise<{ token: TokenRow; username: string | undefined }> {
    const token = await this.db
      .selectFrom('tokens')
      .innerJoin('distributions', 'distributions.token_id', 'tokens.id')
      .selectAll('tokens')
      .where('distributions.id', '=', distributionId)
      .executeTakeFirstOrThrow();
    const user =
      token.user_id === null
        ? undefined
        : await this.db.selectFrom('users').select('username').where('id', '=', token.user_id).executeTakeFirst();
    return { token, username: user?.username };
  }

  /**
   * The one-time claim, in one transaction: marks the distribution redeemed (only while it is
   * open with the same code), activates its token (only while pending), and ends its sessions.
   * Returns whether this caller won; a loser has written nothing.
   */
  async redeem(redemption: Redemption): Promise<boolean> {
    try {
      await atomically(this.db, async (trx) => {
        const claimed = await trx
          .updateTable('distributions')
          .set({ state: 'redeemed', redeemed_at: redemption.now, locator: null, credential_sealed: null })
          .where('id', '=', redemption.distributionId)
          .where('state', '=', 'open')
          .where('secret_hash', '=', redemption.secretHash)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) throw new Lost();
        const activated = await new TokenRepository(trx).update(redemption.serial, redemption.token, { state: 'pending' });
        if (!activated) throw new Lost();
        await trx.deleteFrom('ctkip_sessions').where('distribution_id', '=', redemption.distributionId).execute();
      });
      return true;
    } catch (error) {
      if (error instanceof Lost) return false;
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sessions (between ClientHello and ClientNonce; any node may answer either)

  /** Stores a new session, clearing expired ones on the way. */
  async openSession(session: CtkipSessionRow): Promise<void> {
    await this.db.deleteFrom('ctkip_sessions').where('expires_at', '<', session.created_at).execute();
    await this.db.insertInto('ctkip_sessions').values(session).execute();
  }

  /** The unexpired session with this id, if it belongs to this distribution. */
  async findSession(sessionId: string, distributionId: number, now: number): Promise<CtkipSessionRow | undefined> {
    return this.db
      .selectFrom('ctkip_sessions')
      .selectAll()
      .where('session_id', '=', sessionId)
      .where('distribution_id', '=', distributionId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
  }

  async endSession(sessionId: string): Promise<void> {
    await this.db.deleteFrom('ctkip_sessions').where('session_id', '=', sessionId).execute();
  }
}
