import type { Kysely, Selectable } from 'kysely';
import type { AuthnAttemptsTable, Database } from '../schema.js';

export type AuthnAttemptRow = Selectable<AuthnAttemptsTable>;

/** What an attempt waits for next, written when a node finishes its turn. */
export interface AttemptWait {
  awaitedMethod: string;
  challengeState: string | null;
  prompt: string | null;
  /** When the attempt stops waiting: no later than the challenge it keeps. */
  expiresAt: number;
}

/** Agents of the RSA SecurID Authentication API and their attempts. */
export class AuthnApiRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Adds an agent; a taken name fails as a unique violation. */
  async insertAgent(agent: { name: string; keyHash: string; requireSigning: boolean; now: number }): Promise<void> {
    await this.db
      .insertInto('authn_agents')
      .values({ name: agent.name, key_hash: agent.keyHash, require_signing: agent.requireSigning ? 1 : 0, created_at: agent.now })
      .execute();
  }

  async listAgents(): Promise<{ name: string; created_at: number; rotated_at: number | null; require_signing: number }[]> {
    return this.db.selectFrom('authn_agents').select(['name', 'created_at', 'rotated_at', 'require_signing']).orderBy('name').execute();
  }

  /** The key hash of the agent named so, and whether it must sign its requests. */
  async agentKey(name: string): Promise<{ key_hash: string; require_signing: number } | undefined> {
    return this.db.selectFrom('authn_agents').select(['key_hash', 'require_signing']).where('name', '=', name).executeTakeFirst();
  }

  /** The agent whose access key has this hash (key hashes are unique), for a request that does not name it. */
  async agentByKeyHash(keyHash: string): Promise<{ name: string; key_hash: string; require_signing: number } | undefined> {
    return this.db
      .selectFrom('authn_agents')
      .select(['name', 'key_hash', 'require_signing'])
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
  }

  /** Replaces an agent's key (and, if given, whether it must sign); the agent's row after, if there is one. */
  async rotateAgent(
    name: string,
    keyHash: string,
    now: number,
    requireSigning?: boolean,
  ): Promise<{ require_signing: number } | undefined> {
    return this.db
      .updateTable('authn_agents')
      .set({ key_hash: keyHash, rotated_at: now, ...(requireSigning === undefined ? {} : { require_signing: requireSigning ? 1 : 0 }) })
      .where('name', '=', name)
      .returning('require_signing')
      .executeTakeFirst();
  }

  /**
   * Takes a request signature once: false when it was taken before (a replay), on any node. Drops
   * those whose date has left the clock-skew bound, which no request can bring again.
   */
  async takeSignature(signatureHash: string, expiresAt: number, now: number): Promise<boolean> {
    await this.db.deleteFrom('authn_signatures').where('expires_at', '<=', now).execute();
    const result = await this.db
      .insertInto('authn_signatures')
      .values({ signature_hash: signatureHash, expires_at: expiresAt })
      .onConflict((conflict) => conflict.column('signature_hash').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async removeAgent(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('authn_agents').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  /** Starts an attempt claimed by the caller (`working`), and drops attempts expired before `now`. */
  async startAttempt(attempt: {
    id: string;
    agentName: string;
    username: string;
    messageId: string;
    expiresAt: number;
    now: number;
  }): Promise<void> {
    await this.db.deleteFrom('authn_attempts').where('expires_at', '<=', attempt.now).execute();
    await this.db
      .insertInto('authn_attempts')
      .values({
        id: attempt.id,
        agent_name: attempt.agentName,
        username: attempt.username,
        status: 'working',
        message_id: attempt.messageId,
        awaited_method: 'SECURID',
        challenge_state: null,
        prompt: null,
        expires_at: attempt.expiresAt,
      })
      .execute();
  }

  /**
   * Claims an open, unexpired attempt of this agent whose last message is the one the request
   * answers, moving it to `working` under a new message id. Of two nodes given the same request,
   * one wins; the other gets undefined, as does a finished, cancelled or expired attempt.
   */
  async claimAttempt(claim: {
    id: string;
    agentName: string;
    inResponseTo: string;
    messageId: string;
    now: number;
  }): Promise<AuthnAttemptRow | undefined> {
    return this.db
      .updateTable('authn_attempts')
      .set({ status: 'working', message_id: claim.messageId })
      .where('id', '=', claim.id)
      .where('agent_name', '=', claim.agentName)
      .where('message_id', '=', claim.inResponseTo)
      .where('status', '=', 'open')
      .where('expires_at', '>', claim.now)
      .returningAll()
      .executeTakeFirst();
  }

  /** Ends the caller's turn: the attempt waits for the next answer, or is done. */
  async finishTurn(id: string, messageId: string, next: AttemptWait | 'done'): Promise<void> {
    const set =
      next === 'done'
        ? { status: 'done' as const, challenge_state: null }
        : {
            status: 'open' as const,
            awaited_method: next.awaitedMethod,
            challenge_state: next.challengeState,
            prompt: next.prompt,
            expires_at: next.expiresAt,
          };
    await this.db.updateTable('authn_attempts').set(set).where('id', '=', id).where('message_id', '=', messageId).execute();
  }

  /**
   * Gives back a claim whose turn failed: the attempt is open again on the message the request
   * answered, as it was before the claim, so the agent may send the same request again.
   */
  async releaseTurn(id: string, messageId: string, answered: string): Promise<void> {
    await this.db
      .updateTable('authn_attempts')
      .set({ status: 'open', message_id: answered })
      .where('id', '=', id)
      .where('message_id', '=', messageId)
      .where('status', '=', 'working')
      .execute();
  }
}
