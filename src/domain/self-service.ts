import { parseOtpauthUri } from '../core/otp/otpauth.js';
import { invalidField, TallyError } from '../errors.js';
import type { Delivery } from '../model/vocabulary.js';
import type { DistributionRepository } from '../store/repositories/distributions.js';
import type { ProfileRepository } from '../store/repositories/profiles.js';
import type { TokenRequestRepository } from '../store/repositories/token-requests.js';
import type { TokenRepository, TokenRow } from '../store/repositories/tokens.js';
import { tokenType as tokenTypeModule } from '../tokens/registry.js';
import type { TokenType } from '../tokens/types.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import { type AuthenticationService, type AuthResult, pinPolicyText } from './authentication.js';
import type { Clock } from './clock.js';
import { type DeviceDefinition, deliveriesFor } from './devices.js';
import type { Activation, DistributionService, HolderDownload } from './distribution.js';
import type { ProfileService } from './profiles.js';
import type { Settings, SettingsService } from './settings.js';
import type { CodeTest, TokenAdministrationService } from './token-administration.js';
import { replacementDue, type SelfServiceRequest, type TokenRequestService } from './token-requests.js';
import type { TokenView } from './tokens.js';
import type { SecondFactor, UserService } from './users.js';

export interface SelfServiceSettings {
  /** What a log-on takes: the password, or the password and (for a user with an active token) a passcode. */
  logOn: 'password' | 'password+passcode';
  /** What a user who reports a token lost gets in its place, shown once. */
  emergencyAccess: 'none' | 'one-time' | 'fixed';
}

export const DEFAULT_SELF_SERVICE: Readonly<SelfServiceSettings> = { logOn: 'password', emergencyAccess: 'one-time' };

/** The store-backed switches of the Self-Service Console's features. */
export type SelfServiceFeatures = Pick<
  Settings,
  'selfServiceRequest' | 'selfServiceReissue' | 'selfServiceReportLost' | 'selfServiceCtkipUrl'
>;

/** How a console log-on went: done, or a challenge to answer (the next tokencode, a new PIN). */
export type SelfServiceLogOn =
  | { outcome: 'logged-on'; actor: Actor }
  | {
      outcome: 'challenge';
      username: string;
      state: string;
      message: string;
      prompt: Extract<AuthResult, { result: 'challenge' }>['prompt'];
    };

/** What reporting a token lost gave: an emergency access code, by the policy, shown once. */
export interface LostReport {
  emergency: { code: string; until: string; oneTime: boolean } | null;
}

/** A token as its holder sees it in the Self-Service Console. */
export interface HolderToken {
  serial: string;
  tokenType: TokenType;
  label: string | null;
  state: TokenRow['state'];
  profile: string | null;
  /** The device's name, e.g. "RSA SecurID Software Token for iOS". */
  device: string | null;
  delivery: Delivery | null;
  /** For a pending token: whether it can be activated now, or its activation has run out. */
  activation: 'open' | 'expired' | null;
  createdAt: string;
  activatedAt: string | null;
  lastUsedAt: string | null;
  expiresOn: string | null;
  disabledReason: string | null;
  /** Whether the token has a PIN: none by its profile, one still to set (new PIN mode), or one set. */
  pin: 'none' | 'to-set' | 'set';
  /** The token app adds the PIN into the code it shows (SecurID), rather than the user typing it first. */
  pinInApp: boolean;
  /** What a new PIN may be, in words: "4 to 8 digits" (the policy the token was made with). */
  pinPolicy: string;
  /** Tally generates the token's PINs (its profile's `pinGenerated`): the holder asks for one rather than choosing. */
  pinGenerated: boolean;
  /** For an active token in its last 30 days, or past them: whether it has ended, the token that replaces it, or a request waiting for one. */
  renewal: { expired: boolean; replacement: string | null; requested: boolean } | null;
  /** For a token reported lost: the emergency access code that still works, if any (the code itself was shown once). */
  emergencyAccess: { until: string; oneTime: boolean } | null;
}

/** A profile a user may ask for, with how the token will reach them. */
export interface OfferedProfile {
  name: string;
  description: string | null;
  tokenType: TokenType;
  delivery: Delivery;
  howItArrives: string;
  requiresApproval: boolean;
}

/** Self-service profiles of one device and app version. */
export interface OfferGroup {
  device: string;
  appVersion: string | null;
  profiles: OfferedProfile[];
}

/** What the Activate page shows: exactly one delivery's secret, after the holder asked for it. */
export type HolderActivation =
  | (Extract<Activation, { kind: 'otpauth' }> & { issuer: string | null; account: string; digits: number; period: number | null })
  | (Omit<Extract<Activation, { kind: 'ctkip' }>, 'ctkipUrl'> & {
      appCanScan: boolean;
      /** Absent when the `selfServiceCtkipUrl` setting is off: the URL reaches the user another way. */
      ctkipUrl?: string;
    })
  | ({ kind: 'file' } & HolderDownload);

const LABEL_MAX = 64;

function howItArrives(tokenType: TokenType, delivery: Delivery, appCanScan: boolean): string {
  switch (delivery) {
    case 'qr':
      return tokenTypeModule(tokenType).seedDerivedByCtkip('qr')
        ? 'You scan a QR code with the app, which then fetches its token.'
        : 'You scan a QR code with the app, then type the first code it shows to confirm.';
    case 'ctkip':
      return appCanScan
        ? 'You scan a QR code with the app, or type a URL and a one-time activation code into it; the app then fetches its token.'
        : 'You type a URL and a one-time activation code into the app, which then fetches its token.';
    case 'file':
      return 'You download a token file once and import it into the app.';
    case 'ctf':
      return 'You import a token link or string into the app; it is shown once, right after you ask.';
  }
}

const strip = (code: string) => code.replace(/\s+/g, '');

/**
 * The holder's side of the token life cycle: log-on by the console's policy, their tokens, what
 * they may ask for, activation, and managing a token (rename, test a code, resync, PIN, report
 * lost, replace). Every method works on the actor's own tokens only; another user's token looks
 * exactly like a missing one.
 */
/** The repositories the holder's side reads and writes. */
export interface SelfServiceRepositories {
  tokens: TokenRepository;
  profiles: ProfileRepository;
  distributions: DistributionRepository;
  requests: TokenRequestRepository;
}

export class SelfService {
  constructor(
    private readonly store: SelfServiceRepositories,
    private readonly profiles: ProfileService,
    private readonly distribution: DistributionService,
    private readonly tokenAdmin: TokenAdministrationService,
    private readonly authentication: AuthenticationService,
    private readonly requests: TokenRequestService,
    private readonly users: UserService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    readonly settings: SelfServiceSettings,
    private readonly switches: SettingsService,
  ) {}

  /**
   * What the console offers now (the store-backed switches and limit, which another node may have
   * changed): the pages hide a switched-off control, and each method below refuses it anyway.
   */
  async features(): Promise<SelfServiceFeatures> {
    const { selfServiceRequest, selfServiceReissue, selfServiceReportLost, selfServiceCtkipUrl } = await this.switches.current();
    return { selfServiceRequest, selfServiceReissue, selfServiceReportLost, selfServiceCtkipUrl };
  }

  private async requireSwitchedOn(name: 'selfServiceReissue' | 'selfServiceReportLost', what: string): Promise<void> {
    if (!(await this.switches.current())[name])
      throw new TallyError('SELF_SERVICE_DISABLED', `${what} is switched off in the Self-Service Console; ask your IT help desk.`);
  }

  /**
   * A log-on by the console's policy: the password and, where the policy asks for it and the user
   * has an active token, a passcode, checked as one attempt: a failure of either counts once and
   * looks like a wrong password. A right passcode may still lead to a challenge.
   */
  async logOn(input: {
    username: string;
    password: string;
    passcode: string;
    source?: string;
    requestId?: string;
  }): Promise<SelfServiceLogOn> {
    let challenge: Extract<AuthResult, { result: 'challenge' }> | undefined;
    const secondFactor: SecondFactor | undefined =
      this.settings.logOn === 'password+passcode'
        ? async (username) => {
            const reply = await this.authentication.verifyConsoleLogOn({
              username,
              passcode: strip(input.passcode),
              source: input.source,
              requestId: input.requestId,
            });
            if (reply?.result === 'challenge') challenge = reply;
            return reply === null || reply.result !== 'reject';
          }
        : undefined;
    const actor = await this.users.logOn({
      username: input.username,
      password: input.password,
      source: input.source,
      requestId: input.requestId,
      console: 'self-service',
      secondFactor,
    });
    if (!challenge) return { outcome: 'logged-on', actor };
    return { outcome: 'challenge', username: actor.name, state: challenge.state, message: challenge.message, prompt: challenge.prompt };
  }

  /** The answer to a log-on's challenge; its state proves the password and passcode before it. */
  async answerLogOnChallenge(input: {
    username: string;
    state: string;
    answer: string;
    source?: string;
    requestId?: string;
  }): Promise<SelfServiceLogOn> {
    const reply = await this.authentication.verifyConsoleLogOn({
      username: input.username,
      passcode: strip(input.answer),
      state: input.state,
      source: input.source,
      requestId: input.requestId,
    });
    if (reply?.result === 'challenge')
      return { outcome: 'challenge', username: input.username, state: reply.state, message: reply.message, prompt: reply.prompt };
    if (reply?.result !== 'accept') throw new TallyError('INVALID_CREDENTIALS');
    return {
      outcome: 'logged-on',
      actor: { kind: 'user', name: input.username, role: 'user', source: input.source, requestId: input.requestId },
    };
  }

  async tokens(actor: Actor): Promise<HolderToken[]> {
    requirePermission(actor, 'tokens.holder');
    const rows = await this.store.tokens.listHeldBy(actor.name);
    const devices = await this.profiles.devices();
    return Promise.all(rows.map((row) => this.view(row, devices)));
  }

  async token(actor: Actor, serial: string): Promise<HolderToken> {
    requirePermission(actor, 'tokens.holder');
    return this.view(await this.own(actor, serial), await this.profiles.devices());
  }

  async rename(actor: Actor, serial: string, label: string): Promise<HolderToken> {
    await this.audit.change(actor, { action: 'token.rename', targetType: 'token', target: serial }, async (tx) => {
      requirePermission(actor, 'tokens.holder');
      const text = label.trim();
      if (text.length > LABEL_MAX || /[\p{Cc}\p{Cf}]/u.test(text)) throw invalidField('label', 'textTooLong', { max: LABEL_MAX });
      const token = await this.own(actor, serial, tx.tokens);
      await tx.tokens.update(token.serial, { label: text === '' ? null : text, updated_at: this.clock.now() }, { user_id: token.user_id });
    });
    return this.token(actor, serial);
  }

  /** The profiles open to self-service that the user may request (by their directory groups), grouped by device and app version. */
  async offer(actor: Actor): Promise<OfferGroup[]> {
    requirePermission(actor, 'tokens.request');
    const rows = await this.requests.requestable(actor);
    const devices = await this.profiles.devices();
    const groups = new Map<string, OfferGroup & { order: number }>();
    for (const row of rows) {
      const device = devices.find((d) => d.deviceType === row.device_type);
      const key = `${row.device_type}\u0000${row.app_version ?? ''}`;
      let group = groups.get(key);
      if (!group) {
        group = {
          device: device?.label ?? row.device_type,
          appVersion: row.app_version,
          profiles: [],
          order: device ? devices.indexOf(device) : devices.length,
        };
        groups.set(key, group);
      }
      group.profiles.push({
        name: row.name,
        description: row.description,
        tokenType: row.token_type,
        delivery: row.delivery,
        howItArrives: howItArrives(row.token_type, row.delivery, canScan(device, row.token_type, row.app_version)),
        requiresApproval: row.requires_approval === 1,
      });
    }
    // In the capability table's order (standard apps first), newer app versions first within a device.
    return [...groups.values()]
      .sort((a, b) => a.order - b.order || (b.appVersion ?? '').localeCompare(a.appVersion ?? '', undefined, { numeric: true }))
      .map(({ order: _order, ...group }) => group);
  }

  /**
   * What the holder needs to activate a pending token, shown on the Activate page: the otpauth
   * link, the outstanding CT-KIP code, or the outstanding one-time download link. Showing changes
   * nothing; `renew` (the page's button, a POST) replaces the code or link, and the old one stops
   * working. Nothing is shown once the token is active.
   */
  async activate(actor: Actor, serial: string, renew = false): Promise<HolderActivation> {
    requirePermission(actor, 'tokens.holder');
    const token = await this.own(actor, serial);
    if (renew) await this.requireSwitchedOn('selfServiceReissue', 'Asking for a new activation code or download link');
    const profile = token.profile_id === null ? undefined : await this.store.profiles.findById(token.profile_id);
    if (profile?.delivery === 'file') return { kind: 'file', ...(await this.distribution.holderDownload(actor, serial, renew)) };
    const activation = await this.distribution.activation(actor, serial, renew);
    if (activation.kind === 'otpauth') {
      const link = parseOtpauthUri(activation.uri);
      return {
        ...activation,
        issuer: link.issuer ?? null,
        account: link.account,
        digits: link.digits,
        period: link.type === 'totp' ? link.period : null,
      };
    }
    const device = profile ? (await this.profiles.devices()).find((d) => d.deviceType === profile.device_type) : undefined;
    const appCanScan = profile !== undefined && canScan(device, profile.token_type, profile.app_version);
    if ((await this.switches.current()).selfServiceCtkipUrl) return { ...activation, appCanScan };
    const { ctkipUrl: _hidden, ...shown } = activation;
    return { ...shown, appCanScan };
  }

  async confirm(actor: Actor, serial: string, tokencode: string): Promise<TokenView> {
    requirePermission(actor, 'tokens.holder');
    return this.distribution.confirmFirstCode(actor, serial, strip(tokencode));
  }

  async testCode(actor: Actor, serial: string, passcode: string): Promise<CodeTest> {
    return this.tokenAdmin.testCode(actor, serial, strip(passcode));
  }

  async resync(actor: Actor, serial: string, first: string, second: string): Promise<void> {
    await this.tokenAdmin.resync(actor, serial, strip(first), strip(second));
  }

  /** Sets or changes the PIN; the new one is typed twice, and changing one takes the current PIN. */
  async setPin(actor: Actor, serial: string, input: { current?: string; pin: string; again: string }): Promise<void> {
    requirePermission(actor, 'tokens.setOwnPin');
    await this.own(actor, serial);
    if (input.pin !== input.again) throw invalidField('repeat', 'pinRepetitionDiffers');
    await this.tokenAdmin.setPin(actor, serial, input.pin, input.current === undefined || input.current === '' ? undefined : input.current);
  }

  /** Tally generates a new PIN to the token's policy; changing one takes the current PIN. Shown this once. */
  async generatePin(actor: Actor, serial: string, current?: string): Promise<string> {
    requirePermission(actor, 'tokens.setOwnPin');
    await this.own(actor, serial);
    return this.tokenAdmin.generatePin(actor, serial, current === undefined || current === '' ? undefined : current);
  }

  /** The token stops working at once; by the console's policy an emergency access code stands in for it. */
  async reportLost(actor: Actor, serial: string): Promise<LostReport> {
    requirePermission(actor, 'tokens.holder');
    await this.requireSwitchedOn('selfServiceReportLost', 'Reporting a token lost');
    const policy = this.settings.emergencyAccess;
    const report = await this.tokenAdmin.reportLost(actor, serial, { emergency: policy });
    return {
      emergency:
        report.emergencyCode && report.expiresAt
          ? { code: report.emergencyCode, until: report.expiresAt, oneTime: policy === 'one-time' }
          : null,
    };
  }

  async requestReplacement(actor: Actor, serial: string): Promise<SelfServiceRequest> {
    return this.requests.requestReplacement(actor, serial);
  }

  private async own(actor: Actor, serial: string, tokens: TokenRepository = this.store.tokens): Promise<TokenRow> {
    const row = await tokens.findHeldBy(serial, actor.name);
    if (!row || actor.kind !== 'user') throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    return row;
  }

  private async view(row: TokenRow, devices: DeviceDefinition[]): Promise<HolderToken> {
    const profile = row.profile_id === null ? undefined : await this.store.profiles.findById(row.profile_id);
    let activation: HolderToken['activation'] = null;
    if (row.state === 'pending') {
      const open = await this.store.distributions.latestFor(row.id);
      activation = open && open.expires_at > this.clock.now() ? 'open' : 'expired';
    }
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const now = this.clock.now();
    let renewal: HolderToken['renewal'] = null;
    if (row.state === 'active' && row.profile_id !== null && row.user_id !== null && replacementDue(row.expires_on, now)) {
      const requested = await this.store.requests.hasPending(row.user_id, row.profile_id);
      renewal = {
        expired: row.expires_on !== null && row.expires_on < new Date(now).toISOString().slice(0, 10),
        replacement: (await this.requests.newerOfProfile(row.user_id, row.profile_id, row.id)) ?? null,
        requested,
      };
    }
    const emergencyUntil =
      row.state === 'disabled' && row.emergency_hash !== null && row.emergency_expires_at !== null && row.emergency_expires_at > now
        ? row.emergency_expires_at
        : undefined;
    return {
      serial: row.serial,
      tokenType: row.token_type,
      label: row.label,
      state: row.state,
      profile: profile?.name ?? null,
      device: profile ? (devices.find((d) => d.deviceType === profile.device_type)?.label ?? profile.device_type) : null,
      delivery: profile?.delivery ?? null,
      activation,
      createdAt: new Date(row.created_at).toISOString(),
      activatedAt: iso(row.activated_at),
      lastUsedAt: iso(row.last_used_at),
      expiresOn: row.expires_on,
      disabledReason: row.disabled_reason,
      pin: row.pin_mode !== 'required' ? 'none' : row.pin_hash !== null && row.new_pin_required === 0 ? 'set' : 'to-set',
      pinInApp: row.add_pin === 1,
      pinPolicy: pinPolicyText(row),
      pinGenerated: row.pin_generated === 1,
      renewal,
      emergencyAccess:
        emergencyUntil === undefined ? null : { until: new Date(emergencyUntil).toISOString(), oneTime: row.emergency_one_time === 1 },
    };
  }
}

/** Whether the device's app can scan a QR code at this version (SecurID 2.x on phones can, 1.x and desktops cannot). */
function canScan(device: DeviceDefinition | undefined, tokenType: TokenType, appVersion: string | null): boolean {
  return device !== undefined && deliveriesFor(device, tokenType, appVersion ?? undefined).includes('qr');
}
