import { TallyError } from '../errors.js';
import { isUniqueViolation } from '../store/connect.js';
import type { UserRepository, UserRow } from '../store/repositories/users.js';
import type { UserRole } from '../store/schema.js';
import { requirePermission, type Actor } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import { decoyPasswordHash, hashPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, verifyPassword } from './passwords.js';
import type { Lockout } from './lockout.js';

export interface NewUser {
  username: string;
  password?: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  role?: UserRole;
}

/** What may leave the service about a user: never the password hash. */
export interface UserView {
  username: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  role: UserRole;
  disabled: boolean;
  locked: boolean;
  createdAt: string;
}

export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export function validatePassword(password: string): void {
  if (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH) {
    throw new TallyError('VALIDATION_FAILED', `The password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long.`);
  }
}

export class UserService {
  constructor(
    private readonly users: UserRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly lockout: Lockout,
  ) {}

  /**
   * Checks a username and password for a console log-on. Every failure, whatever its cause
   * (unknown user, wrong password, disabled, locked), gives the same error after the same work, so
   * the answer tells an attacker nothing about which usernames exist.
   */
  async logOn(input: { username: string; password: string; source?: string; console: 'self-service' | 'security' }): Promise<Actor> {
    const row = input.username.length <= 128 ? await this.users.findByUsername(input.username) : undefined;
    const anonymous: Actor = { kind: 'anonymous', name: input.username.slice(0, 128), role: 'user', source: input.source };
    const passwordOk = await verifyPassword(row?.password_hash ?? (await decoyPasswordHash()), input.password.slice(0, PASSWORD_MAX_LENGTH));
    const admin = row?.role === 'superadmin' || row?.role === 'helpdesk';
    const refuse = async (reason: string, locked: boolean) => {
      await this.audit.record(anonymous, { action: `logon.${input.console}`, targetType: 'user', target: anonymous.name, result: 'failure', details: { reason } });
      throw new TallyError(locked ? 'USER_LOCKED' : 'INVALID_CREDENTIALS');
    };
    if (!row) {
      const locked = this.lockout.unknownIsLocked(input.username) || this.lockout.recordUnknownFailure(input.username);
      return refuse('unknown user', locked);
    }
    if (this.lockout.isLocked(row)) return refuse('locked', true);
    if (!passwordOk || row.password_hash === null) return refuse('wrong password', await this.lockout.recordFailure(row.id));
    if (row.disabled === 1) return refuse('disabled', false);
    if (input.console === 'security' && !admin) return refuse('not an admin', false);
    await this.lockout.recordSuccess(row.id);
    const actor: Actor = { kind: input.console === 'security' ? 'admin' : 'user', name: row.username, role: input.console === 'security' ? (row.role as 'superadmin' | 'helpdesk') : 'user', source: input.source };
    await this.audit.record(actor, { action: `logon.${input.console}`, targetType: 'user', target: row.username });
    return actor;
  }

  async unlock(actor: Actor, username: string): Promise<UserView> {
    return this.audit.track(actor, { action: 'user.unlock', targetType: 'user', target: username }, async () => {
      requirePermission(actor, 'users.unlock');
      const row = await this.users.findByUsername(username);
      if (!row) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
      await this.lockout.unlock(row.id);
      return this.view({ ...row, failed_logons: 0, locked_until: null });
    });
  }

  async create(actor: Actor, input: NewUser): Promise<UserView> {
    return this.audit.track(actor, { action: 'user.create', targetType: 'user', target: input.username.slice(0, 128) }, async () => {
      requirePermission(actor, 'users.create');
      const role = input.role ?? 'user';
      if (role !== 'user') requirePermission(actor, 'users.setRole');
      if (!USERNAME_PATTERN.test(input.username)) {
        throw new TallyError('VALIDATION_FAILED', 'The username must be 1 to 128 letters, digits or . _ @ -, starting with a letter or digit.');
      }
      if (input.email !== undefined && !EMAIL_PATTERN.test(input.email)) {
        throw new TallyError('VALIDATION_FAILED', 'The email address is not valid.');
      }
      if (input.password !== undefined) validatePassword(input.password);
      const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
      try {
        const row = await this.users.insert({
          username: input.username,
          passwordHash,
          email: input.email ?? null,
          firstName: input.firstName ?? null,
          lastName: input.lastName ?? null,
          role,
          now: this.clock.now(),
        });
        return this.view(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw new TallyError('USER_EXISTS', `A user named ${input.username} exists already.`);
        throw error;
      }
    });
  }

  async get(actor: Actor, username: string): Promise<UserView> {
    requirePermission(actor, 'users.read');
    const row = await this.users.findByUsername(username);
    if (!row) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
    return this.view(row);
  }

  async list(actor: Actor, filter: { search?: string; limit: number; offset: number }): Promise<UserView[]> {
    requirePermission(actor, 'users.read');
    return (await this.users.list(filter)).map((row) => this.view(row));
  }

  private view(row: UserRow): UserView {
    return {
      username: row.username,
      email: row.email,
      firstName: row.first_name,
      lastName: row.last_name,
      role: row.role,
      disabled: row.disabled === 1,
      locked: row.locked_until !== null && row.locked_until > this.clock.now(),
      createdAt: new Date(row.created_at).toISOString(),
    };
  }
}
