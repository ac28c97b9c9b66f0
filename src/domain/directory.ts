import { randomUUID } from 'node:crypto';
import type { Entry } from 'ldapts';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import {
  groupsWithMembersFilter,
  guidText,
  inChainMemberFilter,
  inChainMemberOfFilter,
  isAttributeName,
  isWellFormedFilter,
  userAccountControlRefuses,
  userFilter,
} from '../core/ldap/filter.js';
import { errorCatalogue, invalidField, isTallyError, TallyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { DIRECTORY_PRESETS, type DirectoryPreset, type DirectoryState, type UserRole } from '../model/vocabulary.js';
import { isUniqueViolation } from '../store/connect.js';
import type { IdentitySourceRepository, IdentitySourceRow, SyncFinish } from '../store/repositories/identity-sources.js';
import type { UserRepository, UserRow } from '../store/repositories/users.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import type { DirectoryConnector, DirectoryEndpoint, DirectorySession } from './directory-connection.js';
import type { Observer } from './observer.js';
import { repeatEvery } from './repeat.js';

/** Which directory attribute holds each fact Tally keeps of a user. */
export interface AttributeMapping {
  login: string;
  id: string;
  firstName: string;
  lastName: string;
  mail: string;
  mobile: string;
}

export type RoleGroups = Partial<Record<'superadmin' | 'helpdesk', string>>;

/** An LDAP source as the REST API and the CLI give it; what the preset fills may be left out. */
export interface IdentitySourceInput {
  name: string;
  type: 'ldap';
  preset?: DirectoryPreset;
  urls: string[];
  startTls?: boolean;
  caFile?: string | null;
  allowPlain?: boolean;
  bindDn: string;
  bindPassword: string;
  baseDn: string;
  userFilter?: string;
  loginAttribute?: string;
  attributes?: Partial<AttributeMapping>;
  roleGroups?: RoleGroups;
  timeoutSeconds?: number;
  /** Minutes between the syncs the server runs by itself; 0: only when asked. */
  syncIntervalMinutes?: number;
}

export type IdentitySourceChanges = Partial<Omit<IdentitySourceInput, 'name' | 'type'>>;

/** What may leave the service about a source: never its bind password. */
export interface IdentitySourceView {
  name: string;
  type: 'ldap';
  preset: DirectoryPreset;
  position: number;
  urls: string[];
  startTls: boolean;
  caFile: string | null;
  allowPlain: boolean;
  bindDn: string;
  baseDn: string;
  userFilter: string;
  loginAttribute: string;
  attributes: AttributeMapping;
  roleGroups: RoleGroups;
  timeoutSeconds: number;
  syncIntervalMinutes: number;
  /** The last sync's end, or null before the first. */
  lastSync: LastSync | null;
  createdAt: string;
  updatedAt: string;
}

/** How a source's last sync ended: its counts, or (failed) the code of the error that ended it. */
export type LastSync = { at: string } & (
  | { outcome: 'ok'; checked: number; updated: number; gone: number; disabled: number }
  | { outcome: 'failed'; error: string }
);

/** A user as found in a directory. */
export interface DirectoryUser {
  dn: string;
  login: string;
  externalId: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  mobile: string | null;
  /** Why the directory would refuse them (disabled, locked), or null. */
  refused: string | null;
  /** The role the source's role groups give, or undefined when the source maps no groups. */
  role: UserRole | undefined;
}

/** Why the directory refuses a directory user's authentication. */
export type DirectoryRefusal = 'disabled in directory' | 'gone from directory';

/** A directory group as profiles, bulk runs and list filters name it: the source it is in and its DN. */
export interface DirectoryGroup {
  source: string;
  dn: string;
}

/** A group's members as a bulk run by group takes them: their local records, and the login names left out. */
export interface EnrolledMembers {
  users: UserRow[];
  /** Members whose login name another local user has: they cannot be given a record, so they get no token. */
  nameTaken: string[];
}

/**
 * A group in its one-line form, `SOURCE:DN` (a source name has no colon), as the CLI and query
 * strings take it.
 */
export function parseDirectoryGroup(text: string, field = 'group'): DirectoryGroup {
  const colon = text.indexOf(':');
  if (colon < 1) throw invalidField(field, 'directoryGroupForm');
  return { source: text.slice(0, colon), dn: text.slice(colon + 1) };
}

/** The ids of a directory group's members who have a local record, for a list filtered by the group. */
export async function membersOf(directory: Pick<DirectoryService, 'localMembers'> | undefined, group: DirectoryGroup): Promise<number[]> {
  if (!directory) throw new TallyError('IDENTITY_SOURCE_NOT_FOUND', `No identity source named ${group.source.slice(0, 64)}.`);
  return (await directory.localMembers(group)).map((user) => user.id);
}

/** What the source test shows: the entry found, each mapped attribute, the groups it is in, and the role. */
export interface IdentitySourceTest {
  source: string;
  url: string | null;
  found: DirectoryUser;
  /** The groups the entry is in: memberOf on AD; elsewhere also the groups that name it as `member`, nested. */
  groups: string[];
}

export interface SyncReport {
  source: string;
  checked: number;
  updated: number;
  gone: string[];
  disabled: string[];
}

/** The usual values of each kind of directory. */
export const DIRECTORY_PRESET_VALUES: Record<DirectoryPreset, { userFilter: string; attributes: AttributeMapping }> = {
  openldap: {
    userFilter: '(objectClass=inetOrgPerson)',
    attributes: { login: 'uid', id: 'entryUUID', firstName: 'givenName', lastName: 'sn', mail: 'mail', mobile: 'mobile' },
  },
  ad: {
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    attributes: { login: 'sAMAccountName', id: 'objectGUID', firstName: 'givenName', lastName: 'sn', mail: 'mail', mobile: 'mobile' },
  },
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A DN as read, not parsed: attribute=value pairs, nothing a control character could hide in. */
const DN = /^[A-Za-z0-9.-]+=[^\p{Cc}]+$/u;
const DEFAULT_TIMEOUT_SECONDS = 5;
const DEFAULT_SYNC_INTERVAL_MINUTES = 60;
/** A week: a source synced less often would keep gone users' tokens working too long. */
const MAX_SYNC_INTERVAL_MINUTES = 10_080;
/** A node's claim on a source's sync: longer than any sync takes, short enough that a crashed node's sync is soon taken over. */
const SYNC_LEASE_MS = 15 * 60_000;
/** After a failed sync the next is tried this soon (or at the source's interval, if sooner). */
const SYNC_RETRY_MS = 5 * 60_000;
/** Lookups are cached this long: enough to spare the directory a log-on's repeated reads, short enough for a change there to show. */
const CACHE_MS = 30_000;
const CACHE_ENTRIES = 1000;
/** Nested groups are followed this deep, and at most this many groups are looked at. */
const GROUP_DEPTH = 8;
const GROUP_LIMIT = 500;
/** A group's members (nested included) are read up to this many. */
const GROUP_MEMBERS_LIMIT = 10_000;
const MEMBER_ATTRIBUTES = ['member', 'uniqueMember'];
/** Read with every user: what says the directory refuses the account, and the groups it is in. */
const LOCK_ATTRIBUTES = ['userAccountControl', 'pwdAccountLockedTime', 'nsAccountLock', 'memberOf'];

function bindPasswordContext(id: number): string {
  return `identity-source:${id}:bind-password`;
}

interface Source {
  row: IdentitySourceRow;
  preset: DirectoryPreset;
  attributes: AttributeMapping;
  roleGroups: RoleGroups;
  endpoint: DirectoryEndpoint;
}

function first(entry: Entry, attribute: string): string | Buffer | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const value = key ? entry[key] : undefined;
  return Array.isArray(value) ? value[0] : value;
}

function text(entry: Entry, attribute: string): string | null {
  const value = first(entry, attribute);
  if (value === undefined) return null;
  const string = typeof value === 'string' ? value : value.toString('utf8');
  return string.slice(0, 256) || null;
}

function all(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const value = key ? entry[key] : undefined;
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

function normalDn(dn: string): string {
  return dn.replace(/\s*,\s*/g, ',').toLowerCase();
}

function sameDn(a: string, b: string): boolean {
  return normalDn(a) === normalDn(b);
}

/** Whether `dn` is `base` or below it. */
function isUnder(dn: string, base: string): boolean {
  const [entry, suffix] = [normalDn(dn), normalDn(base)];
  return entry === suffix || entry.endsWith(`,${suffix}`);
}

/**
 * LDAP and Active Directory as identity sources. Owns the sources (kept in the store, bind
 * password sealed), finding a user by login name (escaped filter, cached briefly), log-on by bind
 * (no directory password is kept), what the directory refuses (AD's ACCOUNTDISABLE and LOCKOUT
 * bits, `pwdAccountLockedTime`, `nsAccountLock`), roles from groups (nested: by AD's in-chain
 * rule on AD, else by following `member` up), and the local record a directory user gets on first
 * use, tied to the directory's stable id so that a rename keeps their tokens.
 */
export class DirectoryService {
  private readonly cache = new Map<string, { at: number; user: DirectoryUser | null }>();
  /** Sources that did not answer an authentication's lookup, and when: not asked again for `CACHE_MS`, so an outage does not hold every batch up for the timeout. */
  private readonly unanswered = new Map<number, number>();
  /** This process's name on the sync leases it takes. */
  private readonly owner = randomUUID();

  constructor(
    private readonly sources: IdentitySourceRepository,
    private readonly users: UserRepository,
    private readonly connector: DirectoryConnector,
    private readonly keyring: Keyring,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly observer: Observer,
    private readonly logger?: Logger,
  ) {}

  // --- Administration ---

  async create(actor: Actor, input: IdentitySourceInput): Promise<IdentitySourceView> {
    const name = String(input.name ?? '').slice(0, 64);
    return this.audit.change(
      actor,
      {
        action: 'identity-source.create',
        targetType: 'identity-source',
        target: name,
        details: { urls: (input.urls ?? []).join(' ').slice(0, 500) },
      },
      async (tx) => {
        requirePermission(actor, 'identitySources.manage');
        if (!NAME.test(input.name)) throw invalidField('name', 'identitySourceNameShape');
        if (input.type !== 'ldap') throw invalidField('type', 'oneOf', { choices: 'ldap' });
        const preset = input.preset ?? 'openldap';
        if (!(DIRECTORY_PRESETS as readonly string[]).includes(preset))
          throw invalidField('preset', 'oneOf', { choices: DIRECTORY_PRESETS.join(', ') });
        const defaults = DIRECTORY_PRESET_VALUES[preset];
        const settings = checkSettings({
          urls: input.urls,
          startTls: input.startTls ?? false,
          allowPlain: input.allowPlain ?? false,
          caFile: input.caFile ?? null,
          bindDn: input.bindDn,
          bindPassword: input.bindPassword,
          baseDn: input.baseDn,
          userFilter: input.userFilter ?? defaults.userFilter,
          attributes: { ...defaults.attributes, ...input.attributes, ...(input.loginAttribute ? { login: input.loginAttribute } : {}) },
          roleGroups: input.roleGroups ?? {},
          timeoutSeconds: input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
          syncIntervalMinutes: input.syncIntervalMinutes ?? DEFAULT_SYNC_INTERVAL_MINUTES,
        });
        const bindPassword = settings.bindPassword;
        if (bindPassword === undefined) throw invalidField('bindPassword', 'lengthRange', { min: 1, max: 1024 });
        const now = this.clock.now();
        try {
          const row = await tx.identitySources.insert(
            {
              name: input.name,
              preset,
              ...storedSettings(settings),
              created_at: now,
              updated_at: now,
            },
            (id) => seal(this.keyring, Buffer.from(bindPassword), bindPasswordContext(id)),
          );
          return view(row);
        } catch (error) {
          if (isUniqueViolation(error)) throw new TallyError('CONFLICT', `An identity source named ${input.name} exists already.`);
          throw error;
        }
      },
    );
  }

  async list(actor: Actor): Promise<IdentitySourceView[]> {
    requirePermission(actor, 'identitySources.manage');
    return (await this.sources.list()).map(view);
  }

  /** Changes a source's settings; a new bind password is sealed again. Cached lookups are dropped. */
  async update(actor: Actor, name: string, changes: IdentitySourceChanges): Promise<IdentitySourceView> {
    const fields = Object.keys(changes).filter((key) => changes[key as keyof IdentitySourceChanges] !== undefined);
    const updated = await this.audit.change(
      actor,
      { action: 'identity-source.update', targetType: 'identity-source', target: name.slice(0, 64), details: { fields: fields.join(',') } },
      async (tx) => {
        requirePermission(actor, 'identitySources.manage');
        const row = await this.row(name, tx.identitySources);
        const current = view(row);
        const preset = changes.preset ?? current.preset;
        if (!(DIRECTORY_PRESETS as readonly string[]).includes(preset))
          throw invalidField('preset', 'oneOf', { choices: DIRECTORY_PRESETS.join(', ') });
        const settings = checkSettings({
          urls: changes.urls ?? current.urls,
          startTls: changes.startTls ?? current.startTls,
          allowPlain: changes.allowPlain ?? current.allowPlain,
          caFile: changes.caFile !== undefined ? changes.caFile : current.caFile,
          bindDn: changes.bindDn ?? current.bindDn,
          bindPassword: changes.bindPassword,
          baseDn: changes.baseDn ?? current.baseDn,
          userFilter: changes.userFilter ?? current.userFilter,
          attributes: {
            ...current.attributes,
            ...changes.attributes,
            ...(changes.loginAttribute ? { login: changes.loginAttribute } : {}),
          },
          roleGroups: changes.roleGroups ?? current.roleGroups,
          timeoutSeconds: changes.timeoutSeconds ?? current.timeoutSeconds,
          syncIntervalMinutes: changes.syncIntervalMinutes ?? current.syncIntervalMinutes,
        });
        const newPassword = settings.bindPassword;
        const now = this.clock.now();
        const result = await tx.identitySources.update(row.id, {
          preset,
          ...storedSettings(settings),
          // A new interval counts from now.
          ...(settings.syncIntervalMinutes !== current.syncIntervalMinutes
            ? { next_sync_at: now + settings.syncIntervalMinutes * 60_000 }
            : {}),
          ...(newPassword !== undefined
            ? { bind_password_sealed: seal(this.keyring, Buffer.from(newPassword), bindPasswordContext(row.id)) }
            : {}),
          updated_at: now,
        });
        return view(result ?? row);
      },
    );
    this.forgetLookups();
    return updated;
  }

  /** Puts the sources in this order; every source must be named once. */
  async reorder(actor: Actor, names: string[]): Promise<IdentitySourceView[]> {
    const result = await this.audit.change(
      actor,
      { action: 'identity-source.update', targetType: 'identity-source', target: '*', details: { order: names.join(',').slice(0, 500) } },
      async (tx) => {
        requirePermission(actor, 'identitySources.manage');
        const rows = await tx.identitySources.list();
        const ids = names.map((name) => rows.find((row) => row.name === name)?.id);
        if (ids.length !== rows.length || new Set(ids).size !== rows.length || ids.includes(undefined))
          throw invalidField('order', 'oneOf', { choices: rows.map((row) => row.name).join(', ') });
        await tx.identitySources.reorder(ids as number[]);
        return (await tx.identitySources.list()).map(view);
      },
    );
    this.forgetLookups();
    return result;
  }

  /** Removes a source. Its users keep their records (and tokens) but can no longer log on or authenticate. */
  async remove(actor: Actor, name: string): Promise<void> {
    await this.audit.change(
      actor,
      { action: 'identity-source.remove', targetType: 'identity-source', target: name.slice(0, 64) },
      async (tx) => {
        requirePermission(actor, 'identitySources.manage');
        const row = await this.row(name, tx.identitySources);
        for (const user of await tx.users.listFromSource(row.id)) {
          await tx.users.update(user.id, { disabled: 1, directory_state: 'gone', updated_at: this.clock.now() });
        }
        await tx.identitySources.remove(name);
      },
    );
    this.connector.forget(name);
    this.forgetLookups();
  }

  /** "Bind and find this user": what the source finds for a login name, uncached, how it maps, and its groups. */
  async test(actor: Actor, name: string, login: string): Promise<IdentitySourceTest> {
    requirePermission(actor, 'identitySources.manage');
    const source = this.source(await this.row(name, this.sources));
    const result = await this.connector
      .run(source.endpoint, async (session) => {
        const entry = await this.findEntry(source, session, login);
        if (!entry) return null;
        return { found: await this.describe(source, session, entry), groups: await this.enclosingGroups(source, session, entry) };
      })
      .catch((error: unknown) => {
        // The test asks whether the source's settings work: a directory that does not answer is its answer, not an outage of Tally.
        if (isTallyError(error) && error.code === 'DIRECTORY_UNAVAILABLE')
          throw new TallyError('IDENTITY_SOURCE_UNREACHABLE', errorCatalogue.IDENTITY_SOURCE_UNREACHABLE.message);
        throw error;
      });
    if (!result) throw new TallyError('USER_NOT_FOUND', `${name} finds no user with ${source.attributes.login} ${login.slice(0, 128)}.`);
    return { source: name, url: source.endpoint.urls[0] ?? null, ...result };
  }

  /** Source names by id, for showing where a user comes from. */
  async sourceNames(): Promise<Map<number, string>> {
    return new Map((await this.sources.list()).map((row) => [row.id, row.name]));
  }

  /**
   * Compares a source's local users with the directory now (the console's or the CLI's button):
   * attributes and roles refreshed, users the directory disables disabled here, users it no longer
   * has marked gone and disabled (their tokens stop authenticating). A user the directory enables
   * again is enabled again here. CONFLICT while another node (or request) syncs the source.
   */
  async sync(actor: Actor, name: string): Promise<SyncReport> {
    requirePermission(actor, 'identitySources.manage');
    const row = await this.row(name, this.sources);
    const now = this.clock.now();
    const claimed = await this.sources.claimSync(row.id, this.owner, now, now + SYNC_LEASE_MS, false);
    if (!claimed) throw new TallyError('CONFLICT', `A sync of ${row.name} is running; try again when it has ended.`);
    return this.syncClaimed(actor, claimed);
  }

  /**
   * One pass of a node's periodic sync: every source whose interval has passed, and which no
   * other node is syncing, is claimed and synced. A source whose directory does not answer is
   * recorded as failed and left as it was; the others go on. Returns how many sources it synced.
   */
  async syncDue(goOn: () => boolean = () => true): Promise<number> {
    let synced = 0;
    for (const row of await this.sources.list()) {
      if (!goOn()) break;
      const now = this.clock.now();
      const claimed = await this.sources.claimSync(row.id, this.owner, now, now + SYNC_LEASE_MS, true);
      if (!claimed) continue;
      synced++;
      const actor: Actor = { kind: 'system', name: `identity-source:${row.name}`, role: 'system' };
      await this.syncClaimed(actor, claimed).catch((error: unknown) => {
        // Recorded (log, audit, metric) by syncClaimed when the directory failed; the store failing ends the pass.
        if (!isTallyError(error)) throw error;
      });
    }
    return synced;
  }

  /** The sync of a source this node has claimed: it looks everyone up first, and changes nobody unless all lookups were answered. */
  private async syncClaimed(actor: Actor, row: IdentitySourceRow): Promise<SyncReport> {
    const source = this.source(row);
    const interval = Number(row.sync_interval_minutes) * 60_000;
    const local = await this.users.listFromSource(source.row.id);
    const found = new Map<number, DirectoryUser | null>();
    try {
      for (const user of local) found.set(user.id, await this.findByExternalId(source, user.external_id ?? ''));
    } catch (error) {
      const code = isTallyError(error) ? error.code : 'INTERNAL';
      this.logger?.warn(
        { source: row.name, error: code, checked: found.size, users: local.length },
        'an identity source sync failed: the directory did not answer; no user was changed',
      );
      this.observer.directorySync('failed');
      const at = this.clock.now();
      const finish: SyncFinish = {
        at,
        outcome: 'failed',
        result: JSON.stringify({ error: code }),
        nextAt: at + Math.min(interval || SYNC_RETRY_MS, SYNC_RETRY_MS),
      };
      await this.audit.change(
        actor,
        { action: 'identity-source.sync', targetType: 'identity-source', target: row.name, result: 'failure', details: { error: code } },
        (tx) => tx.identitySources.finishSync(row.id, this.owner, finish),
      );
      throw error;
    }
    const report = await this.audit.change(
      actor,
      { action: 'identity-source.sync', targetType: 'identity-source', target: row.name },
      async (tx) => {
        const report: SyncReport = { source: row.name, checked: local.length, updated: 0, gone: [], disabled: [] };
        for (const user of local) {
          const entry = found.get(user.id);
          if (!entry) {
            if (user.directory_state !== 'gone') {
              await tx.users.update(user.id, { disabled: 1, directory_state: 'gone', updated_at: this.clock.now() });
              report.updated++;
            }
            report.gone.push(user.username);
            continue;
          }
          if (entry.refused) report.disabled.push(entry.login);
          if (await this.refresh(user, entry, tx.users)) report.updated++;
        }
        const at = this.clock.now();
        const counts = { checked: report.checked, updated: report.updated, gone: report.gone.length, disabled: report.disabled.length };
        if (
          !(await tx.identitySources.finishSync(row.id, this.owner, {
            at,
            outcome: 'ok',
            result: JSON.stringify(counts),
            nextAt: at + interval,
          }))
        )
          this.logger?.warn({ source: row.name }, 'an identity source sync ended after its lease had; another node may have synced it too');
        return report;
      },
      (report) => ({ checked: report.checked, updated: report.updated, gone: report.gone.length, disabled: report.disabled.length }),
    );
    this.forgetLookups();
    this.observer.directorySync('ok');
    return report;
  }

  // --- Users ---

  /** Whether any source is configured: without one, nothing here touches the network. */
  async hasSources(): Promise<boolean> {
    return (await this.sources.list()).length > 0;
  }

  /**
   * A log-on by bind: the first source (in order) that finds the login name decides; its answer to
   * a bind as the user with this password is the answer. The user's local record is made or
   * refreshed. `unknown` when no source finds the name, `wrong password`, or `disabled` when the
   * directory refuses the account. DIRECTORY_UNAVAILABLE when a source that might have the user
   * cannot be asked.
   */
  async logOn(
    login: string,
    password: string,
  ): Promise<{ result: 'ok'; user: UserRow } | { result: 'unknown' | 'wrong password' | 'disabled' | 'name taken' }> {
    for (const row of await this.sources.list()) {
      const source = this.source(row);
      const outcome = await this.connector.run(source.endpoint, async (session) => {
        const entry = await this.findEntry(source, session, login);
        if (!entry) return undefined;
        const found = await this.describe(source, session, entry);
        return { found, bound: await session.bindAs(found.dn, password) };
      });
      if (!outcome) continue;
      if (!outcome.bound) return { result: 'wrong password' };
      this.cache.set(cacheKey(source, login), { at: this.clock.now(), user: outcome.found });
      const user = await this.appear(source, outcome.found);
      if (!user) return { result: 'name taken' };
      if (outcome.found.refused) return { result: 'disabled' };
      return { result: 'ok', user };
    }
    return { result: 'unknown' };
  }

  /**
   * Why the directory refuses a directory user's authentication now, or undefined when it does
   * not (or the user is internal): the account disabled or locked there, or no longer found by its
   * stable id. Looked up by that id and cached for `CACHE_MS`. A source that does not answer
   * refuses nobody: the local record (as the last log-on or sync left it) decides, so that a
   * directory outage does not stop every token; it is logged.
   */
  async refusalOf(user: UserRow): Promise<DirectoryRefusal | undefined> {
    if (user.source_id === null) return undefined;
    const row = await this.sources.findById(user.source_id);
    if (!row) return 'gone from directory';
    const now = this.clock.now();
    const silentSince = this.unanswered.get(row.id);
    if (silentSince !== undefined && now - silentSince < CACHE_MS) return undefined;
    const key = `${row.id}#${user.external_id ?? ''}`;
    const hit = this.cache.get(key);
    let found: DirectoryUser | null;
    if (hit && now - hit.at < CACHE_MS) found = hit.user;
    else {
      try {
        found = await this.findByExternalId(this.source(row), user.external_id ?? '');
      } catch (error) {
        if (!isTallyError(error)) throw error;
        this.unanswered.set(row.id, now);
        this.logger?.warn(
          { source: row.name, error: error.code },
          "a directory did not answer an authentication's lookup; its users' local records decide for now",
        );
        return undefined;
      }
      this.unanswered.delete(row.id);
      this.remember(key, now, found);
    }
    if (!found) return 'gone from directory';
    return found.refused ? 'disabled in directory' : undefined;
  }

  /**
   * Makes sure a login name that is no local user's is given a local record when a source has
   * them (first use: an assignment, a distribution). A name no source has is left alone: the
   * caller's own lookup then says the user does not exist.
   */
  async ensureLocal(login: string): Promise<void> {
    if (await this.users.findByUsername(login)) return;
    for (const row of await this.sources.list()) {
      const source = this.source(row);
      const found = await this.lookUp(source, login, true);
      if (found) {
        await this.appear(source, found);
        return;
      }
    }
  }

  private async appear(source: Source, found: DirectoryUser): Promise<UserRow | null> {
    const actor: Actor = { kind: 'system', name: `identity-source:${source.row.name}`, role: 'system' };
    const existing = await this.users.findByExternalId(source.row.id, found.externalId);
    if (existing) {
      const changes = directoryChanges(existing, found);
      if (changes) {
        // A rename, a new role from the groups, or a state from the directory: recorded like an admin's change.
        await this.audit.change(
          actor,
          {
            action: 'user.update',
            targetType: 'user',
            target: existing.username,
            details: { fields: Object.keys(changes).join(','), source: source.row.name },
          },
          (tx) => this.refresh(existing, found, tx.users),
        );
      }
      return (await this.users.findById(existing.id)) ?? null;
    }
    try {
      return await this.audit.change(
        actor,
        { action: 'directory-user.appear', targetType: 'user', target: found.login, details: { source: source.row.name } },
        (tx) =>
          tx.users.insertFromDirectory({
            username: found.login,
            passwordHash: null,
            email: found.email,
            firstName: found.firstName,
            lastName: found.lastName,
            role: found.role ?? 'user',
            now: this.clock.now(),
            sourceId: source.row.id,
            externalId: found.externalId,
            state: found.refused ? 'disabled' : 'present',
          }),
      );
    } catch (error) {
      // The login name is an internal user's, or another record's: the directory user cannot take it.
      if (isUniqueViolation(error)) {
        this.logger?.warn({ source: source.row.name, login: found.login }, 'a directory user has the login name of another local user');
        return null;
      }
      throw error;
    }
  }

  /** Brings a local record in line with the directory; returns whether anything changed. */
  private async refresh(user: UserRow, found: DirectoryUser, users: UserRepository): Promise<boolean> {
    const changes = directoryChanges(user, found);
    if (!changes) return false;
    try {
      await users.update(user.id, { ...changes, updated_at: this.clock.now() });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      this.logger?.warn({ login: found.login }, 'a renamed directory user has the login name of another local user');
      await users.update(user.id, { ...changes, username: user.username, updated_at: this.clock.now() });
    }
    return true;
  }

  // --- Groups ---

  /**
   * A group as a profile or a bulk run takes it: a source that exists and a DN that is well formed.
   * The directory is not asked whether the group exists (as for the role groups): a profile can be
   * saved while the directory is down, and a group that names nobody simply lets nobody in.
   */
  async checkGroup(group: DirectoryGroup, field: string, sources: IdentitySourceRepository = this.sources): Promise<DirectoryGroup> {
    const rows = await sources.list();
    if (typeof group?.source !== 'string' || !rows.some((row) => row.name === group.source))
      throw invalidField(`${field}.source`, 'oneOf', { choices: rows.map((row) => row.name).join(', ') || '(no identity source)' });
    if (typeof group.dn !== 'string' || group.dn.length > 1024 || !DN.test(group.dn)) throw invalidField(`${field}.dn`, 'ldapDn');
    return { source: group.source, dn: group.dn };
  }

  /**
   * Which of `groups` a local user is in, directly or through nested groups, as the directory says
   * now (the same resolution as roles). An internal user, or one the directory no longer has, is in
   * none. DIRECTORY_UNAVAILABLE when the user's source cannot be asked.
   */
  async memberships(user: UserRow, groups: readonly DirectoryGroup[]): Promise<DirectoryGroup[]> {
    if (user.source_id === null || user.external_id === null) return [];
    const row = await this.sources.findById(user.source_id);
    const own = groups.filter(
      (group, index) =>
        group.source === row?.name && groups.findIndex((other) => other.source === group.source && sameDn(other.dn, group.dn)) === index,
    );
    if (!row || own.length === 0) return [];
    const source = this.source(row);
    const externalId = user.external_id;
    return this.connector.run(source.endpoint, async (session) => {
      const entry = await this.entryByExternalId(source, session, externalId);
      const found: DirectoryGroup[] = [];
      for (const group of own) if (entry && (await this.isMember(source, session, entry, group.dn))) found.push(group);
      return found;
    });
  }

  /**
   * The local records of a group's members (nested included): whom a list filtered by the group
   * shows. Nobody is created: a member who never appeared has no tokens to list.
   */
  async localMembers(group: DirectoryGroup): Promise<UserRow[]> {
    const source = this.source(await this.row(group.source, this.sources));
    const ids = await this.connector.run(source.endpoint, async (session) =>
      (await this.members(source, session, group.dn)).map((entry) => externalIdOf(source, entry)),
    );
    return this.users.listByExternalIds(source.row.id, ids);
  }

  /**
   * A group's members (nested included), each given or refreshed their local record as on first
   * use: what a bulk run by group distributes to. The directory is asked for every member before
   * any record is written, so a directory that fails midway changes nothing.
   */
  async enrolMembers(group: DirectoryGroup): Promise<EnrolledMembers> {
    const source = this.source(await this.row(group.source, this.sources));
    const found = await this.connector.run(source.endpoint, async (session) => {
      const described: DirectoryUser[] = [];
      for (const entry of await this.members(source, session, group.dn)) described.push(await this.describe(source, session, entry));
      return described;
    });
    const enrolled: EnrolledMembers = { users: [], nameTaken: [] };
    for (const member of found) {
      const user = await this.appear(source, member);
      if (user) enrolled.users.push(user);
      else enrolled.nameTaken.push(member.login);
    }
    return enrolled;
  }

  /**
   * The user entries in a group, nested groups followed: on AD by its in-chain rule, elsewhere down
   * `member` and `uniqueMember`, each member read at its DN with the source's user filter (a member
   * that is not a user is taken for a group). Only entries under the source's base DN count. A DN
   * that names no entry, or that the server cannot parse, has no members.
   */
  private async members(source: Source, session: DirectorySession, groupDn: string): Promise<Entry[]> {
    if (source.preset === 'ad') {
      const filter = `(&${source.row.user_filter}${inChainMemberOfFilter(groupDn)})`;
      return session.search(source.row.base_dn, filter, attributesOf(source), { sizeLimit: GROUP_MEMBERS_LIMIT });
    }
    const users = new Map<string, Entry>();
    const seen = new Set([normalDn(groupDn)]);
    let frontier = [groupDn];
    let groupsRead = 0;
    for (let depth = 0; depth < GROUP_DEPTH && frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const dn of frontier) {
        if (++groupsRead > GROUP_LIMIT) break;
        const group = await session.read(dn, '(objectClass=*)', MEMBER_ATTRIBUTES);
        const memberDns = group ? [...all(group, 'member'), ...all(group, 'uniqueMember')] : [];
        for (const memberDn of memberDns) {
          const key = normalDn(memberDn);
          if (seen.has(key)) continue;
          seen.add(key);
          if (seen.size > GROUP_MEMBERS_LIMIT)
            throw new TallyError(
              'INPUT_TOO_LARGE',
              `${groupDn.slice(0, 256)} has more than ${GROUP_MEMBERS_LIMIT} members and nested groups.`,
            );
          const user = isUnder(memberDn, source.row.base_dn)
            ? await session.read(memberDn, source.row.user_filter, attributesOf(source))
            : undefined;
          if (user) users.set(key, user);
          else next.push(memberDn);
        }
      }
      frontier = next;
    }
    return [...users.values()];
  }

  // --- Looking up ---

  private async lookUp(source: Source, login: string, cached = false): Promise<DirectoryUser | null> {
    const key = cacheKey(source, login);
    const hit = this.cache.get(key);
    const now = this.clock.now();
    if (cached && hit && now - hit.at < CACHE_MS) return hit.user;
    const user = await this.connector.run(source.endpoint, async (session) => {
      const entry = await this.findEntry(source, session, login);
      return entry ? this.describe(source, session, entry) : null;
    });
    this.remember(key, now, user);
    return user;
  }

  /** Drops every cached lookup and outage: after a source's settings change, or a sync. */
  private forgetLookups(): void {
    this.cache.clear();
    this.unanswered.clear();
  }

  private remember(key: string, at: number, user: DirectoryUser | null): void {
    if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
    this.cache.set(key, { at, user });
  }

  private async findByExternalId(source: Source, externalId: string): Promise<DirectoryUser | null> {
    if (!externalId) return null;
    return this.connector.run(source.endpoint, async (session) => {
      const entry = await this.entryByExternalId(source, session, externalId);
      return entry ? this.describe(source, session, entry) : null;
    });
  }

  private async entryByExternalId(source: Source, session: DirectorySession, externalId: string): Promise<Entry | undefined> {
    const value = source.attributes.id.toLowerCase() === 'objectguid' ? guidFilterValue(externalId) : externalId;
    if (value === undefined) return undefined;
    const filter =
      source.attributes.id.toLowerCase() === 'objectguid'
        ? `(&${source.row.user_filter}(objectGUID=${value}))`
        : userFilter(source.row.user_filter, source.attributes.id, value);
    const entries = await session.search(source.row.base_dn, filter, attributesOf(source));
    return entries.length === 1 ? entries[0] : undefined;
  }

  private async findEntry(source: Source, session: DirectorySession, login: string): Promise<Entry | undefined> {
    // A name longer than any login, or with control characters, is not asked for.
    if (login.length === 0 || login.length > 256 || /\p{Cc}/u.test(login)) return undefined;
    const entries = await session.search(
      source.row.base_dn,
      userFilter(source.row.user_filter, source.attributes.login, login),
      attributesOf(source),
    );
    if (entries.length > 1) {
      this.logger?.warn(
        { source: source.row.name, login, matches: entries.length },
        'a login name matches several directory entries; none is used',
      );
      return undefined;
    }
    return entries[0];
  }

  private async describe(source: Source, session: DirectorySession, entry: Entry): Promise<DirectoryUser> {
    return {
      dn: entry.dn,
      login: text(entry, source.attributes.login) ?? '',
      externalId: externalIdOf(source, entry),
      firstName: text(entry, source.attributes.firstName),
      lastName: text(entry, source.attributes.lastName),
      email: text(entry, source.attributes.mail),
      mobile: text(entry, source.attributes.mobile),
      refused: refusal(entry),
      role: await this.roleOf(source, session, entry),
    };
  }

  private async roleOf(source: Source, session: DirectorySession, entry: Entry): Promise<UserRole | undefined> {
    const groups = source.roleGroups;
    if (!groups.superadmin && !groups.helpdesk) return undefined;
    const member = async (group: string | undefined) => group !== undefined && (await this.isMember(source, session, entry, group));
    if (await member(groups.superadmin)) return 'superadmin';
    if (await member(groups.helpdesk)) return 'helpdesk';
    return 'user';
  }

  private async isMember(source: Source, session: DirectorySession, entry: Entry, group: string): Promise<boolean> {
    const direct = all(entry, 'memberOf');
    if (direct.some((dn) => sameDn(dn, group))) return true;
    if (source.preset === 'ad') {
      // AD follows nested groups itself: the group is found only if the user is in it at some depth.
      return (await session.search(group, inChainMemberFilter(entry.dn), ['cn'], { scope: 'base' })).length > 0;
    }
    return (await this.enclosingGroups(source, session, entry)).some((dn) => sameDn(dn, group));
  }

  /**
   * The groups an entry is in: those its memberOf names and, beyond AD (whose memberOf is the
   * directory's own answer), the groups whose `member` names it, then the groups those are in.
   */
  private async enclosingGroups(source: Source, session: DirectorySession, entry: Entry): Promise<string[]> {
    const direct = all(entry, 'memberOf');
    if (source.preset === 'ad') return direct;
    const seen = new Map(direct.map((dn) => [dn.toLowerCase(), dn]));
    let frontier = [entry.dn, ...direct];
    for (let depth = 0; depth < GROUP_DEPTH && frontier.length && seen.size < GROUP_LIMIT; depth++) {
      const found = await session.search(source.row.base_dn, groupsWithMembersFilter(frontier.slice(0, 50)), ['cn']);
      frontier = [];
      for (const { dn } of found) {
        const key = dn.toLowerCase();
        if (!seen.has(key)) {
          seen.set(key, dn);
          frontier.push(dn);
        }
      }
    }
    return [...seen.values()];
  }

  private source(row: IdentitySourceRow): Source {
    const attributes = JSON.parse(row.attributes) as AttributeMapping;
    return {
      row,
      preset: row.preset,
      attributes,
      roleGroups: JSON.parse(row.role_groups) as RoleGroups,
      endpoint: {
        name: row.name,
        urls: JSON.parse(row.urls) as string[],
        startTls: row.start_tls === 1,
        caFile: row.ca_file,
        bindDn: row.bind_dn,
        bindPassword: open(this.keyring, row.bind_password_sealed, bindPasswordContext(row.id)).toString('utf8'),
        timeoutMs: row.timeout_ms,
      },
    };
  }

  private async row(name: string, sources: IdentitySourceRepository): Promise<IdentitySourceRow> {
    const row = await sources.findByName(name);
    if (!row) throw new TallyError('IDENTITY_SOURCE_NOT_FOUND', `No identity source named ${name.slice(0, 64)}.`);
    return row;
  }
}

/** What the directory says differs from a user's local record, or undefined when nothing does. */
function directoryChanges(user: UserRow, found: DirectoryUser) {
  const state: DirectoryState = found.refused ? 'disabled' : 'present';
  const wanted = {
    username: found.login,
    email: found.email,
    first_name: found.firstName,
    last_name: found.lastName,
    role: found.role ?? user.role,
    directory_state: state,
    // Disabled here because the directory disabled (or lost) them: enabled again with it.
    disabled: found.refused ? 1 : user.directory_state !== 'present' ? 0 : user.disabled,
  };
  const changed = (Object.keys(wanted) as (keyof typeof wanted)[]).filter((key) => wanted[key] !== user[key]);
  return changed.length ? (Object.fromEntries(changed.map((key) => [key, wanted[key]])) as Partial<typeof wanted>) : undefined;
}

/** The directory's stable id of an entry as Tally keeps it (objectGUID as AD's text), or its DN when it has none. */
function externalIdOf(source: Source, entry: Entry): string {
  const idValue = first(entry, source.attributes.id);
  const externalId =
    idValue === undefined ? '' : Buffer.isBuffer(idValue) ? (guidText(idValue) ?? idValue.toString('hex')) : idValue.slice(0, 128);
  return externalId || entry.dn.slice(0, 128);
}

function cacheKey(source: Source, login: string): string {
  return `${source.row.id}:${login.toLowerCase()}`;
}

function attributesOf(source: Source): string[] {
  const mapped = Object.values(source.attributes);
  return [...new Set([...mapped, ...LOCK_ATTRIBUTES])];
}

/** Why the directory would refuse this account, from the attributes each kind of server uses. */
function refusal(entry: Entry): string | null {
  const uac = text(entry, 'userAccountControl');
  if (uac !== null && userAccountControlRefuses(uac)) return 'userAccountControl';
  if (text(entry, 'pwdAccountLockedTime') !== null) return 'pwdAccountLockedTime';
  if (text(entry, 'nsAccountLock')?.toLowerCase() === 'true') return 'nsAccountLock';
  return null;
}

/** An objectGUID's text form as the filter value of its bytes (`\XX` each), or undefined if it is not one. */
function guidFilterValue(guid: string): string | undefined {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  // guidText's inverse: the first three fields back to little-endian.
  const ordered = Buffer.concat([
    bytes.subarray(0, 4).reverse(),
    bytes.subarray(4, 6).reverse(),
    bytes.subarray(6, 8).reverse(),
    bytes.subarray(8),
  ]);
  return Array.from(ordered, (b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
}

interface CheckedSettings {
  urls: string[];
  startTls: boolean;
  allowPlain: boolean;
  caFile: string | null;
  bindDn: string;
  bindPassword: string | undefined;
  baseDn: string;
  userFilter: string;
  attributes: AttributeMapping;
  roleGroups: RoleGroups;
  timeoutSeconds: number;
  syncIntervalMinutes: number;
}

/** A source's checked settings as its row keeps them (the bind password apart: it is sealed on its own). */
function storedSettings(settings: CheckedSettings) {
  return {
    urls: JSON.stringify(settings.urls),
    start_tls: settings.startTls ? 1 : 0,
    allow_plain: settings.allowPlain ? 1 : 0,
    ca_file: settings.caFile,
    bind_dn: settings.bindDn,
    base_dn: settings.baseDn,
    user_filter: settings.userFilter,
    attributes: JSON.stringify(settings.attributes),
    role_groups: JSON.stringify(settings.roleGroups),
    timeout_ms: settings.timeoutSeconds * 1000,
    sync_interval_minutes: settings.syncIntervalMinutes,
  };
}

function checkSettings(settings: CheckedSettings): CheckedSettings {
  const urls = settings.urls;
  const plainAllowed = settings.startTls || settings.allowPlain;
  if (
    !Array.isArray(urls) ||
    urls.length === 0 ||
    urls.length > 8 ||
    !urls.every(
      (url) =>
        typeof url === 'string' &&
        /^ldaps?:\/\/[A-Za-z0-9.:[\]-]+(?::\d{1,5})?\/?$/.test(url) &&
        (url.startsWith('ldaps://') || plainAllowed),
    )
  )
    throw invalidField('urls', 'ldapUrl');
  if (settings.caFile !== null && (typeof settings.caFile !== 'string' || settings.caFile.length > 1024 || /\p{Cc}/u.test(settings.caFile)))
    throw invalidField('caFile', 'textTooLong', { max: 1024 });
  for (const field of ['bindDn', 'baseDn'] as const) {
    const dn = settings[field];
    if (typeof dn !== 'string' || dn.length > 1024 || !DN.test(dn)) throw invalidField(field, 'ldapDn');
  }
  if (
    settings.bindPassword !== undefined &&
    (typeof settings.bindPassword !== 'string' || settings.bindPassword.length === 0 || settings.bindPassword.length > 1024)
  )
    throw invalidField('bindPassword', 'lengthRange', { min: 1, max: 1024 });
  if (!isWellFormedFilter(settings.userFilter)) throw invalidField('userFilter', 'ldapFilter');
  for (const [key, attribute] of Object.entries(settings.attributes)) {
    if (!(key in DIRECTORY_PRESET_VALUES.openldap.attributes) || typeof attribute !== 'string' || !isAttributeName(attribute))
      throw invalidField(`attributes.${key}`.slice(0, 64), 'ldapAttributeName');
  }
  for (const [role, group] of Object.entries(settings.roleGroups ?? {})) {
    if (role !== 'superadmin' && role !== 'helpdesk') throw invalidField('roleGroups', 'ldapRoleGroup');
    if (typeof group !== 'string' || group.length > 1024 || !DN.test(group)) throw invalidField(`roleGroups.${role}`, 'ldapDn');
  }
  if (!Number.isInteger(settings.timeoutSeconds) || settings.timeoutSeconds < 1 || settings.timeoutSeconds > 60)
    throw invalidField('timeoutSeconds', 'wholeNumberRange', { min: 1, max: 60 });
  if (
    !Number.isInteger(settings.syncIntervalMinutes) ||
    settings.syncIntervalMinutes < 0 ||
    settings.syncIntervalMinutes > MAX_SYNC_INTERVAL_MINUTES
  )
    throw invalidField('syncIntervalMinutes', 'wholeNumberRange', { min: 0, max: MAX_SYNC_INTERVAL_MINUTES });
  return settings;
}

function view(row: IdentitySourceRow): IdentitySourceView {
  const attributes = JSON.parse(row.attributes) as AttributeMapping;
  return {
    name: row.name,
    type: 'ldap',
    preset: row.preset,
    position: row.position,
    urls: JSON.parse(row.urls) as string[],
    startTls: row.start_tls === 1,
    caFile: row.ca_file,
    allowPlain: row.allow_plain === 1,
    bindDn: row.bind_dn,
    baseDn: row.base_dn,
    userFilter: row.user_filter,
    loginAttribute: attributes.login,
    attributes,
    roleGroups: JSON.parse(row.role_groups) as RoleGroups,
    timeoutSeconds: row.timeout_ms / 1000,
    syncIntervalMinutes: Number(row.sync_interval_minutes),
    lastSync: lastSync(row),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

function lastSync(row: IdentitySourceRow): LastSync | null {
  if (row.last_sync_at === null || row.last_sync_outcome === null) return null;
  const at = new Date(Number(row.last_sync_at)).toISOString();
  const result = JSON.parse(row.last_sync_result ?? '{}') as Record<string, unknown>;
  if (row.last_sync_outcome === 'failed') return { at, outcome: 'failed', error: String(result.error ?? 'INTERNAL') };
  const count = (key: string) => Number(result[key] ?? 0);
  return { at, outcome: 'ok', checked: count('checked'), updated: count('updated'), gone: count('gone'), disabled: count('disabled') };
}

/**
 * Runs a node's periodic sync: every `intervalMs` it syncs the sources that are due (each source's
 * own interval decides when; the lease, which node). `stop` waits for the source in hand.
 */
export function runDirectorySync(directory: DirectoryService, intervalMs: number, logger?: Logger): { stop(): Promise<void> } {
  return repeatEvery(
    intervalMs,
    (goOn) => directory.syncDue(goOn),
    { failing: 'identity source syncs could not be claimed or recorded; retrying', resumed: 'identity source syncs are running again' },
    logger,
  );
}
