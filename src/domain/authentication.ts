import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { constantTimeEqual, randomDigits } from '../core/crypto/random.js';
import { findConsecutiveCodes, type PasscodeSearch, type PinEntry, verifyPasscode } from '../core/otp/verify.js';
import { errorCatalogue, TallyError } from '../errors.js';
import type { ChallengeKind } from '../model/vocabulary.js';
import { AuthenticationRepository, type Holder, type StepUse } from '../store/repositories/authentication.js';
import type { TokenRow } from '../store/repositories/tokens.js';
import { TokenRepository } from '../store/repositories/tokens.js';
import type { UserRow } from '../store/repositories/users.js';
import type { Database } from '../store/schema.js';
import { tokenType } from '../tokens/registry.js';
import type { TokenTypeModule } from '../tokens/types.js';
import { type Actor, type HelpdeskCredentials, mayBeShown, requirePermission } from './actor.js';
import { type AuditService, credentialShown } from './audit.js';
import type { Clock } from './clock.js';
import type { Lockout } from './lockout.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';
import type { TokenService, TokenView } from './tokens.js';
import { USERNAME_PATTERN } from './users.js';

export type AuthResult =
  | { result: 'accept'; message?: string }
  /** `code` says why a right code was refused, where the token's own limits (a PSKC Policy) say so. */
  | { result: 'reject'; message: string; code?: LimitCode }
  /** `prompt` says what the answer is, for a form that labels its field. */
  | { result: 'challenge'; message: string; state: string; prompt: ChallengeKind };

/** What a right passcode tested on one token found (a wrong one is TOKENCODE_INVALID, which never says which part was wrong). */
export type CodeTest =
  | { result: 'accepted' }
  /** Right, but the next log-on will ask for the next tokencode too: the token has drifted, or had wrong codes. */
  | { result: 'next-code' }
  /** The tokencode is right, and the token waits for its first (or a new) PIN. */
  | { result: 'pin-needed' };

export interface VerifyRequest {
  username: string;
  passcode: string;
  /** The state of a challenge this answers. */
  state?: string;
  /** Where the request came from (the RADIUS client or API caller's address). */
  source?: string;
  channel: 'rest' | 'radius' | 'self-service';
}

export interface AuthenticationSettings {
  /** Steps either side of the expected one accepted at once (time-based tokens). */
  smallWindow: number;
  /** Steps either side accepted only through next tokencode mode. */
  largeWindow: number;
  /** HOTP counters ahead accepted at once. */
  hotpLookAhead: number;
  /** HOTP counters ahead accepted through next tokencode mode. */
  hotpLargeWindow: number;
  /** Consecutive wrong passcodes on a token after which the next success needs the next tokencode too. */
  failuresBeforeNextCode: number;
  pinMinLength: number;
  pinMaxLength: number;
  challengeSeconds: number;
}

export const DEFAULT_AUTHENTICATION: AuthenticationSettings = {
  smallWindow: 1,
  largeWindow: 10,
  hotpLookAhead: 3,
  hotpLargeWindow: 20,
  failuresBeforeNextCode: 3,
  pinMinLength: 4,
  pinMaxLength: 8,
  challengeSeconds: 120,
};

const DENIED = 'Access denied.';
/** Requests settled in one batch at most; more wait for the next. */
const MAX_BATCH = 256;
/** Requests waiting for a batch at most (about a second's work); more are refused. */
const MAX_WAITING = 10_000;
const MAX_USERNAME_LENGTH = 128;
const MAX_PASSCODE_LENGTH = 64;
const RESYNC_TIME_WINDOW = 120;
const RESYNC_COUNTER_WINDOW = 1000;
const EMERGENCY_CODE_DIGITS = 8;
/** Wrong passcodes a lost token's emergency access code survives; then it is void and the help desk issues another. */
export const EMERGENCY_ATTEMPTS = 5;
/** Answers a chain of new PIN challenges takes (a PIN refused, a confirmation that differs); then it ends. */
export const NEW_PIN_ATTEMPTS = 5;
/** Wrong pairs a holder may offer to resynchronise a token; then only an administrator can. */
export const RESYNC_ATTEMPTS = 5;
/** How long an emergency access code works unless the caller says otherwise. */
export const DEFAULT_EMERGENCY_DAYS = 7;
const DAY_MS = 86_400_000;
/**
 * Marks the states of challenges issued at a Self-Service Console log-on, where a password was
 * checked first: such a state finishes only a console log-on, and no other state does.
 */
const CONSOLE_STATE_PREFIX = 'console.';
const PASSCODE = /^\d{1,64}$/;

/** Why a token whose code was right may not be used now: the limits its key's PSKC Policy set. */
export type LimitCode = 'TOKEN_NOT_YET_VALID' | 'TOKEN_EXPIRED' | 'TOKEN_USES_EXHAUSTED';

/**
 * The limits of an imported key's Policy (RFC 6030, section 4.3.4): not before StartDate, not from
 * ExpiryDate on, not once its NumberOfTransactions are used up. The use count is also checked
 * where a step is taken (`AuthenticationRepository.useSteps`), so racing requests cannot overdraw it.
 */
export function limitReached(
  token: Pick<TokenRow, 'valid_from' | 'valid_until' | 'transactions_left'>,
  now: number,
): LimitCode | undefined {
  if (token.valid_from !== null && now < token.valid_from) return 'TOKEN_NOT_YET_VALID';
  if (token.valid_until !== null && now >= token.valid_until) return 'TOKEN_EXPIRED';
  if (token.transactions_left !== null && token.transactions_left <= 0) return 'TOKEN_USES_EXHAUSTED';
  return undefined;
}

/** What to answer, and what the batch's transaction records with it. */
interface Decision {
  reply: AuthResult;
  reason: string;
  serial?: string;
  /** The step to mark used (an accept stands only if this step is still free). */
  consume?: { token: TokenRow; step: number; changes: { drift_steps?: number; counter?: number } };
  /** A failure to count against the user (lockout) and these tokens (next tokencode mode). */
  failure?: { user: UserRow; tokens: TokenRow[] };
  /** A user whose failure count an accept resets. */
  resetFailures?: UserRow;
}

/** A request waiting for its batch. */
interface Pending {
  actor: Actor;
  request: VerifyRequest;
  resolve: (reply: AuthResult) => void;
  reject: (error: unknown) => void;
}

/** How a passcode matched one token. */
type Match =
  | { token: TokenRow; kind: 'accept'; step: number }
  | { token: TokenRow; kind: 'next-code'; step: number }
  | { token: TokenRow; kind: 'new-pin'; step: number }
  | { token: TokenRow; kind: 'emergency' }
  | { token: TokenRow; kind: 'replay' };

/** Marks `step` of `token` used at `at`, with the drift or counter the match implies (else the token's own). */
function stepUse(token: TokenRow, step: number, at: number, changes: { drift_steps?: number; counter?: number }): StepUse {
  return { row: token, step, at, driftSteps: changes.drift_steps ?? token.drift_steps, counter: changes.counter ?? token.counter };
}

/**
 * Authentication: checks passcodes for REST and RADIUS alike. PIN + tokencode, new PIN and next
 * tokencode challenges, a small window accepted at once and a larger one only through the next
 * tokencode, drift tracking, HOTP look-ahead, replay protection by a conditional update of the last
 * accepted step, lockout by user, and emergency access codes for lost tokens.
 */
export class AuthenticationService {
  private readonly repository: AuthenticationRepository;
  /** Requests waiting for the next batch. */
  private queue: Pending[] = [];
  /** The loop settling batches, while there is one. */
  private draining: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly tokens: TokenService,
    private readonly hasher: SecretHasher,
    private readonly lockout: Lockout,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    readonly settings: AuthenticationSettings = DEFAULT_AUTHENTICATION,
    /** Whether the help desk may be shown emergency access codes (`--helpdesk-credentials`). */
    private readonly helpdeskCredentials: HelpdeskCredentials = 'none',
  ) {
    this.repository = new AuthenticationRepository(db);
  }

  async verify(actor: Actor, request: VerifyRequest): Promise<AuthResult> {
    requirePermission(actor, 'auth.verify');
    return this.settle(actor, request);
  }

  /**
   * The passcode of a Self-Service Console log-on whose password was right, where the console asks
   * for both: checked as `verify` checks it (challenges, replay, lockout), on the console's own
   * channel. Null when the user has no active token, so there is no passcode to ask for. No actor:
   * the caller is the console's log-on (`SelfService.logOn`), once it has checked the password.
   */
  async verifyConsoleLogOn(request: { username: string; passcode: string; state?: string; source?: string }): Promise<AuthResult | null> {
    if (request.state === undefined) {
      const active = await this.db
        .selectFrom('tokens')
        .innerJoin('users', 'users.id', 'tokens.user_id')
        .select('tokens.id')
        .where('users.username', '=', request.username)
        .where('tokens.state', '=', 'active')
        .executeTakeFirst();
      if (!active) return null;
    }
    const user: Actor = { kind: 'user', name: request.username.slice(0, MAX_USERNAME_LENGTH), role: 'user', source: request.source };
    return this.settle(user, { ...request, channel: 'self-service' });
  }

  /**
   * Requests arriving in the same turn of the event loop are settled together: their users and
   * tokens read in two queries, their accepted steps and audit events written in one transaction.
   * Under load that is a few queries and one commit per batch, not per request; alone, a request
   * waits one turn.
   */
  private settle(actor: Actor, request: VerifyRequest): Promise<AuthResult> {
    // Refused at once rather than queued without end: a RADIUS client sends again, an API caller
    // gets 429, and the requests already waiting are answered in time.
    if (this.queue.length >= MAX_WAITING)
      return Promise.reject(new TallyError('RATE_LIMITED', 'Too many authentications are waiting; try again in a moment.'));
    return new Promise<AuthResult>((resolve, reject) => {
      this.queue.push({ actor, request, resolve, reject });
      this.draining ??= new Promise<void>((turn) => setImmediate(turn)).then(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.settleBatch(this.queue.splice(0, MAX_BATCH));
    this.draining = undefined;
  }

  private async settleBatch(batch: Pending[]): Promise<void> {
    // One request per user in a batch, so that racing requests for one token are settled in turn,
    // the later one seeing what the earlier one changed.
    const users = new Set<string>();
    const settling: Pending[] = [];
    for (const pending of batch) {
      if (users.has(pending.request.username)) this.queue.push(pending);
      else {
        users.add(pending.request.username);
        settling.push(pending);
      }
    }
    const decided: Array<{ pending: Pending; decision: Decision }> = [];
    try {
      const hashKey = await this.hasher.load();
      // A name no user can have is not looked up (PostgreSQL would refuse one with a NUL, and the batch with it).
      const holders = await this.repository.holders([...users].filter((name) => USERNAME_PATTERN.test(name)));
      for (const pending of settling) {
        try {
          decided.push({ pending, decision: await this.decide(pending.request, holders.get(pending.request.username), hashKey) });
        } catch (error) {
          pending.reject(error);
        }
      }
      const replies = await this.repository.write(async (trx) => {
        const at = this.clock.now();
        const uses = decided.flatMap(({ decision: { consume } }) =>
          consume ? [stepUse(consume.token, consume.step, at, consume.changes)] : [],
        );
        const taken = await this.repository.useSteps(uses, trx);
        const outcomes = decided.map(({ pending, decision }) => ({
          pending,
          outcome:
            decision.consume && !taken.has(decision.consume.token.id)
              ? { reply: { result: 'reject', message: DENIED } as AuthResult, reason: 'replayed code', serial: decision.serial }
              : decision,
        }));
        await this.recordFailureCounts(
          outcomes.map(({ outcome }) => outcome),
          trx,
        );
        await this.audit.recordManyIn(
          trx,
          outcomes.map(({ pending: { actor, request }, outcome }) => ({
            actor: { ...actor, source: request.source ?? actor.source },
            entry: {
              action: `auth.${request.channel}`,
              targetType: outcome.serial ? 'token' : 'user',
              target: outcome.serial ?? request.username.slice(0, MAX_USERNAME_LENGTH),
              result: outcome.reply.result === 'reject' ? 'failure' : 'success',
              details: { username: request.username.slice(0, MAX_USERNAME_LENGTH), reply: outcome.reply.result, reason: outcome.reason },
            },
          })),
        );
        return outcomes;
      });
      for (const { pending, outcome } of replies) pending.resolve(outcome.reply);
    } catch (error) {
      for (const pending of settling) pending.reject(error);
    }
  }

  /**
   * The batch's failures and resets, one statement each however many it holds. The rows (the
   * holder cache's, on SQLite) are updated to match, as the step updates are.
   */
  private async recordFailureCounts(outcomes: readonly Decision[], trx: Kysely<Database>): Promise<void> {
    const failures = outcomes.flatMap((outcome) => (outcome.failure ? [outcome.failure] : []));
    const counts = await this.lockout.recordFailures(
      failures.map(({ user }) => user.id),
      trx,
    );
    for (const { user } of failures) Object.assign(user, counts.get(user.id));
    await this.repository.countTokenFailures(
      failures.flatMap(({ tokens }) => tokens),
      trx,
    );
    // An accept that lost its step to a racing request became a new outcome, without the reset.
    const resets = outcomes.flatMap((outcome) => (outcome.resetFailures ? [outcome.resetFailures] : []));
    await this.lockout.recordSuccesses(
      resets.map((user) => user.id),
      trx,
    );
    for (const user of resets) Object.assign(user, { failed_logons: 0, locked_until: null });
  }

  private async decide(request: VerifyRequest, holder: Holder | undefined, hashKey: SecretHashKey): Promise<Decision> {
    const user = holder?.user;
    const passcode = request.passcode;
    const wellFormed = passcode.length > 0 && passcode.length <= MAX_PASSCODE_LENGTH && /^\d+$/.test(passcode);
    if (!user) {
      this.lockout.recordUnknownFailure(request.username);
      return { reply: { result: 'reject', message: DENIED }, reason: 'unknown user' };
    }
    if (user.disabled === 1) return { reply: { result: 'reject', message: DENIED }, reason: 'user disabled' };
    if (this.lockout.isLocked(user)) return { reply: { result: 'reject', message: DENIED }, reason: 'user locked' };
    if (!wellFormed) return this.failed(user, [], 'malformed passcode');
    if (request.state !== undefined) return this.answerChallenge(user, request.state, passcode, hashKey, request.channel);

    const tokens = holder.tokens;
    const active = tokens.filter((t) => t.state === 'active');
    const now = this.clock.now();
    for (const token of active) {
      const match = this.match(token, passcode, hashKey);
      if (match) return this.outsideLimits(match, now) ?? this.conclude(user, match, now, request.channel);
    }
    // A lost token's emergency code: every wrong passcode counts against it, whatever else the user holds.
    const lost = tokens.filter((t) => t.state === 'disabled' && t.emergency_hash !== null);
    for (const token of lost) {
      const match = this.matchEmergency(token, passcode, hashKey, now);
      if (match) return this.conclude(user, match, now, request.channel);
    }
    if (active.length === 0 && tokens.some((t) => t.state === 'pending')) {
      const pending = {
        reply: { result: 'reject', message: 'Your token is not activated yet: finish its activation first.' },
        reason: 'token pending',
      } as const;
      return lost.length > 0 ? { ...pending, failure: { user, tokens: lost } } : pending;
    }
    return this.failed(user, [...active, ...lost], active.length ? 'wrong passcode' : 'no active token');
  }

  /**
   * A right code on a token its limits keep from use now is refused with the reason (no failure is
   * counted: it was no guess). Only a right code learns it, so a guesser learns nothing of the token.
   */
  private outsideLimits(match: Match, now: number): Decision | undefined {
    if (match.kind === 'replay' || match.kind === 'emergency') return undefined;
    const code = limitReached(match.token, now);
    return code
      ? { reply: { result: 'reject', message: errorCatalogue[code].message, code }, reason: code, serial: match.token.serial }
      : undefined;
  }

  /** A reject whose failure the batch counts, in its own transaction, against the user and these tokens. */
  private failed(user: UserRow, tokens: TokenRow[], reason: string): Decision {
    return { reply: { result: 'reject', message: DENIED }, reason, failure: { user, tokens } };
  }

  /** A reject whose failure is counted at once: for the paths that write outside a batch anyway. */
  private async failure(user: UserRow, tokens: TokenRow[], reason: string): Promise<{ reply: AuthResult; reason: string }> {
    await this.lockout.recordFailure(user.id);
    await this.repository.countTokenFailures(tokens, this.db);
    return { reply: { result: 'reject', message: DENIED }, reason };
  }

  /** The step expected now and the windows around it, for a token. */
  private expectation(
    type: TokenTypeModule,
    token: TokenRow,
    now: number,
  ): Pick<PasscodeSearch, 'expected' | 'small' | 'large' | 'direction'> {
    const expected = type.stepAt({ periodSeconds: token.period_seconds, counter: token.counter }, now);
    if (type.movingFactor === 'counter')
      return { expected, small: this.settings.hotpLookAhead, large: this.settings.hotpLargeWindow, direction: 'ahead' };
    return {
      expected: expected + token.drift_steps,
      small: this.settings.smallWindow,
      large: this.settings.largeWindow,
      direction: 'both',
    };
  }

  /** How the token's PIN enters a passcode, checked against its hash; none while a new PIN is owed. */
  private pinEntry(token: TokenRow, hashKey: SecretHashKey): PinEntry {
    const pinHash = token.pin_hash;
    if (token.pin_mode !== 'required' || pinHash === null || token.new_pin_required === 1) return { kind: 'none' };
    const matches = (pin: string) => constantTimeEqual(this.pinHash(hashKey, token, pin), pinHash);
    return token.add_pin === 1
      ? { kind: 'added', minLength: this.settings.pinMinLength, maxLength: this.settings.pinMaxLength, matches }
      : { kind: 'prefix', matches };
  }

  private pinHash(hashKey: SecretHashKey, token: Pick<TokenRow, 'serial'>, pin: string): string {
    return hashKey.hash('pin', `${token.serial}:${pin}`);
  }

  private match(token: TokenRow, passcode: string, hashKey: SecretHashKey): Match | undefined {
    const type = tokenType(token.token_type);
    const material = this.tokens.material(token);
    const expectation = this.expectation(type, token, this.clock.now());
    const wantsNewPin = token.pin_mode === 'required' && (token.new_pin_required === 1 || token.pin_hash === null);
    const found = verifyPasscode({
      passcode,
      digits: token.digits,
      codeAt: (step) => type.codeAt(material, step),
      ...expectation,
      lastStep: token.last_step,
      pin: this.pinEntry(token, hashKey),
    });
    if (found.kind === 'none') return undefined;
    if (found.kind === 'replay') return { token, kind: 'replay' };
    if (wantsNewPin) return { token, kind: 'new-pin', step: found.step };
    if (!found.inSmallWindow || token.failed_count >= this.settings.failuresBeforeNextCode || token.next_code_required === 1)
      return { token, kind: 'next-code', step: found.step };
    return { token, kind: 'accept', step: found.step };
  }

  private matchEmergency(token: TokenRow, passcode: string, hashKey: SecretHashKey, now: number): Match | undefined {
    if (token.emergency_expires_at !== null && token.emergency_expires_at <= now) return undefined;
    // Eight digits take 10^8 guesses; after a few wrong ones the code is void (reportLost issues a fresh one).
    if (token.failed_count >= EMERGENCY_ATTEMPTS) return undefined;
    const { pin_hash: pinHash, emergency_hash: emergencyHash } = token;
    if (emergencyHash === null) return undefined;
    const needsPin = token.pin_mode === 'required' && pinHash !== null;
    const code = needsPin ? passcode.slice(-EMERGENCY_CODE_DIGITS) : passcode;
    if (code.length !== EMERGENCY_CODE_DIGITS || (!needsPin && passcode.length !== EMERGENCY_CODE_DIGITS)) return undefined;
    if (needsPin && !constantTimeEqual(this.pinHash(hashKey, token, passcode.slice(0, -EMERGENCY_CODE_DIGITS)), pinHash)) return undefined;
    return constantTimeEqual(hashKey.hash('emergency-code', `${token.serial}:${code}`), emergencyHash)
      ? { token, kind: 'emergency' }
      : undefined;
  }

  /** Marks a step used: the conditional update lets exactly one of several racing requests win. */
  private async consume(
    token: TokenRow,
    step: number,
    now: number,
    extra: { drift_steps?: number; counter?: number } = {},
  ): Promise<boolean> {
    return (await this.repository.useSteps([stepUse(token, step, now, extra)], this.db)).has(token.id);
  }

  private driftAfter(token: TokenRow, step: number, now: number): { drift_steps?: number; counter?: number } {
    const type = tokenType(token.token_type);
    if (type.movingFactor === 'counter') return { counter: step + 1 };
    return { drift_steps: step - type.stepAt({ periodSeconds: token.period_seconds, counter: token.counter }, now) };
  }

  private async conclude(user: UserRow, match: Match, now: number, channel: VerifyRequest['channel']): Promise<Decision> {
    const serial = match.token.serial;
    switch (match.kind) {
      case 'replay':
        return { ...this.failed(user, [], 'replayed code'), serial };
      case 'accept':
        return {
          reply: { result: 'accept' },
          reason: 'tokencode accepted',
          serial,
          consume: { token: match.token, step: match.step, changes: this.driftAfter(match.token, match.step, now) },
          ...(user.failed_logons > 0 ? { resetFailures: user } : {}),
        };
      case 'next-code': {
        if (!(await this.consume(match.token, match.step, now)))
          return { reply: { result: 'reject', message: DENIED }, reason: 'replayed code', serial };
        const state = await this.challenge(match.token, 'next-code', String(match.step), now, channel);
        // The answer is checked as a passcode would be, so a PIN typed before the code is asked for too.
        const withPin = match.token.pin_mode === 'required' && match.token.pin_hash !== null && match.token.add_pin !== 1;
        const message = `Wait for the code to change, then enter ${withPin ? 'your PIN and ' : ''}the next tokencode.`;
        return { reply: { result: 'challenge', message, state, prompt: 'next-code' }, reason: 'next tokencode mode', serial };
      }
      case 'new-pin': {
        if (!(await this.consume(match.token, match.step, now)))
          return { reply: { result: 'reject', message: DENIED }, reason: 'replayed code', serial };
        const state = await this.challenge(match.token, 'new-pin', null, now, channel);
        return {
          reply: {
            result: 'challenge',
            message: `Enter a new PIN of ${this.settings.pinMinLength} to ${this.settings.pinMaxLength} digits.`,
            state,
            prompt: 'new-pin',
          },
          reason: 'new PIN mode',
          serial,
        };
      }
      case 'emergency': {
        const used =
          match.token.emergency_one_time === 1
            ? await this.db
                .updateTable('tokens')
                .set({ emergency_hash: null, emergency_expires_at: null })
                .where('id', '=', match.token.id)
                .where('emergency_hash', '=', match.token.emergency_hash)
                .executeTakeFirst()
            : undefined;
        if (used && Number(used.numUpdatedRows) !== 1)
          return { reply: { result: 'reject', message: DENIED }, reason: 'emergency code used', serial };
        // A code that works for days forgives its holder's earlier typing errors.
        if (match.token.failed_count > 0) {
          await this.db.updateTable('tokens').set({ failed_count: 0 }).where('id', '=', match.token.id).execute();
          match.token.failed_count = 0;
        }
        if (user.failed_logons > 0) await this.lockout.recordSuccess(user.id);
        return { reply: { result: 'accept', message: 'Accepted with an emergency access code.' }, reason: 'emergency access code', serial };
      }
    }
  }

  /** Issues a challenge; `attempts` are the answers the chain it continues has had already. */
  private async challenge(
    token: TokenRow,
    kind: ChallengeKind,
    data: string | null,
    now: number,
    channel: VerifyRequest['channel'],
    attempts = 0,
  ): Promise<string> {
    const state = (channel === 'self-service' ? CONSOLE_STATE_PREFIX : '') + randomBytes(16).toString('hex');
    await this.db.deleteFrom('auth_challenges').where('expires_at', '<', now).execute();
    await this.db
      .insertInto('auth_challenges')
      .values({ state, token_id: token.id, kind, data, expires_at: now + this.settings.challengeSeconds * 1000, attempts })
      .execute();
    return state;
  }

  private async answerChallenge(
    user: UserRow,
    state: string,
    passcode: string,
    hashKey: SecretHashKey,
    channel: VerifyRequest['channel'],
  ): Promise<{ reply: AuthResult; reason: string; serial?: string }> {
    const now = this.clock.now();
    // Claiming the challenge deletes it, so each state is answered once.
    const challenge = await this.db
      .selectFrom('auth_challenges')
      .selectAll()
      .where('state', '=', state.slice(0, 64))
      .where('expires_at', '>', now)
      .executeTakeFirst();
    const token = challenge
      ? await this.db.selectFrom('tokens').selectAll().where('id', '=', challenge.token_id).executeTakeFirst()
      : undefined;
    // A state no challenge of this user has proves nothing about who sent it: on the public
    // Self-Service form anyone may send one, so it is refused without counting against the user's
    // passcode lockout (which would let a stranger lock the user out of RADIUS and REST).
    if (!challenge || token?.user_id !== user.id) {
      if (channel === 'self-service') return { reply: { result: 'reject', message: DENIED }, reason: 'unknown or expired challenge' };
      return this.failure(user, [], 'unknown or expired challenge');
    }
    // A token disabled (or reported lost) since the challenge was issued answers nothing more.
    if (token?.state !== 'active') return this.failure(user, [], 'unknown or expired challenge');
    if (challenge.state.startsWith(CONSOLE_STATE_PREFIX) !== (channel === 'self-service'))
      return this.failure(user, [], 'challenge of another channel');
    const deleted = await this.db.deleteFrom('auth_challenges').where('state', '=', challenge.state).executeTakeFirst();
    if (Number(deleted.numDeletedRows) !== 1) return this.failure(user, [], 'challenge answered twice');
    const serial = token.serial;
    const limit = limitReached(token, now);
    if (limit) return { reply: { result: 'reject', message: errorCatalogue[limit].message, code: limit }, reason: limit, serial };
    // Each answer of a new PIN chain counts; after a few the chain ends, and a new one takes a fresh tokencode.
    const attempts = challenge.attempts + 1;
    const chainEnds = attempts >= NEW_PIN_ATTEMPTS;
    switch (challenge.kind) {
      case 'new-pin': {
        const problem = this.pinProblem(token, passcode, hashKey);
        if (problem && chainEnds) return this.failure(user, [token], 'too many new PIN attempts').then((failed) => ({ ...failed, serial }));
        if (problem) {
          const again = await this.challenge(token, 'new-pin', null, now, channel, attempts);
          return {
            reply: {
              result: 'challenge',
              message: `${problem} Enter a new PIN of ${this.settings.pinMinLength} to ${this.settings.pinMaxLength} digits.`,
              state: again,
              prompt: 'new-pin',
            },
            reason: 'PIN refused by policy',
            serial,
          };
        }
        const next = await this.challenge(token, 'confirm-pin', this.pinHash(hashKey, token, passcode), now, channel, attempts);
        return {
          reply: { result: 'challenge', message: 'Enter the new PIN again.', state: next, prompt: 'confirm-pin' },
          reason: 'new PIN entered',
          serial,
        };
      }
      case 'confirm-pin': {
        if (!constantTimeEqual(this.pinHash(hashKey, token, passcode), challenge.data ?? '')) {
          if (chainEnds) return this.failure(user, [token], 'too many new PIN attempts').then((failed) => ({ ...failed, serial }));
          const again = await this.challenge(token, 'new-pin', null, now, channel, attempts);
          return {
            reply: { result: 'challenge', message: 'The PINs did not match. Enter a new PIN.', state: again, prompt: 'new-pin' },
            reason: 'PIN confirmation mismatch',
            serial,
          };
        }
        await this.db
          .updateTable('tokens')
          .set({ pin_hash: challenge.data, new_pin_required: 0, updated_at: now })
          .where('id', '=', token.id)
          .execute();
        if (user.failed_logons > 0) await this.lockout.recordSuccess(user.id);
        return { reply: { result: 'accept', message: 'New PIN accepted.' }, reason: 'new PIN set', serial };
      }
      case 'next-code': {
        const type = tokenType(token.token_type);
        const wanted = Number(challenge.data) + 1;
        const material = this.tokens.material(token);
        // The next step alone: its replay check is the conditional update below.
        const found = verifyPasscode({
          passcode,
          digits: token.digits,
          codeAt: (step) => type.codeAt(material, step),
          expected: wanted,
          small: 0,
          large: 0,
          direction: 'ahead',
          lastStep: null,
          pin: this.pinEntry(token, hashKey),
        });
        if (found.kind !== 'match') return this.failure(user, [token], 'wrong next tokencode');
        if (!(await this.consume(token, wanted, now, this.driftAfter(token, wanted, now))))
          return { reply: { result: 'reject', message: DENIED }, reason: 'replayed code', serial };
        if (user.failed_logons > 0) await this.lockout.recordSuccess(user.id);
        return { reply: { result: 'accept' }, reason: 'next tokencode', serial };
      }
    }
  }

  private pinProblem(token: TokenRow, pin: string, hashKey: SecretHashKey): string | undefined {
    const { pinMinLength: min, pinMaxLength: max } = this.settings;
    if (!new RegExp(`^\\d{${min},${max}}$`).test(pin)) return `A PIN is ${min} to ${max} digits.`;
    if (token.add_pin === 1 && pin.length > token.digits) return `This token takes a PIN of at most ${token.digits} digits.`;
    if (/^(\d)\1+$/.test(pin) || '0123456789'.includes(pin) || '9876543210'.includes(pin)) return 'That PIN is too easy to guess.';
    if (token.pin_hash !== null && constantTimeEqual(this.pinHash(hashKey, token, pin), token.pin_hash))
      return 'Choose a PIN you have not used.';
    return undefined;
  }

  // ---- Administration of a token's authentication state ----

  private async tokenFor(actor: Actor, serial: string): Promise<TokenRow> {
    const token = await new TokenRepository(this.db).findBySerial(serial);
    if (!token) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    if (actor.kind === 'user') {
      const owner =
        token.user_id === null
          ? undefined
          : await this.db.selectFrom('users').select('username').where('id', '=', token.user_id).executeTakeFirst();
      if (owner?.username !== actor.name) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    }
    await this.tokens.requireAuthorityOverHolder(actor, token);
    return token;
  }

  private async holderOf(token: TokenRow): Promise<UserRow> {
    if (token.user_id === null) throw new TallyError('TOKEN_STATE_INVALID', `Token ${token.serial} is not assigned.`);
    return this.db.selectFrom('users').selectAll().where('id', '=', token.user_id).executeTakeFirstOrThrow();
  }

  /**
   * The holder tries a passcode on one of their own tokens, checked as `verify` checks it but on
   * that token alone. A right code is used up as a log-on's is, so it cannot then be replayed at the
   * VPN; a wrong one counts toward the token's and the user's lockout, as at the VPN.
   */
  async testCode(actor: Actor, serial: string, passcode: string): Promise<CodeTest> {
    return this.audit.track(
      actor,
      { action: 'token.test', targetType: 'token', target: serial },
      async () => {
        requirePermission(actor, 'tokens.testOwn');
        const token = await this.tokenFor(actor, serial);
        if (token.state !== 'active')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; only an active token can be tested.`);
        const limit = limitReached(token, this.clock.now());
        if (limit) throw new TallyError(limit);
        const user = await this.holderOf(token);
        if (user.disabled === 1) throw new TallyError('FORBIDDEN', 'This account is disabled.');
        if (this.lockout.isLocked(user)) throw new TallyError('USER_LOCKED');
        const now = this.clock.now();
        const match = PASSCODE.test(passcode) ? this.match(token, passcode, await this.hasher.load()) : undefined;
        switch (match?.kind) {
          case 'accept':
            if (await this.consume(token, match.step, now, this.driftAfter(token, match.step, now))) {
              if (user.failed_logons > 0) await this.lockout.recordSuccess(user.id);
              return { result: 'accepted' as const };
            }
            break;
          case 'next-code': {
            // Only the step is used up: the next tokencode is still owed, so the mode stays as it is.
            const used = await this.db
              .updateTable('tokens')
              .set({ last_step: match.step })
              .where('id', '=', token.id)
              .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', match.step)]))
              .executeTakeFirst();
            if (Number(used.numUpdatedRows) === 1) return { result: 'next-code' as const };
            break;
          }
          case 'new-pin':
            if (await this.consume(token, match.step, now, this.driftAfter(token, match.step, now)))
              return { result: 'pin-needed' as const };
            break;
        }
        // Counted as `verify` counts: a replayed code (or one a racing request used first) against the user only.
        await this.failure(user, match ? [] : [token], match ? 'replayed code' : 'wrong passcode');
        throw wrongCode(token);
      },
      (test) => ({ result: test.result }),
    );
  }

  /** Puts the token in new PIN mode: the next authentication asks for a new PIN. Nobody sees the old one. */
  async resetPin(actor: Actor, serial: string): Promise<TokenView> {
    return this.audit.track(actor, { action: 'token.pin.reset', targetType: 'token', target: serial }, async () => {
      requirePermission(actor, 'tokens.manage');
      const token = await this.tokenFor(actor, serial);
      if (token.pin_mode !== 'required')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} has no PIN (its profile does not require one).`);
      await this.db.updateTable('tokens').set({ new_pin_required: 1, updated_at: this.clock.now() }).where('id', '=', token.id).execute();
      return this.tokens.view({ ...token, new_pin_required: 1 });
    });
  }

  /**
   * The holder sets their token's PIN. Replacing a PIN takes the current one, since a console
   * session may have been opened with a password alone, and a wrong one counts like a wrong
   * passcode; a token in new PIN mode, or without a PIN yet, takes the new PIN directly.
   */
  async setPin(actor: Actor, serial: string, pin: string, currentPin?: string): Promise<void> {
    await this.audit.track(actor, { action: 'token.pin.set', targetType: 'token', target: serial }, async () => {
      requirePermission(actor, 'tokens.setOwnPin');
      const token = await this.tokenFor(actor, serial);
      if (token.pin_mode !== 'required')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} has no PIN (its profile does not require one).`);
      if (token.state !== 'active' && token.state !== 'pending')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; its PIN cannot be set.`);
      const hashKey = await this.hasher.load();
      if (token.pin_hash !== null && token.new_pin_required === 0) {
        const user = await this.holderOf(token);
        if (this.lockout.isLocked(user)) throw new TallyError('USER_LOCKED');
        if (currentPin === undefined) throw new TallyError('WRONG_PIN', 'Type your current PIN to change it.');
        if (!constantTimeEqual(this.pinHash(hashKey, token, currentPin), token.pin_hash)) {
          await this.failure(user, [token], 'wrong PIN');
          throw new TallyError('WRONG_PIN');
        }
      }
      const problem = this.pinProblem(token, pin, hashKey);
      if (problem) throw new TallyError('VALIDATION_FAILED', problem);
      // Only over the PIN that was checked: of two changes racing, one wins.
      const changed = await this.db
        .updateTable('tokens')
        .set({ pin_hash: this.pinHash(hashKey, token, pin), new_pin_required: 0, updated_at: this.clock.now() })
        .where('id', '=', token.id)
        .where('pin_hash', token.pin_hash === null ? 'is' : '=', token.pin_hash)
        .executeTakeFirst();
      if (Number(changed.numUpdatedRows) !== 1)
        throw new TallyError('TOKEN_STATE_INVALID', `The PIN of token ${serial} was changed just now; try again.`);
    });
  }

  /**
   * Resynchronises a drifted token from two consecutive codes: searched over a wide window, and
   * only a consecutive pair counts, so one lucky guess cannot move the token.
   */
  async resync(actor: Actor, serial: string, first: string, second: string): Promise<TokenView> {
    return this.audit.track(actor, { action: 'token.resync', targetType: 'token', target: serial }, async () => {
      requirePermission(actor, actor.kind === 'user' ? 'tokens.resyncOwn' : 'tokens.manage');
      const token = await this.tokenFor(actor, serial);
      if (token.state !== 'active')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; only active tokens can be resynchronised.`);
      const limit = limitReached(token, this.clock.now());
      if (limit) throw new TallyError(limit);
      const holder = actor.kind === 'user' ? await this.holderOf(token) : undefined;
      if (holder && this.lockout.isLocked(holder)) throw new TallyError('USER_LOCKED');
      // The wide search makes each try worth a thousand steps: a holder gets a few, then the help desk decides.
      if (holder && token.resync_failures >= RESYNC_ATTEMPTS) {
        throw new TallyError('TOKEN_LOCKED', 'Too many wrong codes were offered to resynchronise this token; ask your help desk to do it.');
      }
      const type = tokenType(token.token_type);
      const material = this.tokens.material(token);
      const now = this.clock.now();
      const nowStep = type.stepAt({ periodSeconds: token.period_seconds, counter: token.counter }, now);
      const [from, to] =
        type.movingFactor === 'time'
          ? [nowStep - RESYNC_TIME_WINDOW, nowStep + RESYNC_TIME_WINDOW]
          : [nowStep, nowStep + RESYNC_COUNTER_WINDOW];
      const found = findConsecutiveCodes({ codeAt: (step) => type.codeAt(material, step), first, second, from, to });
      if (found === undefined || (token.last_step !== null && found <= token.last_step)) {
        // The holder's form would otherwise be a code oracle that no lockout watches; the token
        // counts every wrong pair, whoever offered it.
        await this.db
          .updateTable('tokens')
          .set((eb) => ({ resync_failures: eb('resync_failures', '+', 1) }))
          .where('id', '=', token.id)
          .execute();
        if (holder) await this.lockout.recordFailure(holder.id);
        throw new TallyError(
          'TOKENCODE_INVALID',
          'Those two codes are not consecutive codes of this token; enter two codes in a row as the token shows them.',
        );
      }
      const changes = this.driftAfter(token, found, now);
      if (!(await this.consume(token, found, now, changes))) throw new TallyError('TOKENCODE_INVALID', 'Those codes were used already.');
      if (token.resync_failures > 0) await this.db.updateTable('tokens').set({ resync_failures: 0 }).where('id', '=', token.id).execute();
      return this.tokens.view({ ...token, ...changes, last_step: found });
    });
  }

  /**
   * Marks a token lost: it stops authenticating at once; per request, an emergency access code
   * (8 digits, shown once) stands in for the tokencode, once or for some days.
   */
  async reportLost(
    actor: Actor,
    serial: string,
    options: { emergency: 'none' | 'one-time' | 'fixed'; days?: number },
  ): Promise<{ token: TokenView; emergencyCode?: string; expiresAt?: string }> {
    return this.audit.track(
      actor,
      { action: 'token.lost', targetType: 'token', target: serial, details: { emergency: options.emergency } },
      async () => {
        requirePermission(actor, actor.kind === 'user' ? 'tokens.reportOwnLost' : 'tokens.manage');
        const token = await this.tokenFor(actor, serial);
        if (token.state !== 'active' && token.state !== 'disabled')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}.`);
        // A holder reports a token lost once; a fresh emergency code for a disabled one is the helpdesk's to give.
        if (actor.kind === 'user' && token.state !== 'active')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state} already.`);
        const days = options.days ?? DEFAULT_EMERGENCY_DAYS;
        if (!Number.isInteger(days) || days < 1 || days > 30) throw new TallyError('VALIDATION_FAILED', 'days must be 1 to 30.');
        // A code no one may be shown would be of no use: refused before anything changes.
        if (options.emergency !== 'none' && actor.kind !== 'user' && !mayBeShown(actor, 'emergency-code', this.helpdeskCredentials)) {
          throw new TallyError(
            'FORBIDDEN',
            `The ${actor.role} role is shown no emergency access codes (--helpdesk-credentials ${this.helpdeskCredentials}): report the token lost without one (emergency: none), or ask a super admin.`,
          );
        }
        const now = this.clock.now();
        const code = options.emergency === 'none' ? undefined : randomDigits(EMERGENCY_CODE_DIGITS);
        const hashKey = await this.hasher.load();
        const expiresAt = now + days * DAY_MS;
        const holder =
          token.user_id === null
            ? undefined
            : await this.db.selectFrom('users').select('username').where('id', '=', token.user_id).executeTakeFirst();
        await this.db.transaction().execute(async (trx) => {
          const reported = await trx
            .updateTable('tokens')
            .set({
              state: 'disabled',
              disabled_reason: 'lost',
              emergency_hash: code ? hashKey.hash('emergency-code', `${token.serial}:${code}`) : null,
              emergency_expires_at: code ? expiresAt : null,
              emergency_one_time: code ? (options.emergency === 'one-time' ? 1 : 0) : null,
              // A fresh emergency code gets its own few tries (EMERGENCY_ATTEMPTS).
              failed_count: 0,
              updated_at: now,
            })
            .where('id', '=', token.id)
            .where('state', '=', token.state)
            .executeTakeFirst();
          if (Number(reported.numUpdatedRows) !== 1)
            throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was changed just now; look again.`);
          // Shown to an administrator: recorded with the change (a holder's own code is not).
          if (code && actor.kind !== 'user')
            await this.audit.recordIn(trx, actor, credentialShown(serial, holder?.username ?? '', ['emergency-code']));
        });
        const view = await this.tokens.view({ ...token, state: 'disabled', disabled_reason: 'lost' });
        return code ? { token: view, emergencyCode: code, expiresAt: new Date(expiresAt).toISOString() } : { token: view };
      },
    );
  }

  async setEnabled(actor: Actor, serial: string, enabled: boolean): Promise<TokenView> {
    return this.audit.track(
      actor,
      { action: enabled ? 'token.enable' : 'token.disable', targetType: 'token', target: serial },
      async () => {
        requirePermission(actor, 'tokens.manage');
        const token = await this.tokenFor(actor, serial);
        const from = enabled ? 'disabled' : 'active';
        const changes = enabled
          ? {
              state: 'active' as const,
              disabled_reason: null,
              emergency_hash: null,
              emergency_expires_at: null,
              emergency_one_time: null,
              failed_count: 0,
            }
          : { state: 'disabled' as const, disabled_reason: 'disabled by an administrator' };
        const updated = await new TokenRepository(this.db).update(serial, { ...changes, updated_at: this.clock.now() }, { state: from });
        if (!updated) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}, not ${from}.`);
        return this.tokens.view({ ...token, ...changes });
      },
    );
  }

  /** Clears a token's wrong-passcode count and next tokencode mode. */
  async unlockToken(actor: Actor, serial: string): Promise<TokenView> {
    return this.audit.track(actor, { action: 'token.unlock', targetType: 'token', target: serial }, async () => {
      requirePermission(actor, 'tokens.manage');
      const token = await this.tokenFor(actor, serial);
      await this.db
        .updateTable('tokens')
        .set({ failed_count: 0, next_code_required: 0, resync_failures: 0 })
        .where('id', '=', token.id)
        .execute();
      return this.tokens.view({ ...token, failed_count: 0 });
    });
  }
}

/** The same answer whichever part of the passcode was wrong. */
function wrongCode(token: TokenRow): TallyError {
  const withPin = token.pin_mode === 'required' && token.pin_hash !== null && token.new_pin_required === 0;
  if (!withPin) return new TallyError('TOKENCODE_INVALID', 'That code was not accepted. Type the code your token shows now.');
  if (token.add_pin === 1)
    return new TallyError(
      'TOKENCODE_INVALID',
      'That passcode was not accepted. Type the passcode your token app shows once you have entered your PIN in it.',
    );
  return new TallyError('TOKENCODE_INVALID', 'That passcode was not accepted. Type your PIN and then the code your token shows now.');
}
