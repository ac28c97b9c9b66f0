import { createHash, randomBytes, randomInt } from 'node:crypto';
import { randomDigits } from '../core/crypto/random.js';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { buildAppLink } from '../core/ctkip/links.js';
import { encodeBase32 } from '../core/otp/base32.js';
import { verifyPasscode } from '../core/otp/verify.js';
import type { CtfLinkApp } from '../core/securid/index.js';
import { invalidField, TallyError } from '../errors.js';
import type { Delivery, HelpdeskCredentials } from '../model/vocabulary.js';
import type { TokenRow } from '../store/repositories/tokens.js';
import type { UserRow } from '../store/repositories/users.js';
import type { Connection, Repositories, UnitOfWork } from '../store/unit-of-work.js';
import { ctfDeliverable, type Holder, otpauthLink, type TokenFile, tokenFile } from '../tokens/deliverables.js';
import { tokenType } from '../tokens/registry.js';
import { type Actor, type CredentialKind, can, mayBeShown, requireAuthorityOver, requirePermission } from './actor.js';
import { type AuditService, credentialShown, RefusalKeepingWrites } from './audit.js';
import type { Clock } from './clock.js';
import type { DirectoryService } from './directory.js';
import type { DistributionEvent, Notifier } from './notifications.js';
import { type ProfileRow, type ProfileService, profileFilePasswordContext } from './profiles.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';
import type { SettingsService } from './settings.js';
import type { TokenService, TokenView } from './tokens.js';

/** What an admin receives when a token is distributed: exactly the delivery's secret, once. */
export interface DistributionResult {
  serial: string;
  tokenType: TokenRow['token_type'];
  delivery: Delivery | null;
  state: TokenRow['state'];
  /** When the activation code or download link stops working; null when nothing expires. */
  expiresAt: string | null;
  ctkipUrl?: string;
  activationCode?: string;
  appLink?: string;
  downloadUrl?: string;
  filePassword?: string;
  ctf?: string;
}

export interface DistributionOptions {
  /** What users see: links, CT-KIP URLs and mails are under it. */
  publicUrl: string;
  /** Shown in authenticator apps and written into token files. */
  issuer: string;
  /** What the help desk is shown of a distribution (`--helpdesk-credentials`); default `none`. */
  helpdeskCredentials?: HelpdeskCredentials;
}

/**
 * What a holder is shown to activate a pending token. A CT-KIP activation shows the outstanding
 * code and the app link carrying it; both are absent when there is none to show (a distribution made before codes were kept
 * sealed): the holder asks for a new one.
 */
export type Activation =
  | { kind: 'otpauth'; uri: string; secret: string }
  | { kind: 'ctkip'; ctkipUrl: string; activationCode?: string; appLink?: string };

/** A pending token file for its holder: the outstanding one-time link (absent: ask for a new one) and the file's password. */
export interface HolderDownload {
  downloadUrl?: string;
  filePassword?: string;
  expiresAt: string;
}

const MAX_CONFIRM_ATTEMPTS = 10;
/** An HOTP app shows counter 0 first; a user who pressed a few times is still found. */
const HOTP_FIRST_WINDOW = 9;

export const CTKIP_PATH = '/ctkip/services/CtkipService';
/** An activation code: the first digits find the distribution, the rest prove the holder. */
export const LOCATOR_DIGITS = 5;
export const CODE_SECRET_DIGITS = 7;
const DAY_MS = 86_400_000;
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

function distributionPasswordContext(id: number): string {
  return `distribution:${id}:file-password`;
}

/** The context of a distribution's outstanding credential (activation code or link token), sealed to show it again. */
function credentialContext(id: number): string {
  return `distribution:${id}:credential`;
}

function downloadTokenHash(linkToken: string): string {
  return createHash('sha256').update(linkToken).digest('hex');
}

function generatedPassword(): string {
  let out = '';
  for (let i = 0; i < 14; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out;
}

export interface AssignOptions {
  /** Refuse a token Tally made (which would be distributed): an assignment import moves imported tokens only. */
  importedOnly?: boolean;
  /** An imported token's holder sets a PIN at the first authentication (RSA's "requires new PIN"); absent or false: as imported. */
  requiresNewPin?: boolean;
}

/** What a user may ask for in the Self-Service Console without an admin: a token for themself, from an open profile. */
function checkSelfServiceRequest(actor: Actor, username: string, profile: ProfileRow): void {
  if (actor.kind !== 'user' || actor.name !== username)
    throw new TallyError('FORBIDDEN', 'In the Self-Service Console a user requests tokens for themself only.');
  // A profile not open to self-service looks exactly like a missing one.
  if (profile.self_service !== 1) throw new TallyError('PROFILE_NOT_FOUND', `No token profile named ${profile.name}.`);
  if (profile.requires_approval === 1)
    throw new TallyError('FORBIDDEN', `Tokens of profile ${profile.name} need an administrator's approval: request one instead.`);
}

/** A change's work followed by the holder's mail about the token, queued in the same transaction. */
function thenMailed<T>(
  notifier: Pick<Notifier, 'tokenDistributed'> | undefined,
  serial: string,
  event: DistributionEvent,
  work: (tx: Repositories) => Promise<T>,
): (tx: Repositories) => Promise<T> {
  return async (tx) => {
    const result = await work(tx);
    await notifier?.tokenDistributed(tx, serial, event);
    return result;
  };
}

function ctfAppFor(deviceType: string): CtfLinkApp {
  if (deviceType === 'android') return 'android';
  if (deviceType === 'ios') return 'iphone';
  return 'securid';
}

/**
 * Distribution: a token reaches its holder by the profile's delivery. Owns serials for new tokens,
 * seeds (generated here, or derived later over CT-KIP), activation codes and one-time download
 * links, and reissue, which replaces all of them at once.
 */
export class DistributionService {
  constructor(
    private readonly work: UnitOfWork,
    private readonly keyring: Keyring,
    private readonly tokens: TokenService,
    private readonly profiles: ProfileService,
    private readonly hasher: SecretHasher,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly settings: SettingsService,
    private readonly options: DistributionOptions,
    private readonly notifier?: Pick<Notifier, 'tokenDistributed' | 'fileDownloaded'>,
    private readonly directory?: Pick<DirectoryService, 'ensureLocal'>,
  ) {}

  /**
   * Loads the activation-code key: a change that distributes `within` its own transaction calls
   * this first, as on SQLite a transaction waiting for the key to be read would wait for itself.
   */
  async loadKeys(): Promise<void> {
    await this.hasher.load();
  }

  ctkipUrl(profile: Pick<ProfileRow, 'ctkip_url'>): string {
    return profile.ctkip_url ?? `${this.options.publicUrl}${CTKIP_PATH}`;
  }

  /**
   * A new token for a user, distributed by the profile. Admins distribute to anyone; a user in the
   * Self-Service Console only to themself, from a profile open to self-service that needs no
   * approval. `notifyHolder: false` is for callers that mail the holder themselves; `show: false`
   * for callers that show the actor nothing (a bulk run): the answer then carries no credential.
   * `within` makes it part of another change (which has called `loadKeys` before its transaction).
   * The new token must fit under the per-user token limit; `replaces` names the token it takes
   * the place of (a replacement near a token's end), which then does not count.
   */
  async distributeToUser(
    actor: Actor,
    username: string,
    profileName: string,
    options: {
      notifyHolder?: boolean;
      show?: boolean;
      within?: Repositories;
      /** The token this one replaces (a self-service replacement), which the token limit does not count. */
      replaces?: string;
      /** What the caller writes with the distribution, committed or rolled back with it (a bulk run's report of the user). */
      alongside?: (tx: Repositories, result: DistributionResult) => Promise<void>;
    } = {},
  ): Promise<DistributionResult> {
    const hashKey = await this.hasher.load();
    // A directory user gets their local record on first use; not inside another change's transaction (SQLite has one writer).
    if (!options.within) await this.directory?.ensureLocal(username);
    return this.audit.change(
      actor,
      { action: 'token.distribute', targetType: 'user', target: username, details: { profile: profileName } },
      async (tx) => {
        const selfService = !can(actor, 'tokens.distribute');
        if (selfService) requirePermission(actor, 'tokens.request');
        const profile = await this.profiles.row(profileName, tx.profiles);
        if (selfService) checkSelfServiceRequest(actor, username, profile);
        const user = await this.user(tx, username);
        requireAuthorityOver(actor, user);
        await this.requireTokenSlot(tx, user, { replaces: options.replaces, countRequests: selfService });
        const token = await this.insertNewToken(tx, profile, user.id);
        const result = await this.distribute(tx, hashKey, token, profile, user, actor, options.show !== false);
        await options.alongside?.(tx, result);
        if (options.notifyHolder !== false) await this.notifier?.tokenDistributed(tx, result.serial, 'new');
        return result;
      },
      (result) => ({ serial: result.serial, delivery: result.delivery }),
      options.within,
    );
  }

  /**
   * Refuses one more token for the user past the per-user token limit. The user's row is locked
   * first, so that the count and the token given after it are one step: of two transactions giving
   * the user the last free slot, on any nodes, the second waits and then counts the first's token.
   * Counted are the tokens assigned to the user in any state (RSA counts assigned tokens): pending,
   * active and disabled (lost) alike, until unassigned or deleted. A user's own request also counts
   * their requests waiting for approval (`countRequests`), so the waiting ones can all be approved.
   */
  async requireTokenSlot(
    tx: Repositories,
    user: Pick<UserRow, 'id' | 'username'>,
    options: { replaces?: string; countRequests?: boolean } = {},
  ): Promise<void> {
    await tx.users.lockForTokens(user.id);
    const limit = (await this.settings.current(tx)).tokensPerUser;
    const held = await tx.tokens.countHeldBy(user.id, options.replaces);
    const waiting = options.countRequests ? await tx.requests.countPendingNew(user.id) : 0;
    if (held + waiting < limit) return;
    const message = options.countRequests
      ? `You have ${held} token(s)${waiting > 0 ? ` and ${waiting} request(s) waiting for approval` : ''}, and a user may have ${limit}: ask your IT helpdesk to take back a token you no longer use.`
      : `${user.username} has ${held} token(s), and the limit is ${limit} per user: unassign or delete one of them first, or raise the limit (setting tokensPerUser).`;
    throw new TallyError('TOKEN_LIMIT_REACHED', message, { limit });
  }

  /** Unassigned tokens of a profile, to be assigned by serial later. They get their seed when distributed. */
  async createUnassigned(actor: Actor, profileName: string, count: number): Promise<TokenView[]> {
    return this.audit.change(
      actor,
      { action: 'token.create', targetType: 'profile', target: profileName, details: { count } },
      async (tx) => {
        requirePermission(actor, 'tokens.create');
        if (!Number.isInteger(count) || count < 1 || count > 1000) throw invalidField('count', 'wholeNumberRange', { min: 1, max: 1000 });
        const profile = await this.profiles.row(profileName, tx.profiles);
        const rows: TokenRow[] = [];
        for (let i = 0; i < count; i++) rows.push(await this.insertNewToken(tx, profile, null));
        await this.audit.record(
          rows.map((row) => ({
            actor,
            entry: { action: 'token.create', targetType: 'token', target: row.serial, details: { profile: profileName } },
          })),
          tx.connection,
        );
        return Promise.all(rows.map((row) => this.tokens.view(row, tx.users)));
      },
    );
  }

  /**
   * Assigns an unassigned token. An imported token's holder has its seed already (a migrated
   * SecurID token, a hardware token), so it is active at once; a generated one is distributed.
   */
  async assign(actor: Actor, serial: string, username: string, options: AssignOptions = {}): Promise<DistributionResult> {
    const hashKey = await this.hasher.load();
    const details: Record<string, string | boolean> = { username };
    if (options.requiresNewPin !== undefined) details.requiresNewPin = options.requiresNewPin;
    await this.directory?.ensureLocal(username);
    return this.audit.change(
      actor,
      { action: 'token.assign', targetType: 'token', target: serial, details },
      thenMailed(this.notifier, serial, 'new', async (repos): Promise<DistributionResult> => {
        requirePermission(actor, 'tokens.distribute');
        const repo = repos.tokens;
        const token = await this.tokenRow(repos, serial);
        if (token.state !== 'unassigned' || token.user_id !== null) {
          throw new TallyError(
            'TOKEN_STATE_INVALID',
            `Token ${serial} is ${token.user_id !== null ? 'assigned already' : token.state}; only unassigned tokens can be assigned.`,
          );
        }
        if (options.importedOnly && token.origin !== 'imported')
          throw new TallyError(
            'TOKEN_STATE_INVALID',
            `Token ${serial} was made by Tally, not imported: assign it on its own, and it is distributed by its profile.`,
          );
        const user = await this.user(repos, username);
        requireAuthorityOver(actor, user);
        await this.requireTokenSlot(repos, user);
        const now = this.clock.now();
        if (token.origin === 'imported') {
          // RSA's "requires new PIN": the holder sets a PIN at the first authentication.
          const newPin = options.requiresNewPin ? ({ pin_mode: 'required', new_pin_required: 1 } as const) : {};
          const claimed = await repo.update(
            serial,
            { user_id: user.id, state: 'active', activated_at: now, updated_at: now, ...newPin },
            { state: 'unassigned', user_id: null },
          );
          if (!claimed) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was assigned by someone else just now.`);
          return { serial, tokenType: token.token_type, delivery: null, state: 'active', expiresAt: null };
        }
        if (token.profile_id === null) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} has no profile to distribute it by.`);
        const claimed = await repo.update(
          serial,
          { user_id: user.id, state: 'pending', updated_at: now },
          { state: 'unassigned', user_id: null },
        );
        if (!claimed) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was assigned by someone else just now.`);
        const profile = await repo.getProfile(token.profile_id);
        return this.distribute(repos, hashKey, { ...token, user_id: user.id }, profile, user, actor);
      }),
      (result) => ({ delivery: result.delivery }),
    );
  }

  /** A new distribution of an assigned token: the previous code, link and seed stop working at once. */
  async reissue(actor: Actor, serial: string): Promise<DistributionResult> {
    const hashKey = await this.hasher.load();
    return this.audit.change(
      actor,
      { action: 'token.reissue', targetType: 'token', target: serial },
      thenMailed(this.notifier, serial, 'reissued', async (repos) => {
        requirePermission(actor, 'tokens.distribute');
        const token = await this.tokenRow(repos, serial);
        if (token.user_id === null) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is not assigned; assign it instead.`);
        if (token.profile_id === null) {
          throw new TallyError(
            'TOKEN_STATE_INVALID',
            `Token ${serial} was imported with its seed and has no profile; distribute a new token to the user instead.`,
          );
        }
        const profile = await repos.tokens.getProfile(token.profile_id);
        const user = await repos.tokens.holderOf(token);
        if (!user) throw new Error(`The holder of token ${serial} was not found.`);
        requireAuthorityOver(actor, user);
        return this.distribute(repos, hashKey, token, profile, user, actor);
      }),
      (result) => ({ delivery: result.delivery }),
    );
  }

  /**
   * Whether a one-time download link would still give its file, without using it: what the link's
   * page shows to a GET or HEAD (a browser opening it, a mail scanner following it). Changes
   * nothing and records nothing; only `redeemDownload` (the page's button) uses the link.
   */
  async checkDownload(linkToken: string): Promise<{ expiresAt: string }> {
    const open = await this.work.repositories.distributions.findOpenDownload(downloadTokenHash(linkToken), this.clock.now());
    if (!open) throw new TallyError('DOWNLOAD_LINK_INVALID', 'This download link is not valid: it was used, has expired or was replaced.');
    return { expiresAt: new Date(open.expires_at).toISOString() };
  }

  /**
   * Redeems a one-time download link: exactly one caller gets the file (a conditional update
   * claims it), and the token becomes active.
   */
  async redeemDownload(actor: Actor, linkToken: string): Promise<TokenFile> {
    const distribution = await this.work.repositories.distributions.findDownload(downloadTokenHash(linkToken));
    return this.audit.change(actor, { action: 'token.download', targetType: 'token', target: distribution?.serial }, async (tx) => {
      if (!distribution)
        throw new TallyError('DOWNLOAD_LINK_INVALID', 'This download link is not valid: it was used, has expired or was replaced.');
      return this.claimFile(tx, distribution.id);
    });
  }

  /**
   * The admin's one download of a token's pending file, the same one-time claim as the link. The
   * holder is told who downloaded it and when (as RSA's file-based flows announce it): the file
   * now reaches them through the administrator, and their own link stops working.
   */
  async adminDownload(actor: Actor, serial: string): Promise<TokenFile> {
    const at = this.clock.now();
    return this.audit.change(actor, { action: 'token.download', targetType: 'token', target: serial }, async (repos) => {
      requirePermission(actor, 'tokens.seeds');
      const token = await this.tokenRow(repos, serial);
      await this.tokens.requireAuthorityOverHolder(actor, token, repos.users);
      const distributionId = await repos.distributions.findOpenFileForToken(token.id);
      if (distributionId === undefined)
        throw new TallyError(
          'DOWNLOAD_LINK_INVALID',
          `Token ${serial} has no file waiting to be downloaded (downloaded already, expired, or not a file delivery).`,
        );
      const file = await this.claimFile(repos, distributionId);
      const holder = await repos.tokens.holderOf(token);
      await this.recordShown(repos.connection, actor, serial, holder?.username ?? '', ['token-file']);
      await this.notifier?.fileDownloaded(repos, serial, actor, at);
      return file;
    });
  }

  /**
   * The holder's pending token file, in the Self-Service Console: the outstanding one-time link and
   * the file's password. Showing changes nothing (a reload or a link prefetch shows the same link);
   * with `renew` (the holder's button, a POST) a new link replaces it and the old one stops working.
   */
  async holderDownload(actor: Actor, serial: string, renew = false): Promise<HolderDownload> {
    const action = renew ? 'token.download.link' : 'token.activation.show';
    return this.audit.change(actor, { action, targetType: 'token', target: serial }, async (repos) => {
      const { distribution } = await this.pendingForHolder(repos, actor, serial);
      if (distribution.delivery !== 'file')
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is delivered as a ${distribution.delivery}, not as a file.`);
      let linkToken: string | undefined;
      if (renew) {
        linkToken = randomBytes(32).toString('base64url');
        const sealed = seal(this.keyring, Buffer.from(linkToken), credentialContext(distribution.id));
        if (!(await repos.distributions.replaceDownloadLink(distribution.id, downloadTokenHash(linkToken), sealed)))
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was downloaded or reissued just now.`);
      } else if (distribution.credential_sealed !== null) {
        linkToken = open(this.keyring, distribution.credential_sealed, credentialContext(distribution.id)).toString();
      }
      const password =
        distribution.file_password_sealed === null
          ? undefined
          : open(this.keyring, distribution.file_password_sealed, distributionPasswordContext(distribution.id)).toString();
      return {
        ...(linkToken === undefined ? {} : { downloadUrl: `${this.options.publicUrl}/download/${linkToken}` }),
        ...(password === undefined ? {} : { filePassword: password }),
        expiresAt: new Date(distribution.expires_at).toISOString(),
      };
    });
  }

  private async claimFile(repos: Repositories, distributionId: number): Promise<TokenFile> {
    const now = this.clock.now();
    const distribution = await repos.distributions.claimDownload(distributionId, now);
    if (!distribution) {
      throw new TallyError('DOWNLOAD_LINK_INVALID', 'This download link is not valid: it was used, has expired or was replaced.');
    }
    const token = await repos.tokens.getById(distribution.token_id);
    const user = await repos.tokens.holderOf(token);
    await repos.tokens.activate(token.serial, now);
    const password =
      distribution.file_password_sealed === null
        ? undefined
        : open(this.keyring, distribution.file_password_sealed, distributionPasswordContext(distribution.id)).toString();
    return tokenFile(token.token_type, this.tokens.material(token), this.holder(token, user), password);
  }

  holder(token: TokenRow, user: Pick<UserRow, 'username'> | undefined): Holder {
    return { issuer: this.options.issuer, username: user?.username ?? token.serial, expiresOn: token.expires_on, counter: token.counter };
  }

  private async user(repos: Repositories, username: string): Promise<UserRow> {
    const user = await repos.users.findByUsername(username);
    if (!user) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
    if (user.disabled === 1) throw new TallyError('TOKEN_STATE_INVALID', `User ${username} is disabled.`);
    return user;
  }

  private async tokenRow(repos: Repositories, serial: string): Promise<TokenRow> {
    const token = await repos.tokens.findBySerial(serial);
    if (!token) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    return token;
  }

  private async insertNewToken(repos: Repositories, profile: ProfileRow, userId: number | null): Promise<TokenRow> {
    const type = tokenType(profile.token_type);
    const now = this.clock.now();
    const expiresOn =
      profile.token_lifetime_days === null ? null : new Date(now + profile.token_lifetime_days * DAY_MS).toISOString().slice(0, 10);
    for (let attempt = 0; ; attempt++) {
      const serial = type.newSerial();
      if ((await repos.tokens.existingSerials([serial])).size > 0) {
        if (attempt < 10) continue;
        throw new TallyError('CONFLICT', 'Could not find a free serial number; try again.');
      }
      return repos.tokens.insert({
        serial,
        token_type: profile.token_type,
        state: userId === null ? 'unassigned' : 'pending',
        origin: 'generated',
        user_id: userId,
        profile_id: profile.id,
        label: null,
        seed_sealed: null,
        digits: profile.digits,
        period: profile.period,
        algorithm: profile.algorithm,
        // A PINPad profile's token is an AddPIN token: the app mixes the PIN into the code it shows
        // (its CTF string, sdtid file and CT-KIP PIN settings say so), and the passcode is that code.
        pin_mode: profile.pin_mode === 'none' ? 'none' : 'required',
        add_pin: profile.pin_mode === 'pinpad' ? 1 : 0,
        new_pin_required: profile.pin_mode === 'none' ? 0 : 1,
        pin_min_length: profile.pin_min_length,
        pin_max_length: profile.pin_max_length,
        pin_charset: profile.pin_charset,
        pin_reuse: profile.pin_reuse,
        pin_generated: profile.pin_generated,
        last_step: null,
        expires_on: expiresOn,
        attributes: null,
        disabled_reason: null,
        created_at: now,
        updated_at: now,
        activated_at: null,
        last_used_at: null,
      });
    }
  }

  /** A fresh CT-KIP activation code on an open distribution; returns the code (shown once). */
  private async issueActivationCode(repos: Repositories, hashKey: SecretHashKey, distributionId: number): Promise<string> {
    // A free locator is looked for before writing: on PostgreSQL a failed write (a unique
    // violation) aborts the whole transaction, so it cannot be retried in place. Only a
    // concurrent distribution picking the same locator in the same instant still fails (CONFLICT).
    for (let attempt = 0; attempt < 20; attempt++) {
      const locator = randomDigits(LOCATOR_DIGITS);
      if (await repos.distributions.locatorTaken(locator)) continue;
      const code = locator + randomDigits(CODE_SECRET_DIGITS);
      const sealed = seal(this.keyring, Buffer.from(code), credentialContext(distributionId));
      if (!(await repos.distributions.setActivationCode(distributionId, locator, hashKey.hash('activation-code', code), sealed)))
        throw new TallyError('CONFLICT', 'Another activation code was issued at the same moment; try again.');
      return code;
    }
    throw new TallyError('CONFLICT', 'Could not find a free activation code; try again.');
  }

  /**
   * Takes a token back from its holder into the unassigned inventory: open activation codes and
   * links stop working, and PIN, emergency access and lockout state go. A generated token loses its
   * seed (it gets a new one when next distributed); an imported one keeps it, as a hardware token
   * goes back on the shelf.
   */
  async unassign(actor: Actor, serial: string): Promise<TokenView> {
    let holder: string | undefined;
    return this.audit.change(
      actor,
      { action: 'token.unassign', targetType: 'token', target: serial },
      async (repos) => {
        requirePermission(actor, 'tokens.distribute');
        const token = await this.tokenRow(repos, serial);
        if (token.user_id === null) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is not assigned.`);
        await this.tokens.requireAuthorityOverHolder(actor, token, repos.users);
        holder = (await repos.tokens.holderOf(token))?.username;
        await repos.distributions.supersedeOpen(token.id);
        await repos.tokens.dropChallenges(token.id);
        const generated = token.origin === 'generated';
        const changed = await repos.tokens.update(
          serial,
          {
            user_id: null,
            state: 'unassigned',
            label: null,
            pin_hash: null,
            previous_pin_hash: null,
            new_pin_required: token.pin_mode === 'required' ? 1 : 0,
            failed_count: 0,
            next_code_required: 0,
            emergency_hash: null,
            emergency_expires_at: null,
            emergency_one_time: null,
            disabled_reason: null,
            activated_at: null,
            last_used_at: null,
            updated_at: this.clock.now(),
            ...(generated ? { seed_sealed: null, counter: 0, last_step: null, drift_steps: 0 } : {}),
          },
          { user_id: token.user_id },
        );
        if (!changed) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was changed by someone else just now.`);
        const row = await repos.tokens.getBySerial(serial);
        return this.tokens.view(row, repos.users);
      },
      () => ({ username: holder ?? null }),
    );
  }

  /**
   * Whether the actor may be shown this credential of the user's token: the holder sees their own;
   * seed-bearing ones (a CTF string, a token file or its link) go to super admins only, and one-time
   * codes to the help desk as `--helpdesk-credentials` says.
   */
  private mayShow(actor: Actor, user: Pick<UserRow, 'username'>, kind: CredentialKind): boolean {
    return (actor.kind === 'user' && actor.name === user.username) || this.mayBeShownOf(actor, kind);
  }

  /** Whether the actor may be shown this kind of credential of other people's tokens (a bulk run's activation codes). */
  mayBeShownOf(actor: Actor, kind: CredentialKind): boolean {
    return mayBeShown(actor, kind, this.options.helpdeskCredentials ?? 'none');
  }

  /** The outstanding activation code a distribution keeps sealed (for a bulk run's credentials file). */
  outstandingCode(distributionId: number, sealed: string): string {
    return open(this.keyring, sealed, credentialContext(distributionId)).toString();
  }

  /** Records that an administrator was shown a credential (never the credential itself); a holder's own are not recorded. */
  async recordShown(connection: Connection, actor: Actor, serial: string, username: string, kinds: CredentialKind[]): Promise<void> {
    if (actor.kind === 'user' || kinds.length === 0) return;
    await this.audit.record({ actor, entry: credentialShown(serial, username, kinds) }, connection);
  }

  private async distribute(
    repos: Repositories,
    hashKey: SecretHashKey,
    token: TokenRow,
    profile: ProfileRow,
    user: UserRow,
    actor: Actor,
    show = true,
  ): Promise<DistributionResult> {
    const type = tokenType(profile.token_type);
    const delivery = profile.delivery;
    const seedVisible = this.mayShow(actor, user, 'seed');
    if (delivery === 'ctf' && !seedVisible) {
      throw new TallyError(
        'FORBIDDEN',
        `A CTF token is its seed, shown once to whoever distributes it, and the ${actor.role} role never sees a seed: ask a super admin, or use a profile with QR, CT-KIP or file delivery.`,
      );
    }
    const now = this.clock.now();
    await repos.distributions.supersedeOpen(token.id);
    // CT-KIP derives the seed at activation: no seed exists until then.
    const seed = type.seedDerivedByCtkip(delivery) ? undefined : randomBytes(type.seedBytes);
    const activeAtOnce = delivery === 'ctf';
    const expiresAt = now + profile.activation_lifetime_days * DAY_MS;
    await repos.tokens.update(token.serial, {
      seed_sealed: seed ? this.tokens.sealSeed(token.serial, seed) : null,
      state: activeAtOnce ? 'active' : 'pending',
      activated_at: activeAtOnce ? now : null,
      counter: 0,
      last_step: null,
      drift_steps: 0,
      failed_count: 0,
      next_code_required: 0,
      updated_at: now,
    });
    const distributionId = await repos.distributions.open({
      tokenId: token.id,
      delivery,
      redeemedAt: activeAtOnce ? now : null,
      expiresAt,
      createdBy: actor.name,
      now,
    });
    const result: DistributionResult = {
      serial: token.serial,
      tokenType: token.token_type,
      delivery,
      state: activeAtOnce ? 'active' : 'pending',
      expiresAt: activeAtOnce ? null : new Date(expiresAt).toISOString(),
    };
    const shown: CredentialKind[] = [];
    const material = seed
      ? {
          serial: token.serial,
          seed,
          settings: { digits: token.digits, period: token.period, algorithm: token.algorithm, addPin: token.add_pin === 1 },
        }
      : undefined;
    switch (delivery) {
      case 'ctkip': {
        const code = await this.issueActivationCode(repos, hashKey, distributionId);
        const serviceUrl = this.ctkipUrl(profile);
        result.ctkipUrl = serviceUrl;
        // Otherwise the holder is shown a fresh code under Activate in the Self-Service Console.
        if (show && this.mayShow(actor, user, 'activation-code')) {
          result.activationCode = code;
          shown.push('activation-code');
        }
        if (profile.device_type === 'windows') result.appLink = buildAppLink({ form: 'windows', serviceUrl });
        else if (result.activationCode !== undefined) result.appLink = buildAppLink({ form: 'securid', serviceUrl, activationCode: code });
        break;
      }
      case 'file': {
        const linkToken = randomBytes(32).toString('base64url');
        const password = await this.filePassword(profile);
        await repos.distributions.attachFile(distributionId, {
          secretHash: downloadTokenHash(linkToken),
          credentialSealed: seal(this.keyring, Buffer.from(linkToken), credentialContext(distributionId)),
          filePasswordSealed:
            password === undefined ? null : seal(this.keyring, Buffer.from(password), distributionPasswordContext(distributionId)),
        });
        // Others are told nothing: the holder gets a fresh link in the Self-Service Console.
        if (show && seedVisible) {
          result.downloadUrl = `${this.options.publicUrl}/download/${linkToken}`;
          shown.push('download-link');
          if (password !== undefined) {
            result.filePassword = password;
            shown.push('file-password');
          }
        }
        break;
      }
      case 'ctf': {
        if (!material) throw new Error('A CTF delivery is made with its seed.');
        const { ctf, appLink } = ctfDeliverable(material, this.holder(token, user), ctfAppFor(profile.device_type));
        result.ctf = ctf;
        result.appLink = appLink;
        shown.push('seed');
        break;
      }
      case 'qr':
        // Nothing secret for the admin: the user sees the QR code in the Self-Service Console (for
        // SecurID apps a CT-KIP link with its activation code, issued now so that showing it changes nothing).
        if (type.seedDerivedByCtkip('qr')) await this.issueActivationCode(repos, hashKey, distributionId);
        break;
    }
    const details = { delivery, profile: profile.name, username: user.username };
    await this.audit.record(
      { actor, entry: { action: 'token.distribute', targetType: 'token', target: token.serial, details } },
      repos.connection,
    );
    await this.recordShown(repos.connection, actor, token.serial, user.username, shown);
    return result;
  }

  /**
   * What the token's holder scans or types to activate a pending token, shown only to that user
   * after logging on: the otpauth link (standard apps), or the outstanding CT-KIP code and app link
   * (SecurID apps). Showing changes nothing: a reload or a link prefetch shows the same code, and
   * the code an administrator phoned keeps working. With `renew` (the holder's button, a POST) a new
   * code replaces it and the old one stops working.
   */
  async activation(actor: Actor, serial: string, renew = false): Promise<Activation> {
    const action = renew ? 'token.activation.renew' : 'token.activation.show';
    const hashKey = await this.hasher.load();
    return this.audit.change(actor, { action, targetType: 'token', target: serial }, async (repos) => {
      const { token, distribution, profile, user } = await this.pendingForHolder(repos, actor, serial);
      const type = tokenType(token.token_type);
      if (distribution.delivery === 'qr' && !type.seedDerivedByCtkip('qr')) {
        if (renew)
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is activated by scanning its QR code; it has no activation code.`);
        const uri = otpauthLink(token.token_type, this.tokens.material(token), this.holder(token, user));
        return { kind: 'otpauth', uri, secret: encodeBase32(this.tokens.material(token).seed) };
      }
      if (type.seedDerivedByCtkip(distribution.delivery)) {
        const serviceUrl = this.ctkipUrl(profile);
        const activationCode = renew
          ? await this.issueActivationCode(repos, hashKey, distribution.id)
          : distribution.credential_sealed === null
            ? undefined
            : open(this.keyring, distribution.credential_sealed, credentialContext(distribution.id)).toString();
        if (activationCode === undefined) return { kind: 'ctkip', ctkipUrl: serviceUrl };
        return {
          kind: 'ctkip',
          ctkipUrl: serviceUrl,
          activationCode,
          appLink: buildAppLink({ form: 'securid', serviceUrl, activationCode }),
        };
      }
      throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is delivered as a ${distribution.delivery}, not activated here.`);
    });
  }

  /**
   * The holder's first code activates a QR-delivered OATH token, proving the app has the seed. The
   * accepted step is remembered, so the same code cannot then authenticate.
   */
  async confirmFirstCode(actor: Actor, serial: string, code: string): Promise<TokenView> {
    return this.audit.change(actor, { action: 'token.activation.confirm', targetType: 'token', target: serial }, async (repos) => {
      const { token, distribution } = await this.pendingForHolder(repos, actor, serial);
      const type = tokenType(token.token_type);
      if (distribution.delivery !== 'qr' || type.seedDerivedByCtkip('qr')) {
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is activated by its app, not by a first code.`);
      }
      if (distribution.failed_attempts >= MAX_CONFIRM_ATTEMPTS) {
        throw new TallyError('TOKEN_LOCKED', `Too many wrong codes for token ${serial}; ask for the token to be reissued.`);
      }
      const material = this.tokens.material(token);
      const now = this.clock.now();
      // The app's first code: the clock's step give or take one, or one of HOTP's first counters.
      const window = type.movingFactor === 'time' ? 1 : HOTP_FIRST_WINDOW;
      const found = verifyPasscode({
        passcode: code,
        digits: token.digits,
        codeAt: (step) => type.codeAt(material, step),
        expected: type.stepAt({ period: token.period, counter: 0 }, now),
        small: window,
        large: window,
        direction: type.movingFactor === 'time' ? 'both' : 'ahead',
        lastStep: null,
        pin: { kind: 'none' },
      });
      if (found.kind !== 'match') {
        await repos.distributions.countFailedAttempt(distribution.id);
        // The wrong code stays counted: five end the activation.
        throw new RefusalKeepingWrites(
          new TallyError('TOKENCODE_INVALID', 'That code is not right. Check the time on your phone and enter the code the app shows now.'),
        );
      }
      if (!(await repos.distributions.redeem(distribution.id, now)))
        throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} was activated or reissued just now.`);
      await repos.tokens.activate(serial, now, {
        last_step: found.step,
        counter: type.movingFactor === 'counter' ? found.step + 1 : 0,
      });
      const row = await repos.tokens.getBySerial(serial);
      return this.tokens.view(row, repos.users);
    });
  }

  private async pendingForHolder(repos: Repositories, actor: Actor, serial: string) {
    const token = await repos.tokens.findBySerial(serial);
    const user = token === undefined ? undefined : await repos.tokens.holderOf(token);
    // Another user's token looks exactly like a missing one.
    if (!token || !user || actor.kind !== 'user' || user.username !== actor.name)
      throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    const distribution = await repos.distributions.findOpenForToken(token.id);
    if (token.state !== 'pending' || !distribution)
      throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state} and has nothing waiting to be activated.`);
    if (distribution.expires_at <= this.clock.now())
      throw new TallyError('TOKEN_STATE_INVALID', `The activation of token ${serial} has expired; ask for the token to be reissued.`);
    if (token.profile_id === null) throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} has no profile.`);
    const profile = await repos.tokens.getProfile(token.profile_id);
    return { token, distribution, profile, user };
  }

  private async filePassword(profile: ProfileRow): Promise<string | undefined> {
    switch (profile.file_password_policy) {
      case 'none':
        return undefined;
      case 'generated':
        return generatedPassword();
      case 'admin':
        if (profile.file_password_sealed === null) throw new TallyError('CONFLICT', `Profile ${profile.name} has no file password set.`);
        return open(this.keyring, profile.file_password_sealed, profileFilePasswordContext(profile.id)).toString();
    }
  }
}
