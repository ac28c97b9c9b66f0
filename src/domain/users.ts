import { TallyError } from '../errors.js';
import { isUniqueViolation } from '../store/connect.js';
import type { UserRepository, UserRow } from '../store/repositories/users.js';
import type { UserRole } from '../store/schema.js';
import { requirePermission, type Actor } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import { hashPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './passwords.js';

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
  ) {}

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
