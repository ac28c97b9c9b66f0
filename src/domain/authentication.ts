import { randomBytes, randomInt } from 'node:crypto';
import { constantTimeEqual } from '../core/crypto/random.js';
import { type PasscodeSearch, type PinEntry, verifyPasscode } from '../core/otp/verify.js';
import { errorCatalogue, invalidField, TallyError } from '../errors.js';
import type { ChallengeKind } from '../model/vocabulary.js';
import type { AuthenticationRepository, Holder, StepUse } from '../store/repositories/authentication.js';
import type { ChallengeRepository, NewChallenge } from '../store/repositories/challenges.js';
import type { TokenRow } from '../store/repositories/tokens.js';
import type { UserRow } from '../store/repositories/users.js';
import type { Connection, Repositories } from '../store/unit-of-work.js';
import { tokenType } from '../tokens/registry.js';
import type { TokenTypeModule } from '../tokens/types.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditRecord, AuditService } from './audit.js';
import type { Clock } from './clock.js';
import type { DirectoryRefusal, DirectoryService } from './directory.js';
import type { Lockout } from './lockout.js';
import { type AuthenticationOutcome, type Observer, unobserved } from './observer.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';
import type { TokenService } from './tokens.js';
import { USERNAME_PATTERN } from './users.js';

export type AuthResult =
  | { result: 'accept'; message?: string }
  /** `code` says why a right code was refused, where the token's own limits (a PSKC Policy) say so. */
  | { result: 'reject'; message: string; code?: LimitCode }
  /**
   * `prompt` says what the answer is, for a form that labels its field; `generatedPin` is the PIN
   * Tally generated for the holder (also in `message`), for a protocol that shows it in a field.
   */
  | { result: 'challenge'; message: string; state: string; prompt: ChallengeKind; generatedPin?: string };

export interface VerifyRequest {
  username: string;
  passcode: string;
  /** The state of a challenge this answers. */
  state?: string;
  /** Where the request came from (the RADIUS client or API caller's address). */
  source?: string;
  channel: 'rest' | 'radius' | 'self-service' | 'authn-api';
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
  challengeSeconds: number;
}

export const DEFAULT_AUTHENTICATION: AuthenticationSettings = {
  smallWindow: 1,
  largeWindow: 10,
  hotpLookAhead: 3,
  hotpLargeWindow: 20,
  failuresBeforeNextCode: 3,
  challengeSeconds: 120,
};

const DENIED = 'Access denied.';
/** Requests settled in one batch at most; more wait for the next. */
const MAX_BATCH = 256;
/** Requests waiting for a batch at most (about a second's work); more are refused. */
const MAX_WAITING = 10_000;
const MAX_USERNAME_LENGTH = 128;
const MAX_PASSCODE_LENGTH = 64;
/** Digits, or letters and digits where a profile's PIN policy allows letters in the PIN typed in front. */
export const WELL_FORMED_PASSCODE = /^[0-9A-Za-z]+$/;
/** The digits of an emergency access code. */
export const EMERGENCY_CODE_DIGITS = 8;
/** Wrong passcodes a lost token's emergency access code survives; then it is void and the help desk issues another. */
export const EMERGENCY_ATTEMPTS = 5;
/** Answers a chain of new PIN challenges takes (a PIN refused, a confirmation that differs); then it ends. */
export const NEW_PIN_ATTEMPTS = 5;
/**
 * Marks the states of challenges issued at a Self-Service Console log-on, where a password was
 * checked first: such a state finishes only a console log-on, and no other state does.
 */
const CONSOLE_STATE_PREFIX = 'console.';

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
  consume?: { token: TokenRow; step: number; changes: StepChanges };
  /** A failure to count against the user (lockout) and these tokens (next tokencode mode). */
  failure?: { user: UserRow; tokens: TokenRow[] };
  /** A user whose failure count an accept resets. */
  resetFailures?: UserRow;
  /** A challenge issued with the step `consume` takes (next tokencode, new PIN): stored only if the step is. */
  challenge?: NewChallenge;
  /** A lost token whose emergency access code was right: used (a one-time one only if still unused). */
  emergency?: TokenRow;
  /** A new PIN confirmed: set on the token, ending its new PIN mode. */
  newPin?: { token: TokenRow; pinHash: string };
}

/** The steps a batch's decisions use, marked used at `at`. */
function stepUses(decided: ReadonlyArray<{ decision: Decision }>, at: number): StepUse[] {
  return decided.flatMap(({ decision: { consume } }) => (consume ? [stepUse(consume.token, consume.step, at, consume.changes)] : []));
}

/** A request's audit event: what it was answered, and why. */
function auditRecord({ actor, request }: Pending, outcome: Decision): AuditRecord {
  const username = request.username.slice(0, MAX_USERNAME_LENGTH);
  return {
    actor: { ...actor, source: request.source ?? actor.source },
    entry: {
      action: `auth.${request.channel}`,
      targetType: outcome.serial ? 'token' : 'user',
      target: outcome.serial ?? username,
      result: outcome.reply.result === 'reject' ? 'failure' : 'success',
      details: { username, reply: outcome.reply.result, reason: outcome.reason },
    },
  };
}

/** Whether a decision writes nothing but the step it uses (if any) and its audit event. */
function usesStepsOnly(decision: Decision): boolean {
  return !decision.failure && !decision.resetFailures && !decision.challenge && !decision.emergency && !decision.newPin;
}

/** What an accept becomes when a racing request (here or on another node) took its step first. */
function stepLost(serial: string | undefined): Decision {
  return { reply: { result: 'reject', message: DENIED }, reason: 'replayed code', serial };
}

/** A request waiting for its batch. */
interface Pending {
  actor: Actor;
  request: VerifyRequest;
  resolve: (reply: AuthResult) => void;
  reject: (error: unknown) => void;
}

/** A token's PIN policy in words, for prompts and refusals: "4 to 8 digits". */
export function pinPolicyText(token: Pick<TokenRow, 'pin_min_length' | 'pin_max_length' | 'pin_charset'>): string {
  const length =
    token.pin_min_length === token.pin_max_length ? `${token.pin_min_length}` : `${token.pin_min_length} to ${token.pin_max_length}`;
  return `${length} ${token.pin_charset === 'alphanumeric' ? 'letters or digits' : 'digits'}`;
}

/** The new PIN challenge's prompt, stating the token's policy (the reuse rule once there is an earlier PIN). */
function newPinPrompt(token: TokenRow): string {
  const reuse = token.pin_reuse === 0 && token.pin_hash !== null ? ' It may not be one of your last two.' : '';
  return `Enter a new PIN of ${pinPolicyText(token)}.${reuse}`;
}

/** The challenge that shows a PIN Tally generated: the holder enters it back, which sets it. */
function generatedPinPrompt(pin: string): string {
  return `Your new PIN is ${pin}. Remember it, then enter it to continue:`;
}

const PIN_DIGITS = '0123456789';
const PIN_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** What RSA's agents ask in next tokencode mode: the next tokencode alone, whatever the PIN mode. */
export const NEXT_TOKENCODE_PROMPT = 'Wait for the tokencode to change, then enter the new tokencode:';

/** How a passcode matched one token. */
export type Match =
  | { token: TokenRow; kind: 'accept'; step: number }
  | { token: TokenRow; kind: 'next-code'; step: number }
  | { token: TokenRow; kind: 'new-pin'; step: number }
  | { token: TokenRow; kind: 'emergency' }
  | { token: TokenRow; kind: 'replay' };

/** The drift or counter an accepted step implies. */
export type StepChanges = { drift_steps?: number; counter?: number };

/** Marks `step` of `token` used at `at`, with the drift or counter the match implies (else the token's own). */
function stepUse(token: TokenRow, step: number, at: number, changes: StepChanges): StepUse {
  return { row: token, step, at, driftSteps: changes.drift_steps ?? token.drift_steps, counter: changes.counter ?? token.counter };
}

/**
 * The rules of a passcode on one token, shared by authentication and token administration (a
 * holder testing a code, setting a PIN, resynchronising): how it matches (the verifier in
 * `core/otp/verify.ts` over the token's expected step and windows), how a PIN enters it, which
 * PINs are refused, and how a step is used up or a failure counted outside a batch.
 */
export class PasscodeRules {
  constructor(
    private readonly tokens: TokenService,
    private readonly lockout: Lockout,
    private readonly clock: Clock,
    readonly settings: AuthenticationSettings,
  ) {}

  /** How a passcode matches a token: accepted at once, through the next tokencode, as a new PIN's tokencode, or a replay. */
  match(token: TokenRow, passcode: string, hashKey: SecretHashKey): Match | undefined {
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

  /** A lost token's emergency access code (with the PIN before it, where the token has one). */
  matchEmergency(token: TokenRow, passcode: string, hashKey: SecretHashKey, now: number): Match | undefined {
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

  /**
   * The one step after `previous` alone (a next tokencode challenge's answer): its replay check is
   * the step's use. As at RSA, the answer is the next tokencode alone, without the PIN typed in
   * front; a PINPad app always mixes the PIN into the code it shows, so there the PIN is in it.
   */
  matchesNextStep(token: TokenRow, passcode: string, wanted: number, hashKey: SecretHashKey): boolean {
    const type = tokenType(token.token_type);
    const material = this.tokens.material(token);
    const found = verifyPasscode({
      passcode,
      digits: token.digits,
      codeAt: (step) => type.codeAt(material, step),
      expected: wanted,
      small: 0,
      large: 0,
      direction: 'ahead',
      lastStep: null,
      pin: token.add_pin === 1 ? this.pinEntry(token, hashKey) : { kind: 'none' },
    });
    return found.kind === 'match';
  }

  /** The step expected now and the windows around it, for a token. */
  private expectation(
    type: TokenTypeModule,
    token: TokenRow,
    now: number,
  ): Pick<PasscodeSearch, 'expected' | 'small' | 'large' | 'direction'> {
    const expected = type.stepAt({ period: token.period, counter: token.counter }, now);
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
      ? { kind: 'added', minLength: token.pin_min_length, maxLength: token.pin_max_length, matches }
      : { kind: 'prefix', matches };
  }

  pinHash(hashKey: SecretHashKey, token: Pick<TokenRow, 'serial'>, pin: string): string {
    return hashKey.hash('pin', `${token.serial}:${pin}`);
  }

  /**
   * Why a PIN is refused for this token, if it is: the policy the token was made with (its
   * profile's), a PIN too easy to guess, or (unless the policy allows reuse) the PIN it replaces or
   * the one before that.
   */
  pinProblem(token: TokenRow, pin: string, hashKey: SecretHashKey): TallyError | undefined {
    const { pin_min_length: min, pin_max_length: max } = token;
    const alphabet = token.pin_charset === 'alphanumeric' ? '[0-9A-Za-z]' : '\\d';
    if (!new RegExp(`^${alphabet}{${min},${max}}$`).test(pin)) return invalidField('pin', 'pinPolicy', { policy: pinPolicyText(token) });
    if (token.add_pin === 1 && pin.length > token.digits) return invalidField('pin', 'pinLongerThanCode', { digits: token.digits });
    if (/^(.)\1+$/.test(pin) || '0123456789'.includes(pin) || '9876543210'.includes(pin)) return invalidField('pin', 'pinTooEasy');
    if (token.pin_reuse === 0) {
      const hash = this.pinHash(hashKey, token, pin);
      const used = [token.pin_hash, token.previous_pin_hash].some((earlier) => earlier !== null && constantTimeEqual(hash, earlier));
      if (used) return invalidField('pin', 'pinUsedBefore');
    }
    return undefined;
  }

  /**
   * A PIN for a token whose policy has Tally generate it: the policy's longest (no longer than the
   * tokencode where the app adds it in), of the policy's alphabet, and one `pinProblem` accepts.
   */
  generatePin(token: TokenRow, hashKey: SecretHashKey): string {
    const alphabet = token.pin_charset === 'alphanumeric' ? PIN_DIGITS + PIN_LETTERS : PIN_DIGITS;
    const length = token.add_pin === 1 ? Math.min(token.pin_max_length, token.digits) : token.pin_max_length;
    for (;;) {
      const pin = Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
      if (!this.pinProblem(token, pin, hashKey)) return pin;
    }
  }

  /** The drift (time) or counter (HOTP) that accepting `step` now implies. */
  driftAfter(token: TokenRow, step: number, now: number): StepChanges {
    const type = tokenType(token.token_type);
    if (type.movingFactor === 'counter') return { counter: step + 1 };
    return { drift_steps: step - type.stepAt({ period: token.period, counter: token.counter }, now) };
  }

  /**
   * Marks a step used outside a batch, in a change's transaction: the conditional update lets
   * exactly one of several racing requests win.
   */
  async consume(tx: Repositories, token: TokenRow, step: number, now: number, changes: StepChanges = {}): Promise<boolean> {
    return (await tx.authentication.useSteps([stepUse(token, step, now, changes)])).has(token.id);
  }

  /** Counts a failure against the user (lockout) and these tokens, in a change's transaction outside a batch. */
  async countFailure(tx: Repositories, user: UserRow, tokens: TokenRow[]): Promise<void> {
    await this.lockout.recordFailure(user.id, tx.connection);
    await tx.authentication.countTokenFailures(tokens);
  }
}

/**
 * Authentication: checks passcodes for REST, RADIUS and the Self-Service Console's log-on alike.
 * PIN + tokencode, new PIN and next tokencode challenges, a small window accepted at once and a
 * larger one only through the next tokencode, drift tracking, HOTP look-ahead, replay protection
 * by a conditional update of the last accepted step, lockout by user, and emergency access codes
 * for lost tokens. What is not checking a passcode (PINs, resync, lost tokens...) is
 * `TokenAdministrationService`'s.
 *
 * A request goes through these steps, each a method below:
 *   1. queue      `settle`: waits for its batch (one request per user in a batch)
 *   2. find user  `settleBatch`: the batch's users and tokens read at once (`holders`), and
 *                 what the directory says now of its directory users (`directoryRefusals`)
 *   3. rules      `refusedByRules`: unknown, disabled, locked user; a user the directory
 *                 disables or no longer has; malformed passcode
 *   4. match      `matchTokens`: the active tokens, then a lost token's emergency code
 *                 (a challenge's answer instead: `answerChallenge`)
 *   5. decide     `conclude`: accept, next tokencode, new PIN, emergency access, or reject
 *   6. persist    `persist`: one transaction for the batch: steps used, challenges issued,
 *                 emergency codes used, PINs set, failures counted and cleared, every
 *                 request's audit event
 * Only taking a challenge that is answered is written as it is decided (step 4, a delete that one
 * answer wins); everything else a request leads to is persisted with its batch.
 */
export class AuthenticationService {
  /** Requests waiting for the next batch. */
  private queue: Pending[] = [];
  /** The loop settling batches, while there is one. */
  private draining: Promise<void> | undefined;

  constructor(
    private readonly repository: AuthenticationRepository,
    private readonly challenges: ChallengeRepository,
    private readonly rules: PasscodeRules,
    private readonly hasher: SecretHasher,
    private readonly lockout: Lockout,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly observer: Observer = unobserved,
    /** Asked about directory users (cached briefly); without it their local records decide. */
    private readonly directory?: Pick<DirectoryService, 'refusalOf'>,
  ) {}

  get settings(): AuthenticationSettings {
    return this.rules.settings;
  }

  /** Requests waiting for a batch now (a gauge for monitoring). */
  get waiting(): number {
    return this.queue.length;
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
  async verifyConsoleLogOn(request: {
    username: string;
    passcode: string;
    state?: string;
    source?: string;
    requestId?: string;
  }): Promise<AuthResult | null> {
    if (request.state === undefined && !(await this.repository.hasActiveToken(request.username))) return null;
    const { requestId, ...verify } = request;
    const user: Actor = {
      kind: 'user',
      name: request.username.slice(0, MAX_USERNAME_LENGTH),
      role: 'user',
      source: request.source,
      requestId,
    };
    return this.settle(user, { ...verify, channel: 'self-service' });
  }

  /**
   * Step 1. Requests arriving in the same turn of the event loop are settled together: their users
   * and tokens read in two queries, their accepted steps and audit events written in one
   * transaction. Under load that is a few queries and one commit per batch, not per request;
   * alone, a request waits one turn.
   */
  private settle(actor: Actor, request: VerifyRequest): Promise<AuthResult> {
    const arrived = performance.now();
    const observe = (outcome: AuthenticationOutcome) =>
      this.observer.authentication(request.channel, outcome, (performance.now() - arrived) / 1000);
    // Refused at once rather than queued without end: a RADIUS client sends again, an API caller
    // gets 429, and the requests already waiting are answered in time.
    if (this.queue.length >= MAX_WAITING) {
      observe('error');
      return Promise.reject(new TallyError('RATE_LIMITED', 'Too many authentications are waiting; try again in a moment.'));
    }
    return new Promise<AuthResult>((resolve, reject) => {
      this.queue.push({
        actor,
        request,
        resolve: (reply) => {
          observe(reply.result);
          resolve(reply);
        },
        reject: (error) => {
          observe('error');
          reject(error);
        },
      });
      this.draining ??= new Promise<void>((turn) => setImmediate(turn)).then(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) await this.settleBatch(this.queue.splice(0, MAX_BATCH));
    this.draining = undefined;
  }

  /** Steps 2 to 6 for one batch. */
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
    this.observer.authenticationBatch(settling.length);
    const decided: Array<{ pending: Pending; decision: Decision }> = [];
    try {
      const hashKey = await this.hasher.load();
      // A name no user can have is not looked up (PostgreSQL would refuse one with a NUL, and the batch with it).
      const holders = await this.repository.holders([...users].filter((name) => USERNAME_PATTERN.test(name)));
      const refusals = await this.directoryRefusals(holders.values());
      for (const pending of settling) {
        try {
          const holder = holders.get(pending.request.username);
          const refusal = holder && refusals.get(holder.user.id);
          decided.push({ pending, decision: await this.decide(pending.request, holder, hashKey, refusal) });
        } catch (error) {
          pending.reject(error);
        }
      }
      const replies = await this.persist(decided);
      for (const { pending, outcome } of replies) pending.resolve(outcome.reply);
    } catch (error) {
      for (const pending of settling) pending.reject(error);
    }
  }

  /** Step 2, for the batch's directory users: why the directory refuses each now, asked at once. */
  private async directoryRefusals(holders: Iterable<Holder>): Promise<Map<number, DirectoryRefusal>> {
    const refusals = new Map<number, DirectoryRefusal>();
    const directory = this.directory;
    if (!directory) return refusals;
    const asked = [...holders].filter(({ user }) => user.source_id !== null && user.disabled !== 1);
    await Promise.all(
      asked.map(async ({ user }) => {
        const refusal = await directory.refusalOf(user);
        if (refusal) refusals.set(user.id, refusal);
      }),
    );
    return refusals;
  }

  /** Steps 3 to 5 for one request. */
  private async decide(
    request: VerifyRequest,
    holder: Holder | undefined,
    hashKey: SecretHashKey,
    directoryRefusal?: DirectoryRefusal,
  ): Promise<Decision> {
    if (!holder) {
      this.lockout.recordUnknownFailure(request.username);
      return { reply: { result: 'reject', message: DENIED }, reason: 'unknown user' };
    }
    const { user, tokens } = holder;
    const refused = this.refusedByRules(user, request.passcode, directoryRefusal);
    if (refused) return refused;
    if (request.state !== undefined) return this.answerChallenge(user, tokens, request.state, request.passcode, hashKey, request.channel);
    const now = this.clock.now();
    const match = this.matchTokens(tokens, request.passcode, hashKey, now);
    return this.conclude(user, tokens, match, now, request.channel, hashKey);
  }

  /**
   * Step 3: a disabled or locked user, one the directory disables or no longer has, or a passcode
   * that cannot be one, goes no further. The audit's reason says which.
   */
  private refusedByRules(user: UserRow, passcode: string, directoryRefusal?: DirectoryRefusal): Decision | undefined {
    if (user.disabled === 1) return { reply: { result: 'reject', message: DENIED }, reason: disabledReason(user) };
    if (directoryRefusal) return { reply: { result: 'reject', message: DENIED }, reason: `user ${directoryRefusal}` };
    if (this.lockout.isLocked(user)) return { reply: { result: 'reject', message: DENIED }, reason: 'user locked' };
    const wellFormed = passcode.length > 0 && passcode.length <= MAX_PASSCODE_LENGTH && WELL_FORMED_PASSCODE.test(passcode);
    if (!wellFormed) return this.failed(user, [], 'malformed passcode');
    return undefined;
  }

  /**
   * Step 4: the first active token the passcode matches; failing that, a lost token's emergency
   * code (every wrong passcode counts against it, whatever else the user holds).
   */
  private matchTokens(tokens: readonly TokenRow[], passcode: string, hashKey: SecretHashKey, now: number): Match | undefined {
    for (const token of tokens) {
      if (token.state !== 'active') continue;
      const match = this.rules.match(token, passcode, hashKey);
      if (match) return match;
    }
    for (const token of tokens) {
      if (token.state !== 'disabled' || token.emergency_hash === null) continue;
      const match = this.rules.matchEmergency(token, passcode, hashKey, now);
      if (match) return match;
    }
    return undefined;
  }

  /** Step 5: what a match (or none) comes to. */
  private async conclude(
    user: UserRow,
    tokens: readonly TokenRow[],
    match: Match | undefined,
    now: number,
    channel: VerifyRequest['channel'],
    hashKey: SecretHashKey,
  ): Promise<Decision> {
    if (!match) return this.noMatch(user, tokens);
    const serial = match.token.serial;
    if (match.kind !== 'replay' && match.kind !== 'emergency') {
      // A right code on a token its limits keep from use now is refused with the reason (no failure
      // is counted: it was no guess). Only a right code learns it, so a guesser learns nothing of the token.
      const code = limitReached(match.token, now);
      if (code) return { reply: { result: 'reject', message: errorCatalogue[code].message, code }, reason: code, serial };
    }
    switch (match.kind) {
      case 'replay':
        return { ...this.failed(user, [], 'replayed code'), serial };
      case 'accept':
        return {
          reply: { result: 'accept' },
          reason: 'tokencode accepted',
          serial,
          consume: { token: match.token, step: match.step, changes: this.rules.driftAfter(match.token, match.step, now) },
          ...(user.failed_logons > 0 ? { resetFailures: user } : {}),
        };
      case 'next-code': {
        // The step is used and the challenge stored in the batch's transaction (a step a racing request took first issues none).
        const challenge = this.newChallenge(match.token, 'next-code', String(match.step), now, channel);
        return {
          reply: { result: 'challenge', message: NEXT_TOKENCODE_PROMPT, state: challenge.state, prompt: 'next-code' },
          reason: 'next tokencode mode',
          serial,
          consume: { token: match.token, step: match.step, changes: {} },
          challenge,
        };
      }
      case 'new-pin':
        return {
          ...this.askNewPin(match.token, hashKey, now, channel, 0),
          reason: 'new PIN mode',
          serial,
          consume: { token: match.token, step: match.step, changes: {} },
        };
      case 'emergency':
        return {
          reply: { result: 'accept', message: 'Accepted with an emergency access code.' },
          reason: 'emergency access code',
          serial,
          emergency: match.token,
          ...(user.failed_logons > 0 ? { resetFailures: user } : {}),
        };
    }
  }

  /** Step 5 when nothing matched: a wrong passcode, counted against the user and the tokens it could have been for. */
  private noMatch(user: UserRow, tokens: readonly TokenRow[]): Decision {
    const active = tokens.filter((t) => t.state === 'active');
    const lost = tokens.filter((t) => t.state === 'disabled' && t.emergency_hash !== null);
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
   * Step 6: the batch's effects in one transaction: the steps its accepts and challenges use (one
   * whose step a racing request took first becomes a reject, and issues no challenge), the
   * emergency codes used (a one-time code a racing request used first: a reject), the
   * challenges, the PINs new PIN chains confirmed, the failures it counts and clears, and every
   * request's audit event.
   */
  private async persist(decided: ReadonlyArray<{ pending: Pending; decision: Decision }>) {
    if (decided.every(({ decision }) => usesStepsOnly(decision))) return this.persistSteps(decided);
    return this.repository.write(async (trx) => {
      const at = this.clock.now();
      const taken = await this.repository.useSteps(stepUses(decided, at), trx);
      const emergencies = decided.flatMap(({ decision: { emergency } }) => (emergency ? [emergency] : []));
      const usedCodes = await this.repository.useEmergencyCodes(emergencies, trx);
      const outcomes = decided.map(({ pending, decision }) => {
        const { consume, emergency, serial } = decision;
        let outcome: Decision = decision;
        if (consume && !taken.has(consume.token.id)) outcome = stepLost(serial);
        else if (emergency && !usedCodes.has(emergency.id))
          outcome = { reply: { result: 'reject', message: DENIED }, reason: 'emergency code used', serial };
        return { pending, outcome };
      });
      await this.challenges.issueAll(
        outcomes.flatMap(({ outcome }) => (outcome.challenge ? [outcome.challenge] : [])),
        at,
        trx,
      );
      await this.repository.setPins(
        outcomes.flatMap(({ outcome }) => (outcome.newPin ? [outcome.newPin] : [])),
        at,
        trx,
      );
      await this.recordFailureCounts(
        outcomes.map(({ outcome }) => outcome),
        trx,
      );
      await this.audit.record(
        outcomes.map(({ pending, outcome }) => auditRecord(pending, outcome)),
        trx,
      );
      return outcomes;
    });
  }

  /**
   * Step 6 for the usual batch, whose only writes are steps used and audit events (accepts, and
   * rejects that count nothing): one statement on PostgreSQL. Each accept's event is written
   * assuming its step is taken, and kept only if it is, in the same statement as the step. An
   * accept whose step a racing request took first changed nothing; its reject is recorded after,
   * on its own, before it is answered.
   */
  private async persistSteps(decided: ReadonlyArray<{ pending: Pending; decision: Decision }>) {
    const events = decided.map(({ pending, decision }) => ({
      row: this.audit.rowOf(auditRecord(pending, decision)),
      needsStepOf: decision.consume?.token.id,
    }));
    const taken = await this.repository.useStepsAndRecord(stepUses(decided, this.clock.now()), events);
    const outcomes = decided.map(({ pending, decision }) => ({
      pending,
      outcome: decision.consume && !taken.has(decision.consume.token.id) ? stepLost(decision.serial) : decision,
    }));
    const lost = outcomes.filter(({ outcome }, index) => outcome !== decided[index]?.decision);
    await this.audit.record(lost.map(({ pending, outcome }) => auditRecord(pending, outcome)));
    return outcomes;
  }

  /**
   * The batch's failures and resets, one statement each however many it holds. The rows (the
   * holder cache's, on SQLite) are updated to match, as the step updates are.
   */
  private async recordFailureCounts(outcomes: readonly Decision[], trx: Connection): Promise<void> {
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

  /** A reject whose failure the batch counts, in its own transaction, against the user and these tokens. */
  private failed(user: UserRow, tokens: TokenRow[], reason: string): Decision {
    return { reply: { result: 'reject', message: DENIED }, reason, failure: { user, tokens } };
  }

  /** A challenge to issue; `attempts` are the answers the chain it continues has had already. */
  private newChallenge(
    token: TokenRow,
    kind: ChallengeKind,
    data: string | null,
    now: number,
    channel: VerifyRequest['channel'],
    attempts = 0,
  ): NewChallenge {
    const state = (channel === 'self-service' ? CONSOLE_STATE_PREFIX : '') + randomBytes(16).toString('hex');
    return { state, tokenId: token.id, kind, data, expiresAt: now + this.settings.challengeSeconds * 1000, attempts };
  }

  /**
   * The new PIN challenge for a token: a PIN to choose, the policy stated; or, where the policy has
   * Tally generate it, a generated PIN shown, which the holder enters back to set it (kept as the
   * confirmation's hash, so it is never stored). `why` says why it is asked again.
   */
  private askNewPin(
    token: TokenRow,
    hashKey: SecretHashKey,
    now: number,
    channel: VerifyRequest['channel'],
    attempts: number,
    why?: string,
  ): { reply: AuthResult; challenge: NewChallenge } {
    const preface = why ? `${why} ` : '';
    if (token.pin_generated === 1) {
      const pin = this.rules.generatePin(token, hashKey);
      const challenge = this.newChallenge(token, 'confirm-pin', this.rules.pinHash(hashKey, token, pin), now, channel, attempts);
      return {
        reply: {
          result: 'challenge',
          message: preface + generatedPinPrompt(pin),
          state: challenge.state,
          prompt: 'confirm-pin',
          generatedPin: pin,
        },
        challenge,
      };
    }
    const challenge = this.newChallenge(token, 'new-pin', null, now, channel, attempts);
    return { reply: { result: 'challenge', message: preface + newPinPrompt(token), state: challenge.state, prompt: 'new-pin' }, challenge };
  }

  /**
   * Steps 4 and 5 for the answer to a challenge: the challenge is taken (deleted) at once, so each
   * is answered once; what the answer leads to is persisted with the batch.
   */
  private async answerChallenge(
    user: UserRow,
    tokens: readonly TokenRow[],
    state: string,
    passcode: string,
    hashKey: SecretHashKey,
    channel: VerifyRequest['channel'],
  ): Promise<Decision> {
    const now = this.clock.now();
    const challenge = await this.challenges.find(state.slice(0, 64), now);
    const token = challenge ? tokens.find((held) => held.id === challenge.token_id) : undefined;
    // A state no challenge of this user has proves nothing about who sent it: on the public
    // Self-Service form anyone may send one, so it is refused without counting against the user's
    // passcode lockout (which would let a stranger lock the user out of RADIUS and REST).
    if (!challenge || !token) {
      if (channel === 'self-service') return { reply: { result: 'reject', message: DENIED }, reason: 'unknown or expired challenge' };
      return this.failed(user, [], 'unknown or expired challenge');
    }
    // A token disabled (or reported lost) since the challenge was issued answers nothing more.
    if (token.state !== 'active') return this.failed(user, [], 'unknown or expired challenge');
    if (challenge.state.startsWith(CONSOLE_STATE_PREFIX) !== (channel === 'self-service'))
      return this.failed(user, [], 'challenge of another channel');
    if (!(await this.challenges.take(challenge.state))) return this.failed(user, [], 'challenge answered twice');
    const serial = token.serial;
    const limit = limitReached(token, now);
    if (limit) return { reply: { result: 'reject', message: errorCatalogue[limit].message, code: limit }, reason: limit, serial };
    // Each answer of a new PIN chain counts; after a few the chain ends, and a new one takes a fresh tokencode.
    const attempts = challenge.attempts + 1;
    const chainEnds = attempts >= NEW_PIN_ATTEMPTS;
    switch (challenge.kind) {
      case 'new-pin': {
        const problem = this.rules.pinProblem(token, passcode, hashKey);
        if (problem && chainEnds) return { ...this.failed(user, [token], 'too many new PIN attempts'), serial };
        if (problem)
          return { ...this.askNewPin(token, hashKey, now, channel, attempts, problem.message), reason: 'PIN refused by policy', serial };
        const next = this.newChallenge(token, 'confirm-pin', this.rules.pinHash(hashKey, token, passcode), now, channel, attempts);
        return {
          reply: { result: 'challenge', message: 'Enter the new PIN again.', state: next.state, prompt: 'confirm-pin' },
          reason: 'new PIN entered',
          serial,
          challenge: next,
        };
      }
      case 'confirm-pin': {
        const pinHash = challenge.data ?? '';
        if (!constantTimeEqual(this.rules.pinHash(hashKey, token, passcode), pinHash)) {
          if (chainEnds) return { ...this.failed(user, [token], 'too many new PIN attempts'), serial };
          if (token.pin_generated === 1)
            return {
              ...this.askNewPin(token, hashKey, now, channel, attempts, 'That is not the PIN shown.'),
              reason: 'generated PIN mistyped',
              serial,
            };
          const again = this.newChallenge(token, 'new-pin', null, now, channel, attempts);
          return {
            reply: { result: 'challenge', message: 'The PINs did not match. Enter a new PIN.', state: again.state, prompt: 'new-pin' },
            reason: 'PIN confirmation mismatch',
            serial,
            challenge: again,
          };
        }
        return {
          reply: { result: 'accept', message: 'New PIN accepted.' },
          reason: 'new PIN set',
          serial,
          newPin: { token, pinHash },
          ...(user.failed_logons > 0 ? { resetFailures: user } : {}),
        };
      }
      case 'next-code': {
        const wanted = Number(challenge.data) + 1;
        if (!this.rules.matchesNextStep(token, passcode, wanted, hashKey)) return this.failed(user, [token], 'wrong next tokencode');
        return {
          reply: { result: 'accept' },
          reason: 'next tokencode',
          serial,
          consume: { token, step: wanted, changes: this.rules.driftAfter(token, wanted, now) },
          ...(user.failed_logons > 0 ? { resetFailures: user } : {}),
        };
      }
    }
  }
}

/** Why a disabled user is: by an administrator, or because the directory disabled them or no longer has them. */
function disabledReason(user: UserRow): string {
  if (user.directory_state === 'gone') return 'user gone from directory';
  if (user.directory_state === 'disabled') return 'user disabled in directory';
  return 'user disabled';
}
