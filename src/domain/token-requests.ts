import { invalidField, TallyError } from '../errors.js';
import type { TokenRequestState } from '../model/vocabulary.js';
import { isUniqueViolation } from '../store/connect.js';
import type { TokenRequestRecord, TokenRequestRepository } from '../store/repositories/token-requests.js';
import type { TokenRepository } from '../store/repositories/tokens.js';
import type { UserRepository } from '../store/repositories/users.js';
import type { Repositories } from '../store/unit-of-work.js';
import { type Actor, requireAuthorityOver, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import type { DirectoryService } from './directory.js';
import type { DistributionResult, DistributionService } from './distribution.js';
import type { Notifier } from './notifications.js';
import { type ProfileRow, type ProfileService, profileGroups } from './profiles.js';
import type { SettingsService } from './settings.js';

export interface TokenRequestView {
  id: number;
  username: string;
  profile: string;
  state: TokenRequestState;
  /** Why it was rejected. */
  reason: string | null;
  /** The token distributed on approval. */
  serial: string | null;
  createdAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
}

/** What asking for a token in the Self-Service Console led to. */
export type SelfServiceRequest = { outcome: 'distributed'; token: DistributionResult } | { outcome: 'waiting'; request: TokenRequestView };

const REASON_MAX = 500;
const DAY_MS = 86_400_000;
/** How long a rejection stays on the user's page. */
const REJECTION_SHOWN_MS = 30 * DAY_MS;
/** From how many days before its last day a token may be replaced in the Self-Service Console. */
const REPLACEMENT_DAYS = 30;

/** Whether a token whose last day is `expiresOn` (a UTC day) may be replaced now: in its last 30 days, or once it has ended. */
export function replacementDue(expiresOn: string | null, now: number): boolean {
  return expiresOn !== null && expiresOn <= new Date(now + REPLACEMENT_DAYS * DAY_MS).toISOString().slice(0, 10);
}

/**
 * Tokens users ask for in the Self-Service Console. A profile open to self-service gives a token at
 * once, unless it needs approval: then the request waits for an admin, who approves (the token is
 * distributed then) or rejects it with a reason; either way the user is mailed.
 */
export class TokenRequestService {
  private readonly requests: TokenRequestRepository;

  constructor(
    private readonly store: Pick<Repositories, 'tokens' | 'profiles' | 'users' | 'requests'>,
    private readonly profiles: ProfileService,
    private readonly distribution: DistributionService,
    private readonly settings: SettingsService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly notifier?: Pick<Notifier, 'requestDecided'>,
    private readonly directory?: Pick<DirectoryService, 'memberships'>,
  ) {
    this.requests = store.requests;
  }

  /** The logged-on user asks for a token of a self-service profile for themself. */
  async request(actor: Actor, profileName: string): Promise<SelfServiceRequest> {
    requirePermission(actor, 'tokens.request');
    await this.requireRequestsOpen();
    const profile = await this.profiles.row(profileName);
    if (profile.self_service !== 1) throw new TallyError('PROFILE_NOT_FOUND', `No token profile named ${profileName}.`);
    const [allowed] = await this.allowed(actor, [profile]);
    if (!allowed)
      throw new TallyError(
        'PROFILE_RESTRICTED',
        `Token profile ${profile.name} is for members of certain directory groups, and you are in none of them; ask your IT help desk.`,
      );
    return this.submit(actor, profile);
  }

  /** The self-service profiles the logged-on user may request: those for everyone, and those for a directory group they are in. */
  async requestable(actor: Actor): Promise<ProfileRow[]> {
    requirePermission(actor, 'tokens.request');
    const profiles = await this.store.profiles.list({ selfService: true });
    const allowed = await this.allowed(actor, profiles);
    return profiles.filter((_, index) => allowed[index]);
  }

  /**
   * Whether the user may request each profile: one that lists no directory groups is for
   * everyone; one that does, only for a member of one of them (nested groups included), asked of
   * the directory once for all. An internal user is in no directory group.
   */
  private async allowed(actor: Actor, profiles: ProfileRow[]): Promise<boolean[]> {
    const groups = profiles.map(profileGroups);
    if (groups.every((list) => list.length === 0)) return profiles.map(() => true);
    const user = await this.store.users.findByUsername(actor.name);
    const memberships = user && this.directory ? await this.directory.memberships(user, groups.flat()) : [];
    return groups.map(
      (list) =>
        list.length === 0 ||
        list.some((group) =>
          memberships.some((member) => member.source === group.source && member.dn.toLowerCase() === group.dn.toLowerCase()),
        ),
    );
  }

  /**
   * The logged-on user asks for a new token to replace one of theirs in its last 30 days (or after
   * it ended), by the same profile and its rules: at once, or after an admin's approval. A profile
   * closed to self-service still replaces its own tokens, but always through approval.
   */
  async requestReplacement(actor: Actor, serial: string): Promise<SelfServiceRequest> {
    await this.distribution.loadKeys();
    await this.requireStillAllowed(actor, serial);
    return this.audit.change(
      actor,
      { action: 'token.replacement', targetType: 'token', target: serial },
      async (tx) => {
        requirePermission(actor, 'tokens.request');
        await this.requireRequestsOpen(tx);
        const token = await tx.tokens.findHeldBy(serial, actor.name);
        // Another user's token looks exactly like a missing one.
        if (!token || token.user_id === null || actor.kind !== 'user')
          throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
        if (token.state !== 'active')
          throw new TallyError('TOKEN_STATE_INVALID', `Token ${serial} is ${token.state}; only an active token is replaced.`);
        if (!replacementDue(token.expires_on, this.clock.now())) {
          throw new TallyError(
            'TOKEN_STATE_INVALID',
            `Token ${serial} is valid until ${token.expires_on ?? 'further notice'}; a replacement can be requested from ${REPLACEMENT_DAYS} days before its last day.`,
          );
        }
        const profile = token.profile_id === null ? undefined : await tx.profiles.findById(token.profile_id);
        if (!profile)
          throw new TallyError(
            'TOKEN_STATE_INVALID',
            `Token ${serial} was imported and has no profile to make a replacement by; ask your IT helpdesk.`,
          );
        const newer = await this.newerOfProfile(token.user_id, profile.id, token.id, tx.tokens);
        if (newer) throw new TallyError('TOKEN_STATE_INVALID', `Token ${newer} replaces token ${serial} already.`);
        return this.submit(actor, profile, serial, tx);
      },
      (result): Record<string, number | string> =>
        result.outcome === 'waiting' ? { request: result.request.id } : { replacement: result.token.serial },
    );
  }

  /**
   * A replacement is by the token's profile, so it follows the profile's groups as a request does:
   * someone who left them is not given a new token. Asked before the change's transaction, since
   * it may wait on the directory.
   */
  private async requireStillAllowed(actor: Actor, serial: string): Promise<void> {
    const held = await this.store.tokens.findHeldBy(serial, actor.name);
    const profile = held?.profile_id == null ? undefined : await this.store.profiles.findById(held.profile_id);
    if (profile && !(await this.allowed(actor, [profile]))[0])
      throw new TallyError(
        'PROFILE_RESTRICTED',
        `Token profile ${profile.name} is for members of certain directory groups, and you are in none of them now; ask your IT help desk.`,
      );
  }

  /** A token of the same profile the user was given after token `tokenId` and still has: what replaces that token. */
  async newerOfProfile(
    userId: number,
    profileId: number,
    tokenId: number,
    tokens: TokenRepository = this.store.tokens,
  ): Promise<string | undefined> {
    return tokens.newestOfProfileAfter(userId, profileId, tokenId);
  }

  /** Whether users may ask for tokens at all (the `selfServiceRequest` setting). */
  async requestsOpen(within?: Repositories): Promise<boolean> {
    return (await this.settings.current(within)).selfServiceRequest;
  }

  private async requireRequestsOpen(within?: Repositories): Promise<void> {
    if (!(await this.requestsOpen(within)))
      throw new TallyError(
        'SELF_SERVICE_DISABLED',
        'Requesting tokens is switched off in the Self-Service Console; ask your IT help desk.',
      );
  }

  /**
   * Distributes or files the request; inside a replacement's change (`within`), as part of it. A
   * filed request needs a free slot under the per-user token limit as a token would, counting the
   * user's other waiting requests; a replacement takes the place of the token it replaces.
   */
  private async submit(actor: Actor, profile: ProfileRow, replaces?: string, within?: Repositories): Promise<SelfServiceRequest> {
    if (profile.self_service === 1 && profile.requires_approval !== 1)
      return {
        outcome: 'distributed',
        token: await this.distribution.distributeToUser(actor, actor.name, profile.name, { within, replaces }),
      };
    return this.audit.change(
      actor,
      { action: 'token.request', targetType: 'profile', target: profile.name, details: replaces ? { replaces } : undefined },
      async (tx) => {
        const user = await tx.users.findByUsername(actor.name);
        if (!user || user.disabled === 1) throw new TallyError('FORBIDDEN', 'This account cannot request tokens.');
        await this.distribution.requireTokenSlot(tx, user, { replaces, countRequests: true });
        try {
          const row = await tx.requests.insert({
            user_id: user.id,
            profile_id: profile.id,
            replaces: replaces ?? null,
            created_at: this.clock.now(),
          });
          return { outcome: 'waiting' as const, request: view({ ...row, username: user.username, profile_name: profile.name }) };
        } catch (error) {
          if (isUniqueViolation(error))
            throw new TallyError('TOKEN_REQUEST_PENDING', `Your request for ${profile.name} is waiting for approval already.`);
          throw error;
        }
      },
      (result) => ({ request: result.outcome === 'waiting' ? result.request.id : null }),
      within,
    );
  }

  /** The user's own requests that are not tokens yet: those waiting, and recent rejections with their reason. */
  async mine(actor: Actor): Promise<TokenRequestView[]> {
    requirePermission(actor, 'tokens.holder');
    const user = await this.store.users.findByUsername(actor.name);
    if (!user) return [];
    const since = this.clock.now() - REJECTION_SHOWN_MS;
    const rows = await this.requests.query({ userId: user.id, limit: 50, offset: 0 });
    return rows.filter((row) => row.state === 'pending' || (row.state === 'rejected' && (row.decided_at ?? 0) >= since)).map(view);
  }

  async list(actor: Actor, filter: { state?: TokenRequestState; limit: number; offset: number }): Promise<TokenRequestView[]> {
    requirePermission(actor, 'tokens.read');
    return (await this.requests.query(filter)).map(view);
  }

  /** Approves a waiting request and distributes the token; if the distribution fails, the request waits again. */
  async approve(actor: Actor, id: number): Promise<{ request: TokenRequestView; token: DistributionResult }> {
    await this.distribution.loadKeys();
    return this.audit.change(
      actor,
      { action: 'token.request.approve', targetType: 'request', target: String(id) },
      async (tx) => {
        requirePermission(actor, 'tokens.distribute');
        const request = await this.pending(id, tx.requests);
        await this.requireAuthorityOverRequester(actor, request, tx.users);
        const now = this.clock.now();
        if (!(await tx.requests.decide(id, { state: 'approved', decided_at: now, decided_by: actor.name }))) throw decidedAlready(id);
        // A distribution that fails rolls the decision back with it: the request waits again.
        const token = await this.distribution.distributeToUser(actor, request.username, request.profile_name, {
          notifyHolder: false,
          within: tx,
          replaces: request.replaces ?? undefined,
        });
        await tx.requests.update(id, { serial: token.serial });
        // One mail: the decision, which says the token is ready.
        await this.notifier?.requestDecided(tx, id);
        return { request: view({ ...request, state: 'approved', decided_at: now, decided_by: actor.name, serial: token.serial }), token };
      },
      (result) => ({ serial: result.token.serial, username: result.request.username }),
    );
  }

  async reject(actor: Actor, id: number, reason: string): Promise<TokenRequestView> {
    return this.audit.change(
      actor,
      { action: 'token.request.reject', targetType: 'request', target: String(id) },
      async (tx) => {
        requirePermission(actor, 'tokens.distribute');
        const text = reason.trim();
        if (text.length < 1 || text.length > REASON_MAX) throw invalidField('reason', 'rejectionReasonLength', { max: REASON_MAX });
        const request = await this.pending(id, tx.requests);
        await this.requireAuthorityOverRequester(actor, request, tx.users);
        const now = this.clock.now();
        if (!(await tx.requests.decide(id, { state: 'rejected', reason: text, decided_at: now, decided_by: actor.name })))
          throw decidedAlready(id);
        await this.notifier?.requestDecided(tx, id);
        return view({ ...request, state: 'rejected', reason: text, decided_at: now, decided_by: actor.name });
      },
      (result) => ({ username: result.username }),
    );
  }

  /** An administrator's own request (made in the Self-Service Console) is a super admin's to decide. */
  private async requireAuthorityOverRequester(actor: Actor, request: TokenRequestRecord, users: UserRepository): Promise<void> {
    requireAuthorityOver(actor, await users.findByUsername(request.username));
  }

  private async pending(id: number, requests: TokenRequestRepository): Promise<TokenRequestRecord> {
    const request = await requests.find(id);
    if (!request) throw new TallyError('TOKEN_REQUEST_NOT_FOUND', `No token request ${id}.`);
    if (request.state !== 'pending') throw decidedAlready(id);
    return request;
  }
}

function decidedAlready(id: number): TallyError {
  return new TallyError('TOKEN_REQUEST_DECIDED', `Token request ${id} has been decided already.`);
}

function view(row: TokenRequestRecord): TokenRequestView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: row.id,
    username: row.username,
    profile: row.profile_name,
    state: row.state,
    reason: row.reason,
    serial: row.serial,
    createdAt: new Date(row.created_at).toISOString(),
    decidedAt: iso(row.decided_at),
    decidedBy: row.decided_by,
  };
}
