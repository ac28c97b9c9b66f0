import { constantTimeEqual, randomDigits } from '../core/crypto/random.js';
import { findConsecutiveCodes } from '../core/otp/verify.js';
import { invalidField, TallyError } from '../errors.js';
import type { HelpdeskCredentials } from '../model/vocabulary.js';
import type { TokenRow } from '../store/repositories/tokens.js';
import type { UserRow } from '../store/repositories/users.js';
import type { Repositories } from '../store/unit-of-work.js';
import { tokenType } from '../tokens/registry.js';
import { type Actor, mayBeShown, requirePermission } from './actor.js';
import { type AuditService, credentialShown, RefusalKeepingWrites } from './audit.js';
import { EMERGENCY_CODE_DIGITS, limitReached, type PasscodeRules, WELL_FORMED_PASSCODE } from './authentication.js';
import type { Clock } from './clock.js';
import type { Lockout } from './lockout.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';
import type { TokenService, TokenView } from './tokens.js';

/** What a right passcode tested on one token found (a wrong one is TOKENCODE_INVALID, which never says which part was wrong). */
export type CodeTest =
  | { result: 'accepted' }
  /** Right, but the next log-on will ask for the next tokencode too: the token has drifted, or had wrong codes. */
  | { result: 'next-code' }
  /** The tokencode is right, and the token waits for its first (or a new) PIN. */
  | { result: 'pin-needed' };

/** Wrong pairs a holder may offer to resynchronise a token; then only an administrator can. */
export const RESYNC_ATTEMPTS = 5;
/** How long an emergency access code works unless the caller says otherwise. */
export const DEFAULT_EMERGENCY_DAYS = 7;
const RESYNC_TIME_WINDOW = 120;
const RESYNC_COUNTER_WINDOW = 1000;
const DAY_MS = 86_400_000;

/**
 * The administration of a token's authentication state, by its holder or the help desk: testing a
 * code, setting or resetting a PIN, resynchronising, reporting a token lost (with an emergency
 * access code), enabling, disabling and unlocking it. A passcode is matched by the same rules as
 * at authentication (`PasscodeRules`); each change is audited.
 */
export class TokenAdministrationService {
  constructor(
    private readonly rules: PasscodeRules,
    private readonly tokens: TokenService,
    private readonly hasher: SecretHasher,
    private readonly lockout: Lockout,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    /** Whether the help desk may be shown emergency access codes (`--helpdesk-credentials`). */
    private readonly helpdeskCredentials: HelpdeskCredentials = 'none',
  ) {}

  private async tokenFor(tx: Repositories, actor: Actor, serial: string): Promise<TokenRow> {
    const token = await tx.tokens.findBySerial(serial);
    if (!token) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    if (actor.kind === 'user') {
      const owner = token.user_id === null ? undefined : await tx.authentication.usernameOf(token.user_id);
      if (owner !== actor.name) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    }
    await this.tokens.requireAuthorityOverHolder(actor, token, tx.users);
    return token;
  }

  private async holderOf(tx: Repositories, token: TokenRow): Promise<UserRow> {
    if (token.user_id === null) throw new TallyError('TOKEN_STATE_INVALID', `Token ${token.serial} is not assigned.`);
    return tx.authentication.userById(token.user_id);
  }

  /**
   * The holder tries a passcode on one of their own tokens, checked as `verify` checks it but on
   * that token alone. A right code is used up as a log-on's is, so it cannot then be replayed at the
   * VPN; a wrong one counts toward the token's and the user's lockout, as at the VPN.
   */
  async testCode(actor: Actor, serial: string, passcode: string): Promise<CodeTest> {
    const hashKey = await this.hasher.load();
    return this.audit.change(
      actor,
      { action: 'token.test', targetType: 'token', target: serial },
      async (tx) => {
        requirePermission(actor, 'tokens.testOwn');
        const token = await this.tokenFor(tx, actor, serial);
        if (token.state !== 'active')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; only an active token can be tested.`);
        const limit = limitReached(token, this.clock.now());
        if (limit) throw new TallyError(limit);
        const user = await this.holderOf(tx, token);
        if (user.disabled === 1) throw new TallyError('FORBIDDEN', 'This account is disabled.');
        if (this.lockout.isLocked(user)) throw new TallyError('USER_LOCKED');
        const now = this.clock.now();
        const match = passcode.length <= 64 && WELL_FORMED_PASSCODE.test(passcode) ? this.rules.match(token, passcode, hashKey) : undefined;
        switch (match?.kind) {
          case 'accept':
            if (await this.rules.consume(tx, token, match.step, now, this.rules.driftAfter(token, match.step, now))) {
              if (user.failed_logons > 0) await this.lockout.recordSuccess(user.id, tx.connection);
              return { result: 'accepted' as const };
            }
            break;
          case 'next-code':
            // Only the step is used up: the next tokencode is still owed, so the mode stays as it is.
            if (await tx.authentication.takeStepOnly(token.id, match.step)) return { result: 'next-code' as const };
            break;
          case 'new-pin':
            if (await this.rules.consume(tx, token, match.step, now, this.rules.driftAfter(token, match.step, now)))
              return { result: 'pin-needed' as const };
            break;
        }
        // Counted as `verify` counts: a replayed code (or one a racing request used first) against the user only.
        await this.rules.countFailure(tx, user, match ? [] : [token]);
        throw new RefusalKeepingWrites(wrongCode(token));
      },
      (test) => ({ result: test.result }),
    );
  }

  /** Puts the token in new PIN mode: the next authentication asks for a new PIN. Nobody sees the old one. */
  async resetPin(actor: Actor, serial: string): Promise<TokenView> {
    return this.audit.change(actor, { action: 'token.pin.reset', targetType: 'token', target: serial }, async (tx) => {
      requirePermission(actor, 'tokens.manage');
      const token = await this.tokenFor(tx, actor, serial);
      if (token.pin_mode !== 'required')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} has no PIN (its profile does not require one).`);
      await tx.authentication.requireNewPin(token.id, this.clock.now());
      return this.tokens.view({ ...token, new_pin_required: 1 }, tx.users);
    });
  }

  /**
   * The holder sets their token's PIN. Replacing a PIN takes the current one, since a console
   * session may have been opened with a password alone, and a wrong one counts like a wrong
   * passcode; a token in new PIN mode, or without a PIN yet, takes the new PIN directly. Where
   * the token's policy has Tally generate PINs, the holder may not choose one: `generatePin`.
   */
  async setPin(actor: Actor, serial: string, pin: string, currentPin?: string): Promise<void> {
    await this.replacePin(actor, serial, currentPin, (token) => {
      if (token.pin_generated === 1)
        throw new TallyError('PIN_GENERATED', `Tally generates the PIN of token ${serial}; ask it for a new one.`);
      return pin;
    });
  }

  /** The holder has Tally generate a new PIN to the token's policy, returned this once (never stored). */
  async generatePin(actor: Actor, serial: string, currentPin?: string): Promise<string> {
    return this.replacePin(actor, serial, currentPin, (token, hashKey) => this.rules.generatePin(token, hashKey));
  }

  private async replacePin(
    actor: Actor,
    serial: string,
    currentPin: string | undefined,
    newPin: (token: TokenRow, hashKey: SecretHashKey) => string,
  ): Promise<string> {
    const hashKey = await this.hasher.load();
    return this.audit.change(actor, { action: 'token.pin.set', targetType: 'token', target: serial }, async (tx) => {
      requirePermission(actor, 'tokens.setOwnPin');
      const token = await this.tokenFor(tx, actor, serial);
      if (token.pin_mode !== 'required')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} has no PIN (its profile does not require one).`);
      if (token.state !== 'active' && token.state !== 'pending')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; its PIN cannot be set.`);
      const pin = newPin(token, hashKey);
      if (token.pin_hash !== null && token.new_pin_required === 0) {
        const user = await this.holderOf(tx, token);
        if (this.lockout.isLocked(user)) throw new TallyError('USER_LOCKED');
        if (currentPin === undefined) throw new TallyError('WRONG_PIN', 'Type your current PIN to change it.');
        if (!constantTimeEqual(this.rules.pinHash(hashKey, token, currentPin), token.pin_hash)) {
          await this.rules.countFailure(tx, user, [token]);
          throw new RefusalKeepingWrites(new TallyError('WRONG_PIN'));
        }
      }
      const problem = this.rules.pinProblem(token, pin, hashKey);
      if (problem) throw problem;
      // Only over the PIN that was checked: of two changes racing, one wins.
      if (!(await tx.authentication.replacePin(token.id, token.pin_hash, this.rules.pinHash(hashKey, token, pin), this.clock.now())))
        throw new TallyError('TOKEN_STATE_INVALID', `The PIN of token ${serial} was changed just now; try again.`);
      return pin;
    });
  }

  /**
   * Resynchronises a drifted token from two consecutive codes: searched over a wide window, and
   * only a consecutive pair counts, so one lucky guess cannot move the token.
   */
  async resync(actor: Actor, serial: string, first: string, second: string): Promise<TokenView> {
    return this.audit.change(actor, { action: 'token.resync', targetType: 'token', target: serial }, async (tx) => {
      requirePermission(actor, actor.kind === 'user' ? 'tokens.resyncOwn' : 'tokens.manage');
      const token = await this.tokenFor(tx, actor, serial);
      if (token.state !== 'active')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; only active tokens can be resynchronised.`);
      const limit = limitReached(token, this.clock.now());
      if (limit) throw new TallyError(limit);
      const holder = actor.kind === 'user' ? await this.holderOf(tx, token) : undefined;
      if (holder && this.lockout.isLocked(holder)) throw new TallyError('USER_LOCKED');
      // The wide search makes each try worth a thousand steps: a holder gets a few, then the help desk decides.
      if (holder && token.resync_failures >= RESYNC_ATTEMPTS) {
        throw new TallyError('TOKEN_LOCKED', 'Too many wrong codes were offered to resynchronise this token; ask your help desk to do it.');
      }
      const type = tokenType(token.token_type);
      const material = this.tokens.material(token);
      const now = this.clock.now();
      const nowStep = type.stepAt({ period: token.period, counter: token.counter }, now);
      const [from, to] =
        type.movingFactor === 'time'
          ? [nowStep - RESYNC_TIME_WINDOW, nowStep + RESYNC_TIME_WINDOW]
          : [nowStep, nowStep + RESYNC_COUNTER_WINDOW];
      const found = findConsecutiveCodes({ codeAt: (step) => type.codeAt(material, step), first, second, from, to });
      if (found === undefined || (token.last_step !== null && found <= token.last_step)) {
        // The holder's form would otherwise be a code oracle that no lockout watches; the token
        // counts every wrong pair, whoever offered it.
        await tx.authentication.countResyncFailure(token.id);
        if (holder) await this.lockout.recordFailure(holder.id, tx.connection);
        throw new RefusalKeepingWrites(
          new TallyError(
            'TOKENCODE_INVALID',
            'Those two codes are not consecutive codes of this token; enter two codes in a row as the token shows them.',
          ),
        );
      }
      const changes = this.rules.driftAfter(token, found, now);
      if (!(await this.rules.consume(tx, token, found, now, changes)))
        throw new TallyError('TOKENCODE_INVALID', 'Those codes were used already.');
      if (token.resync_failures > 0) await tx.authentication.clearResyncFailures(token.id);
      return this.tokens.view({ ...token, ...changes, last_step: found }, tx.users);
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
    const hashKey = await this.hasher.load();
    return this.audit.change(
      actor,
      { action: 'token.lost', targetType: 'token', target: serial, details: { emergency: options.emergency } },
      async (tx) => {
        requirePermission(actor, actor.kind === 'user' ? 'tokens.reportOwnLost' : 'tokens.manage');
        const token = await this.tokenFor(tx, actor, serial);
        if (token.state !== 'active' && token.state !== 'disabled')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}.`);
        // A holder reports a token lost once; a fresh emergency code for a disabled one is the helpdesk's to give.
        if (actor.kind === 'user' && token.state !== 'active')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state} already.`);
        const days = options.days ?? DEFAULT_EMERGENCY_DAYS;
        if (!Number.isInteger(days) || days < 1 || days > 30) throw invalidField('days', 'wholeDaysRange', { min: 1, max: 30 });
        // A code no one may be shown would be of no use: refused before anything changes.
        if (options.emergency !== 'none' && actor.kind !== 'user' && !mayBeShown(actor, 'emergency-code', this.helpdeskCredentials)) {
          throw new TallyError(
            'FORBIDDEN',
            `The ${actor.role} role is shown no emergency access codes (--helpdesk-credentials ${this.helpdeskCredentials}): report the token lost without one (emergency: none), or ask a super admin.`,
          );
        }
        const now = this.clock.now();
        const code = options.emergency === 'none' ? undefined : randomDigits(EMERGENCY_CODE_DIGITS);
        const expiresAt = now + days * DAY_MS;
        const holder = token.user_id === null ? undefined : await tx.authentication.usernameOf(token.user_id);
        const emergency = code
          ? { hash: hashKey.hash('emergency-code', `${token.serial}:${code}`), expiresAt, oneTime: options.emergency === 'one-time' }
          : undefined;
        if (!(await tx.authentication.reportLost(token.id, token.state, emergency, now)))
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was changed just now; look again.`);
        // Shown to an administrator: recorded with the change (a holder's own code is not).
        if (code && actor.kind !== 'user')
          await this.audit.record({ actor, entry: credentialShown(serial, holder ?? '', ['emergency-code']) }, tx.connection);
        const view = await this.tokens.view({ ...token, state: 'disabled', disabled_reason: 'lost' }, tx.users);
        return code ? { token: view, emergencyCode: code, expiresAt: new Date(expiresAt).toISOString() } : { token: view };
      },
    );
  }

  async setEnabled(actor: Actor, serial: string, enabled: boolean): Promise<TokenView> {
    return this.audit.change(
      actor,
      { action: enabled ? 'token.enable' : 'token.disable', targetType: 'token', target: serial },
      async (tx) => {
        requirePermission(actor, 'tokens.manage');
        const token = await this.tokenFor(tx, actor, serial);
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
        const updated = await tx.tokens.update(serial, { ...changes, updated_at: this.clock.now() }, { state: from });
        if (!updated) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}, not ${from}.`);
        return this.tokens.view({ ...token, ...changes }, tx.users);
      },
    );
  }

  /** Clears a token's wrong-passcode count and next tokencode mode. */
  async unlockToken(actor: Actor, serial: string): Promise<TokenView> {
    return this.audit.change(actor, { action: 'token.unlock', targetType: 'token', target: serial }, async (tx) => {
      requirePermission(actor, 'tokens.manage');
      const token = await this.tokenFor(tx, actor, serial);
      await tx.authentication.unlockToken(token.id);
      return this.tokens.view({ ...token, failed_count: 0 }, tx.users);
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
