import { randomBytes } from 'node:crypto';
import { constantTimeEqual, randomToken, sha256Hex } from '../core/crypto/random.js';
import {
  type AttemptContext,
  type AttemptOutcome,
  type AuthnRequest,
  type CheckedCredential,
  RSA_METHODS,
  type RsaMethod,
} from '../core/rsa-authn/messages.js';
import { checkSignature, type SignedRequest } from '../core/rsa-authn/signature.js';
import { invalidField, TallyError } from '../errors.js';
import type { ChallengeKind } from '../model/vocabulary.js';
import { isUniqueViolation } from '../store/connect.js';
import type { AttemptWait, AuthnApiRepository } from '../store/repositories/authn-api.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { AuthenticationService, AuthResult } from './authentication.js';
import type { Clock } from './clock.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';

const KEY_PREFIX = 'tla_';
const SIGNING_PREFIX = 'tls_';
/** How long an attempt may wait for the agent's next request. */
export const DEFAULT_ATTEMPT_SECONDS = 600;

export interface AuthnAgentView {
  name: string;
  createdAt: string;
  rotatedAt: string | null;
  requireSigning: boolean;
}

/** An agent's keys as shown once: the access key, and the signing secret where the agent must sign. */
export interface AuthnAgentKeys {
  name: string;
  accessKey: string;
  signingSecret?: string;
}

/** A request's signature as it arrived, with what it signs. */
export interface RequestSignature extends Omit<SignedRequest, 'date' | 'clientId'> {
  date: string | undefined;
  signature: string | undefined;
}

/** What a request comes to: the context to answer with and the outcome. */
export interface AttemptReply {
  context: AttemptContext;
  outcome: AttemptOutcome;
}

const PASSCODE_PROMPT = 'Enter passcode:';
const GENERATED_PIN_AGAIN = 'Enter the new PIN you were shown:';

/** The RSA method that answers each of Tally's challenges. */
const METHOD_OF: Record<ChallengeKind, RsaMethod> = {
  'next-code': RSA_METHODS.nextTokencode,
  'new-pin': RSA_METHODS.newPin,
  'confirm-pin': RSA_METHODS.confirmPin,
};

function newId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The RSA SecurID Authentication API's attempts and agents. An attempt is a row in the store:
 * every request claims it by a conditional update on the message it answers (so of two nodes given
 * the same request, one goes on), checks the credential through the one authentication service
 * (lockout, replay, audit as for RADIUS and REST), and leaves it waiting for the method Tally's
 * challenge asks for, or done. Agents are known by name (`clientId`) and an access key kept as its
 * SHA-256.
 */
export class AuthnApiService {
  constructor(
    private readonly repository: AuthnApiRepository,
    private readonly authentication: AuthenticationService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly hasher: SecretHasher,
    private readonly attemptSeconds: number = DEFAULT_ATTEMPT_SECONDS,
  ) {}

  /**
   * An agent's signing secret: derived from its name and access key under Tally's lookup key, so
   * it is never stored, every node knows it, and a new access key brings a new one.
   */
  private signingSecret(hashKey: SecretHashKey, name: string, keyHash: string): string {
    return SIGNING_PREFIX + hashKey.hash('authn-signing', `${name}:${keyHash}`);
  }

  async createAgent(actor: Actor, input: { name: string; requireSigning?: boolean }): Promise<AuthnAgentKeys> {
    const hashKey = await this.hasher.load();
    return this.audit.change(
      actor,
      { action: 'authn-agent.create', targetType: 'authn-agent', target: input.name.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'authnAgents.manage');
        if (!/^[\w .@-]{1,128}$/.test(input.name)) throw invalidField('name', 'agentName');
        const accessKey = KEY_PREFIX + randomToken(32);
        const keyHash = sha256Hex(accessKey);
        const requireSigning = input.requireSigning ?? false;
        try {
          await tx.authnApi.insertAgent({ name: input.name, keyHash, requireSigning, now: this.clock.now() });
        } catch (error) {
          if (isUniqueViolation(error)) throw new TallyError('CONFLICT', 'An authentication agent with that name exists already.');
          throw error;
        }
        return {
          name: input.name,
          accessKey,
          ...(requireSigning ? { signingSecret: this.signingSecret(hashKey, input.name, keyHash) } : {}),
        };
      },
      (keys) => ({ requireSigning: keys.signingSecret !== undefined }),
    );
  }

  async listAgents(actor: Actor): Promise<AuthnAgentView[]> {
    requirePermission(actor, 'authnAgents.manage');
    return (await this.repository.listAgents()).map((row) => ({
      name: row.name,
      createdAt: new Date(row.created_at).toISOString(),
      rotatedAt: row.rotated_at === null ? null : new Date(row.rotated_at).toISOString(),
      requireSigning: row.require_signing === 1,
    }));
  }

  /**
   * A new access key for an agent (and signing secret, where it must sign), shown once; the old
   * ones stop working at once on every node. `requireSigning`, if given, turns signing on or off with it.
   */
  async rotateAgent(actor: Actor, name: string, options: { requireSigning?: boolean } = {}): Promise<AuthnAgentKeys> {
    const hashKey = await this.hasher.load();
    return this.audit.change(
      actor,
      { action: 'authn-agent.rotate', targetType: 'authn-agent', target: name.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'authnAgents.manage');
        const accessKey = KEY_PREFIX + randomToken(32);
        const keyHash = sha256Hex(accessKey);
        const agent = await tx.authnApi.rotateAgent(name, keyHash, this.clock.now(), options.requireSigning);
        if (!agent) throw new TallyError('AUTHN_AGENT_NOT_FOUND', `No authentication agent named ${name}.`);
        return { name, accessKey, ...(agent.require_signing === 1 ? { signingSecret: this.signingSecret(hashKey, name, keyHash) } : {}) };
      },
      (keys) => ({ requireSigning: keys.signingSecret !== undefined }),
    );
  }

  async removeAgent(actor: Actor, name: string): Promise<void> {
    await this.audit.change(actor, { action: 'authn-agent.delete', targetType: 'authn-agent', target: name.slice(0, 128) }, async (tx) => {
      requirePermission(actor, 'authnAgents.manage');
      if (!(await tx.authnApi.removeAgent(name))) throw new TallyError('AUTHN_AGENT_NOT_FOUND', `No authentication agent named ${name}.`);
    });
  }

  /**
   * The agent a request comes from, by its `clientId` and `client-key`, and its signature where the
   * agent must sign: one refusal for an unknown name, a wrong key, and a missing, stale, wrong or
   * replayed signature.
   */
  async authenticateAgent(clientId: string, accessKey: string | undefined, source?: string, signed?: RequestSignature): Promise<Actor> {
    const offered = sha256Hex(accessKey ?? '');
    if (clientId === '') {
      // A verify or cancel without clientId: the access key names the agent (and the attempt must be its own).
      const agent = accessKey === undefined ? undefined : await this.repository.agentByKeyHash(offered);
      if (!agent) throw new TallyError('AUTHN_AGENT_DENIED');
      return this.signedBy(agent.name, agent, source, signed);
    }
    const stored = await this.repository.agentKey(clientId);
    // Compared even for an unknown name, so both refusals cost the same.
    const matches = constantTimeEqual(offered, stored?.key_hash ?? sha256Hex(randomToken(8)));
    if (!stored || !matches || accessKey === undefined) throw new TallyError('AUTHN_AGENT_DENIED');
    return this.signedBy(clientId, stored, source, signed);
  }

  /** The agent as the actor of its request, once its signature is checked where it must sign. */
  private async signedBy(
    name: string,
    agent: { key_hash: string; require_signing: number },
    source: string | undefined,
    signed: RequestSignature | undefined,
  ): Promise<Actor> {
    if (agent.require_signing === 1) await this.checkSigned(name, agent.key_hash, signed);
    return { kind: 'authn-agent', name, role: 'agent', source };
  }

  /** A signed request's signature: valid under the agent's secret within the clock skew, and not seen before on any node. */
  private async checkSigned(clientId: string, keyHash: string, signed: RequestSignature | undefined): Promise<void> {
    if (!signed) throw new TallyError('AUTHN_AGENT_DENIED');
    const now = this.clock.now();
    const { signature, ...request } = signed;
    const secret = this.signingSecret(await this.hasher.load(), clientId, keyHash);
    const check = checkSignature({ secret, request: { ...request, clientId }, signature, now });
    if (!check.valid || !(await this.repository.takeSignature(sha256Hex(signature ?? ''), check.expiresAt, now)))
      throw new TallyError('AUTHN_AGENT_DENIED');
  }

  /** Starts an attempt: checks the credential sent with it, or asks for a passcode. */
  async initialize(agent: Actor, request: AuthnRequest): Promise<AttemptReply> {
    const now = this.clock.now();
    const id = newId();
    const messageId = newId();
    const expiresAt = now + this.attemptSeconds * 1000;
    await this.repository.startAttempt({ id, agentName: agent.name, username: request.subjectName, messageId, expiresAt, now });
    const context = { authnAttemptId: id, messageId, inResponseTo: request.context.messageId };
    const attempt = {
      awaited_method: RSA_METHODS.passcode,
      challenge_state: null,
      prompt: null,
      username: request.subjectName,
      expires_at: expiresAt,
    };
    // An attempt whose first check failed is ended: the agent sends initialize again, which starts another.
    const outcome = await this.take(agent, id, messageId, attempt, request).catch((error: unknown) =>
      this.afterFailedTurn(() => this.repository.finishTurn(id, messageId, 'done'), error),
    );
    return { context, outcome };
  }

  /** Continues an attempt with the answer to its last challenge. */
  async verify(agent: Actor, request: AuthnRequest): Promise<AttemptReply> {
    const messageId = newId();
    const attempt = await this.claim(agent, request, messageId);
    const context = { authnAttemptId: attempt.id, messageId, inResponseTo: request.context.messageId };
    // A check that failed gives the claim back: the same request may be sent again.
    const outcome = await this.take(agent, attempt.id, messageId, attempt, request).catch((error: unknown) =>
      this.afterFailedTurn(() => this.repository.releaseTurn(attempt.id, messageId, request.context.inResponseTo), error),
    );
    return { context, outcome };
  }

  /** Ends an attempt: it cannot be continued afterwards. */
  async cancel(agent: Actor, request: AuthnRequest): Promise<AttemptReply> {
    const messageId = newId();
    const attempt = await this.claim(agent, request, messageId);
    await this.repository.finishTurn(attempt.id, messageId, 'done');
    return { context: { authnAttemptId: attempt.id, messageId, inResponseTo: request.context.messageId }, outcome: { kind: 'cancelled' } };
  }

  /**
   * A turn whose check threw leaves no attempt claimed: `undo` ends or releases it, and the
   * failure goes on to the agent. Should the store refuse that too (it failed a moment ago), the
   * attempt stays claimed until it expires, and the agent is told it cannot be continued.
   */
  private async afterFailedTurn(undo: () => Promise<void>, error: unknown): Promise<never> {
    await undo().catch(() => undefined);
    throw error;
  }

  private async claim(agent: Actor, request: AuthnRequest, messageId: string) {
    const attempt = await this.repository.claimAttempt({
      id: request.context.authnAttemptId,
      agentName: agent.name,
      inResponseTo: request.context.inResponseTo,
      messageId,
      now: this.clock.now(),
    });
    if (!attempt) throw new TallyError('AUTHN_ATTEMPT_NOT_CONTINUABLE');
    return attempt;
  }

  /**
   * One turn of a claimed attempt: without the awaited credential the same question is asked
   * again; with it, the authentication service decides, and the attempt waits for what a
   * challenge asks or is done.
   */
  private async take(
    agent: Actor,
    id: string,
    messageId: string,
    attempt: { awaited_method: string; challenge_state: string | null; prompt: string | null; username: string; expires_at: number },
    request: AuthnRequest,
  ): Promise<AttemptOutcome> {
    const awaited = attempt.awaited_method as RsaMethod;
    const credential = request.credential;
    if (!credential || credential.methodId !== awaited) {
      const challenge = { methodId: awaited, prompt: attempt.prompt ?? PASSCODE_PROMPT };
      await this.repository.finishTurn(id, messageId, {
        awaitedMethod: awaited,
        challengeState: attempt.challenge_state,
        prompt: attempt.prompt,
        expiresAt: attempt.expires_at,
      });
      return { kind: 'challenge', challenge };
    }
    // Read before the check: the challenge it may issue lives from a moment later, so the attempt never outlives it.
    const asked = this.clock.now();
    const result = await this.authentication.verify(agent, {
      username: attempt.username,
      passcode: credential.value,
      state: attempt.challenge_state ?? undefined,
      source: agent.source,
      channel: 'authn-api',
    });
    const outcome = outcomeOf(awaited, result);
    const challengeEnds = asked + this.authentication.settings.challengeSeconds * 1000;
    await this.repository.finishTurn(id, messageId, waitFor(outcome, result, Math.min(attempt.expires_at, challengeEnds)));
    return outcome;
  }
}

/** RSA's outcome for what the authentication service answered to a credential of `method`. */
function outcomeOf(method: RsaMethod, result: AuthResult): AttemptOutcome {
  if (result.result === 'accept') return { kind: 'success', checked: { methodId: method, succeeded: true } };
  if (result.result === 'reject') return { kind: 'fail', checked: { methodId: method, succeeded: false } };
  const next = METHOD_OF[result.prompt];
  // Asked the same again (a PIN the policy refused) or back to the new PIN (a confirmation that differed): that answer failed.
  const progressed = next !== method && !(method === RSA_METHODS.confirmPin && next === RSA_METHODS.newPin);
  const checked: CheckedCredential = { methodId: method, succeeded: progressed };
  const challenge = { methodId: next, prompt: result.message, ...(result.generatedPin ? { generatedPin: result.generatedPin } : {}) };
  return { kind: 'challenge', checked, challenge };
}

/** What the attempt waits for after a checked credential: the answer to Tally's challenge until `expiresAt`, or nothing. */
function waitFor(outcome: AttemptOutcome, result: AuthResult, expiresAt: number): AttemptWait | 'done' {
  if (outcome.kind !== 'challenge' || result.result !== 'challenge') return 'done';
  // A generated PIN is shown once and never stored: asked again, the prompt only refers to it.
  const prompt = result.generatedPin ? GENERATED_PIN_AGAIN : result.message;
  return { awaitedMethod: outcome.challenge.methodId, challengeState: result.state, prompt, expiresAt };
}
