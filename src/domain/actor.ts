import { TallyError } from '../errors.js';
import type { HelpdeskCredentials } from '../model/vocabulary.js';

export type AdminRole = 'superadmin' | 'helpdesk';
export type Role = AdminRole | 'agent' | 'user';

/** Who is acting, for access checks and the audit trail. */
export interface Actor {
  kind: 'admin' | 'apitoken' | 'user' | 'system' | 'anonymous' | 'radius-client' | 'authn-agent';
  /** A username, an API token's name, or `system`. */
  name: string;
  role: Role | 'system';
  /** The client address, where there is one. */
  source?: string;
  /** The request this is part of (its X-Request-Id, or the id a RADIUS packet is given), for the log and the audit trail. */
  requestId?: string;
}

export const systemActor: Actor = { kind: 'system', name: 'system', role: 'system' };

/**
 * What each role may do. Enforced in the domain services, so the REST API, the consoles and the
 * CLI cannot drift apart. `system` (the CLI on the server itself) may do everything.
 */
const permissions = {
  'users.read': ['superadmin', 'helpdesk'],
  'users.create': ['superadmin', 'helpdesk'],
  // Help desk looks after ordinary users; an admin account (its role, password, state) is a super admin's.
  'users.setRole': ['superadmin'],
  'users.update': ['superadmin', 'helpdesk'],
  'users.unlock': ['superadmin', 'helpdesk'],
  'apitokens.manage': ['superadmin'],
  'audit.read': ['superadmin', 'helpdesk'],
  // Deleting audit events is for the operator at the server (`tally audit purge`, the system actor) only.
  'audit.purge': [],
  'tokens.read': ['superadmin', 'helpdesk'],
  'tokens.import': ['superadmin'],
  'tokens.distribute': ['superadmin', 'helpdesk'],
  'tokens.create': ['superadmin'],
  // A seed leaves Tally only to a super admin or the token's holder: a CTF string, a token file or its link.
  'tokens.seeds': ['superadmin'],
  'tokens.delete': ['superadmin'],
  // A holder's own tokens in the Self-Service Console; the services check that the token is theirs.
  'tokens.holder': ['user'],
  // Only for the holder themself, and only from profiles open to self-service.
  'tokens.request': ['user'],
  'sessions.revoke': ['superadmin', 'helpdesk'],
  'profiles.read': ['superadmin', 'helpdesk'],
  'profiles.manage': ['superadmin'],
  'ctkip.manage': ['superadmin'],
  'auth.verify': ['superadmin', 'agent'],
  'tokens.manage': ['superadmin', 'helpdesk'],
  'tokens.setOwnPin': ['user'],
  'tokens.testOwn': ['user'],
  'tokens.resyncOwn': ['user'],
  'tokens.reportOwnLost': ['user', 'superadmin', 'helpdesk'],
  'radius.manage': ['superadmin'],
  // A source's bind account reads the whole directory, and its groups make admins.
  'identitySources.manage': ['superadmin'],
  'authnAgents.manage': ['superadmin'],
  'dashboard.read': ['superadmin', 'helpdesk'],
  // What every mail to a holder says: a super admin's, as the profiles are.
  'mailTemplates.manage': ['superadmin'],
  // The store-backed settings (token limit, self-service switches): the help desk reads them to
  // explain a refusal; only a super admin changes them.
  'settings.read': ['superadmin', 'helpdesk'],
  'settings.change': ['superadmin'],
  // The mail outbox shows recipients and subjects, never a mail's text.
  'mail.read': ['superadmin', 'helpdesk'],
  'mail.retry': ['superadmin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof permissions;

export function can(actor: Actor, permission: Permission): boolean {
  return actor.role === 'system' || (permissions[permission] as readonly string[]).includes(actor.role);
}

export function requirePermission(actor: Actor, permission: Permission): void {
  if (!can(actor, permission)) {
    throw new TallyError('FORBIDDEN', `The ${actor.role} role may not do this (${permission}).`);
  }
}

/**
 * What the help desk may be shown (`--helpdesk-credentials`): `none`, or the `one-time-codes` a help
 * desk reads to a user whose identity it checked (activation codes, emergency access codes), as in
 * RSA's practice. Seeds, token files, their download links and passwords go to super admins and the
 * token's holder only, whatever the setting.
 */

/** What an administrator can be shown; each showing is recorded as `credential.shown`. */
export type CredentialKind = 'activation-code' | 'emergency-code' | 'download-link' | 'file-password' | 'seed' | 'token-file';

/** Whether the actor may be shown a credential of this kind for a token of someone else's. */
export function mayBeShown(actor: Actor, kind: CredentialKind, policy: HelpdeskCredentials): boolean {
  if (actor.role === 'system' || actor.role === 'superadmin') return true;
  if (actor.role !== 'helpdesk') return false;
  return policy === 'one-time-codes' && (kind === 'activation-code' || kind === 'emergency-code');
}

/** The user an action is aimed at: the user acted on, or the holder of the token acted on. */
export interface ActionTarget {
  username: string;
  role: string;
}

/**
 * Whether the actor may act on this user (or on a token the user holds) at all, on top of the
 * action's own permission: help desk looks after users whose role is `user`, and only a super
 * admin acts on an administrator's account or tokens (an emergency access code, an unlock, a PIN
 * reset would otherwise hand the help desk a super admin's log-on). A holder acts on themself; the
 * services check that the token is theirs. `undefined` is no one (an unassigned token).
 */
export function requireAuthorityOver(actor: Actor, target: ActionTarget | undefined): void {
  if (target === undefined || actor.role === 'system' || actor.role === 'superadmin') return;
  if (actor.kind === 'user' && actor.name === target.username) return;
  if (target.role === 'user') return;
  throw new TallyError(
    'FORBIDDEN',
    `The ${actor.role} role acts only on ordinary users and their tokens; ${target.username} is a ${target.role}.`,
  );
}
