import { type CsvRecord, parseCsvRecords } from '../core/csv/csv.js';
import { invalidField, invalidInput, isTallyError, TallyError } from '../errors.js';
import { type DirectoryState, USER_ROLES, type UserRole } from '../model/vocabulary.js';
import { isUniqueViolation } from '../store/connect.js';
import type { NewUserRow, UserListQuery, UserRepository, UserRow } from '../store/repositories/users.js';
import { type Actor, requireAuthorityOver, requirePermission } from './actor.js';
import { type AuditEntry, type AuditRecord, type AuditService, failure } from './audit.js';
import type { Clock } from './clock.js';
import { type DirectoryGroup, type DirectoryService, membersOf } from './directory.js';
import type { Lockout } from './lockout.js';
import type { LogonDelays } from './logon-delays.js';
import { decoyPasswordHash, hashPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, verifyPassword } from './passwords.js';

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
  /** The identity source the user comes from, by name; null for an internal user. */
  source: string | null;
  /** What the directory last said of a directory user (present, disabled there, gone from it); null for an internal user. */
  directoryState: DirectoryState | null;
}

/** What an admin may change about a user; null clears a field. The username never changes. */
export interface UserChanges {
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  role?: UserRole;
  password?: string;
}

/** A row of a streamed import that was not imported, and why. */
export interface UserImportRefusal {
  line: number;
  username: string;
  reason: string;
}

export interface UserStreamImportTotals {
  created: number;
  /** Usernames the store has already (an earlier run, stopped midway, created them): left as they are. */
  skipped: number;
  refused: number;
}

export interface UserImportReport {
  created: number;
  refused: number;
  /**
   * One entry per data row of the file, in order: `row` counts the rows from 1 after the header,
   * `line` is where the row starts in the file, as an editor numbers it (the header is line 1).
   */
  rows: { row: number; line: number; username: string; result: 'created' | 'refused'; reason?: string }[];
}

/** The CSV header names an import understands, each mapped to its field; spaces, `_` and `-` are ignored. */
const IMPORT_COLUMNS: Record<string, keyof NewUser> = {
  username: 'username',
  login: 'username',
  email: 'email',
  mail: 'email',
  firstname: 'firstName',
  givenname: 'firstName',
  lastname: 'lastName',
  surname: 'lastName',
  familyname: 'lastName',
  role: 'role',
  password: 'password',
};
const USER_IMPORT_MAX_ROWS = 5000;
const USER_FILE_COLUMNS = 'username, email, firstName, lastName, role, password';

export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export function validatePassword(password: string): void {
  if (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH) {
    throw invalidField('password', 'lengthRange', { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH });
  }
}

function checkName(field: string, value: string | null | undefined): void {
  if (value !== undefined && value !== null && (value.length > 128 || /[\p{Cc}\p{Cf}]/u.test(value))) {
    throw invalidField(field, 'textTooLong', { max: 128 });
  }
}

/**
 * A further check of a log-on whose password was right (a passcode), run before the failure count
 * is cleared; it counts its own failures. False refuses the log-on as a wrong password would.
 */
export type SecondFactor = (username: string) => Promise<boolean>;

/**
 * A password's argon2 hash, computed before the change's transaction opens: hashing takes tens of
 * milliseconds, which inside the transaction would hold SQLite's one writer (and every
 * authentication batch behind it). A password the change will refuse is not hashed: the change
 * refuses it again, where the refusal is audited.
 */
async function hashOutsideTransaction(password: string | undefined): Promise<string | undefined> {
  if (password === undefined) return undefined;
  try {
    validatePassword(password);
  } catch {
    return undefined;
  }
  return hashPassword(password);
}

/** The row a new internal user is stored as. */
function newUserRow(user: NewUser, passwordHash: string | null, now: number): NewUserRow {
  return {
    username: user.username,
    passwordHash,
    email: user.email ?? null,
    firstName: user.firstName ?? null,
    lastName: user.lastName ?? null,
    role: user.role ?? 'user',
    now,
  };
}

/** Refuses a new user the actor may not create or whose fields are malformed; returns the user's role. */
function checkNewUser(actor: Actor, input: NewUser): UserRole {
  const role = input.role ?? 'user';
  if (role !== 'user') requirePermission(actor, 'users.setRole');
  if (!USERNAME_PATTERN.test(input.username)) throw invalidField('username', 'usernameShape');
  if (input.email !== undefined && !EMAIL_PATTERN.test(input.email)) throw invalidField('email', 'emailInvalid');
  checkName('firstName', input.firstName);
  checkName('lastName', input.lastName);
  if (input.password !== undefined) validatePassword(input.password);
  return role;
}

/** The fields each column of an import file's header row holds; refuses unknown columns and a file without usernames. */
function importColumns(header: readonly string[] | undefined): (keyof NewUser | undefined)[] {
  if (!header) throw invalidInput('userFileEmpty', { columns: USER_FILE_COLUMNS });
  const columns = header.map(
    (name) =>
      IMPORT_COLUMNS[
        name
          .trim()
          .toLowerCase()
          .replace(/[\s_-]/g, '')
      ],
  );
  const unknown = header.filter((_, i) => columns[i] === undefined);
  if (unknown.length)
    throw invalidInput('userFileUnknownColumns', {
      names: unknown.map((name) => `"${name.slice(0, 40)}"`).join(', '),
      columns: USER_FILE_COLUMNS,
    });
  if (!columns.includes('username')) throw invalidInput('userFileNoUsername');
  return columns;
}

/**
 * A data row as a new user (undefined: a blank row, as spreadsheets write them); refuses a row
 * without a username or with an unknown role.
 */
function importedUser(columns: readonly (keyof NewUser | undefined)[], fields: readonly string[]): NewUser | undefined {
  if (fields.every((field) => field.trim() === '')) return undefined;
  const user: Record<string, string> = {};
  columns.forEach((column, i) => {
    const value = fields[i]?.trim();
    if (column && value) user[column] = value;
  });
  const username = (user.username ?? '').slice(0, 128);
  if (!username) throw invalidField('username', 'usernameEmpty');
  if (user.role !== undefined && !(USER_ROLES as readonly string[]).includes(user.role))
    throw invalidField('role', 'oneOf', { choices: USER_ROLES.join(', ') });
  return { ...user, username } as unknown as NewUser;
}

export class UserService {
  constructor(
    private readonly users: UserRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly lockout: Lockout,
    private readonly delays: LogonDelays,
    private readonly directory?: Pick<DirectoryService, 'hasSources' | 'logOn' | 'sourceNames' | 'localMembers'>,
  ) {}

  /**
   * Checks a username and password for a console log-on. Every failure, whatever its cause
   * (unknown user, wrong password, disabled), gives the same error after the same work, so the
   * answer tells an attacker nothing about which usernames exist. Failures are counted per console
   * and username (`LogonDelays`): after a few, an attempt that comes before its wait is over is
   * refused with LOGON_DELAYED, its password unchecked. They never lock passcode authentication.
   */
  async logOn(input: {
    username: string;
    password: string;
    source?: string;
    requestId?: string;
    console: 'self-service' | 'security';
    secondFactor?: SecondFactor;
  }): Promise<Actor> {
    const anonymous: Actor = {
      kind: 'anonymous',
      name: input.username.slice(0, 128),
      role: 'user',
      source: input.source,
      requestId: input.requestId,
    };
    // A refused log-on changes nothing the event could commit with: it is recorded on its own.
    const refused = (reason: string): AuditRecord => ({
      actor: anonymous,
      entry: { action: `logon.${input.console}`, targetType: 'user', target: anonymous.name, result: 'failure', details: { reason } },
    });
    const refuse = async (reason: string, code: 'INVALID_CREDENTIALS' | 'USER_LOCKED' = 'INVALID_CREDENTIALS') => {
      await this.audit.record(refused(reason));
      throw new TallyError(code);
    };
    try {
      await this.delays.attempt(input.console, input.username);
    } catch (error) {
      if (isTallyError(error) && error.code === 'LOGON_DELAYED') await this.audit.record(refused('delayed'));
      throw error;
    }
    // A name no user can have is not looked up: PostgreSQL refuses a NUL in text.
    const local = USERNAME_PATTERN.test(input.username) ? await this.users.findByUsername(input.username) : undefined;
    let row: UserRow;
    // Internal users are checked here, whatever the directories say: an outage never locks them out.
    if ((local === undefined || local.source_id !== null) && this.directory && (await this.directory.hasSources())) {
      let outcome: Awaited<ReturnType<DirectoryService['logOn']>>;
      try {
        outcome = await this.directory.logOn(input.username, input.password.slice(0, PASSWORD_MAX_LENGTH));
      } catch (error) {
        if (!isTallyError(error)) throw error;
        await this.audit.record(refused(error.code === 'DIRECTORY_BIND_REFUSED' ? 'directory bind refused' : 'directory unavailable'));
        throw new TallyError('DIRECTORY_UNAVAILABLE');
      }
      if (outcome.result !== 'ok') return refuse(outcome.result === 'unknown' ? 'unknown user' : outcome.result);
      row = outcome.user;
    } else {
      const passwordOk = await verifyPassword(
        local?.password_hash ?? (await decoyPasswordHash()),
        input.password.slice(0, PASSWORD_MAX_LENGTH),
      );
      if (!local) return refuse('unknown user');
      if (!passwordOk || local.password_hash === null) return refuse('wrong password');
      row = local;
    }
    const admin = row.role === 'superadmin' || row.role === 'helpdesk';
    if (row.disabled === 1) return refuse('disabled');
    if (input.console === 'security' && !admin) return refuse('not an admin');
    // The passcode counts its own failures, against the passcode lockout; a passcode refused
    // because that lockout holds says so (the password was right, so this tells no stranger anything).
    if (input.secondFactor && !(await input.secondFactor(row.username))) {
      return refuse(
        'second factor',
        this.lockout.isLocked((await this.users.findByUsername(row.username)) ?? row) ? 'USER_LOCKED' : 'INVALID_CREDENTIALS',
      );
    }
    await this.delays.succeeded(input.console, input.username);
    const actor: Actor = {
      kind: input.console === 'security' ? 'admin' : 'user',
      name: row.username,
      role: input.console === 'security' ? (row.role as 'superadmin' | 'helpdesk') : 'user',
      source: input.source,
      requestId: input.requestId,
    };
    await this.audit.record({ actor, entry: { action: `logon.${input.console}`, targetType: 'user', target: row.username } });
    return actor;
  }

  async unlock(actor: Actor, username: string): Promise<UserView> {
    const names = await this.sourceNames();
    return this.audit.change(actor, { action: 'user.unlock', targetType: 'user', target: username }, async (tx) => {
      requirePermission(actor, 'users.unlock');
      const row = await this.row(username, tx.users);
      requireAuthorityOver(actor, row);
      await this.lockout.unlock(row.id, tx.users);
      await this.delays.clear(row.username, tx.logonDelays);
      return this.view({ ...row, failed_logons: 0, locked_until: null }, names);
    });
  }

  async create(actor: Actor, input: NewUser): Promise<UserView> {
    const hashed = await hashOutsideTransaction(input.password);
    const names = await this.sourceNames();
    return this.audit.change(actor, { action: 'user.create', targetType: 'user', target: input.username.slice(0, 128) }, async (tx) => {
      requirePermission(actor, 'users.create');
      const role = checkNewUser(actor, input);
      const passwordHash = hashed ?? null;
      try {
        const row = await tx.users.insert(newUserRow({ ...input, role }, passwordHash, this.clock.now()));
        return this.view(row, names);
      } catch (error) {
        if (isUniqueViolation(error)) throw new TallyError('USER_EXISTS', `A user named ${input.username} exists already.`);
        throw error;
      }
    });
  }

  /** Changes a user's details, role or password. Help desk changes ordinary users only. */
  async update(actor: Actor, username: string, changes: UserChanges): Promise<UserView> {
    const fields = Object.keys(changes).filter((key) => changes[key as keyof UserChanges] !== undefined);
    const hashed = await hashOutsideTransaction(changes.password);
    const names = await this.sourceNames();
    return this.audit.change(
      actor,
      { action: 'user.update', targetType: 'user', target: username.slice(0, 128), details: { fields: fields.join(',') } },
      async (tx) => {
        requirePermission(actor, 'users.update');
        const row = await this.row(username, tx.users);
        const roleChange = changes.role !== undefined && changes.role !== row.role;
        requireAuthorityOver(actor, row);
        if (roleChange) requirePermission(actor, 'users.setRole');
        if (changes.role !== undefined && !(USER_ROLES as readonly string[]).includes(changes.role))
          throw invalidField('role', 'oneOf', { choices: USER_ROLES.join(', ') });
        if (changes.email !== undefined && changes.email !== null && !EMAIL_PATTERN.test(changes.email))
          throw invalidField('email', 'emailInvalid');
        for (const name of ['firstName', 'lastName'] as const) checkName(name, changes[name]);
        if (roleChange && row.role === 'superadmin') await this.keepASuperadmin(row, tx.users);
        if (changes.password !== undefined) validatePassword(changes.password);
        const updated = await tx.users.update(row.id, {
          ...(changes.email !== undefined ? { email: changes.email } : {}),
          ...(changes.firstName !== undefined ? { first_name: changes.firstName } : {}),
          ...(changes.lastName !== undefined ? { last_name: changes.lastName } : {}),
          ...(changes.role !== undefined ? { role: changes.role } : {}),
          ...(hashed !== undefined ? { password_hash: hashed } : {}),
          updated_at: this.clock.now(),
        });
        // A new password (or role) must not leave a session opened with the old one running.
        if (changes.password !== undefined || roleChange) await tx.webSessions.deleteForUser(row.id);
        return this.view(updated ?? row, names);
      },
      (user) => (changes.role !== undefined ? { role: user.role } : undefined),
    );
  }

  /** A disabled user can neither log on nor authenticate; their tokens and sessions stop working at once. */
  async setDisabled(actor: Actor, username: string, disabled: boolean): Promise<UserView> {
    const names = await this.sourceNames();
    return this.audit.change(
      actor,
      { action: disabled ? 'user.disable' : 'user.enable', targetType: 'user', target: username.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'users.update');
        const row = await this.row(username, tx.users);
        requireAuthorityOver(actor, row);
        if (disabled && actor.kind === 'admin' && actor.name === row.username)
          throw new TallyError('CONFLICT', 'You cannot disable your own account.');
        if (disabled && row.role === 'superadmin') await this.keepASuperadmin(row, tx.users);
        const updated = await tx.users.update(row.id, { disabled: disabled ? 1 : 0, updated_at: this.clock.now() });
        return this.view(updated ?? row, names);
      },
    );
  }

  /**
   * Creates users from a CSV file with a header row (username, and any of email, firstName,
   * lastName, role, password). Each row is created on its own, so one bad row refuses only itself;
   * the report says what happened to every row.
   */
  async importCsv(actor: Actor, text: string): Promise<UserImportReport> {
    const entry: AuditEntry = { action: 'user.import', targetType: 'file' };
    let report: UserImportReport;
    try {
      report = await this.importRows(actor, text);
    } catch (error) {
      await this.audit.record({ actor, entry: failure(entry, error) });
      throw error;
    }
    // Each row committed with its own event; the import itself changed nothing more, so its summary is recorded on its own.
    await this.audit.record({ actor, entry: { ...entry, details: { created: report.created, refused: report.refused } } });
    return report;
  }

  private async importRows(actor: Actor, text: string): Promise<UserImportReport> {
    requirePermission(actor, 'users.create');
    const [headerRecord, ...rows] = parseCsvRecords(text);
    const columns = importColumns(headerRecord?.fields);
    if (rows.length > USER_IMPORT_MAX_ROWS)
      throw new TallyError('INPUT_TOO_LARGE', `A file may hold at most ${USER_IMPORT_MAX_ROWS} users; split it.`);
    const report: UserImportReport = { created: 0, refused: 0, rows: [] };
    for (const [index, { line, fields }] of rows.entries()) {
      const username = (fields[columns.indexOf('username')]?.trim() ?? '').slice(0, 128);
      try {
        const user = importedUser(columns, fields);
        if (!user) continue;
        await this.create(actor, user);
        report.rows.push({ row: index + 1, line, username, result: 'created' });
        report.created++;
      } catch (error) {
        if (!isTallyError(error)) throw error;
        report.rows.push({ row: index + 1, line, username, result: 'refused', reason: error.message });
        report.refused++;
      }
    }
    return report;
  }

  /**
   * Creates users from a CSV file of any size as it streams (the same columns as `importCsv`),
   * `batchSize` users per transaction, each batch with its users' audit events. A row that cannot
   * be a user is refused on its own (`onRefused`, with its line); a username the store has already
   * is skipped, so a run stopped midway, run again, goes on where it stopped. Passwords in the file
   * are hashed (argon2, tens of milliseconds each) before their batch's transaction opens.
   */
  async importStream(
    actor: Actor,
    input: {
      records: AsyncIterable<CsvRecord>;
      fileName?: string;
      batchSize?: number;
      onRefused?: (refusal: UserImportRefusal) => void;
      onBatch?: (totals: UserStreamImportTotals) => void;
    },
  ): Promise<UserStreamImportTotals> {
    requirePermission(actor, 'users.create');
    const batchSize = input.batchSize ?? 1000;
    const totals: UserStreamImportTotals = { created: 0, skipped: 0, refused: 0 };
    const refuse = (refusal: UserImportRefusal) => {
      totals.refused++;
      input.onRefused?.(refusal);
    };
    let columns: (keyof NewUser | undefined)[] | undefined;
    let batch = new Map<string, NewUser>();
    const flush = async () => {
      if (batch.size > 0) await this.importBatch(actor, [...batch.values()], input.fileName, totals);
      batch = new Map();
      input.onBatch?.({ ...totals });
    };
    for await (const { line, fields } of input.records) {
      if (!columns) {
        columns = importColumns(fields);
        continue;
      }
      const username = (fields[columns.indexOf('username')]?.trim() ?? '').slice(0, 128);
      try {
        const user = importedUser(columns, fields);
        if (!user) continue;
        checkNewUser(actor, user);
        if (batch.has(user.username)) throw new TallyError('USER_EXISTS', `${user.username} is listed twice; only the first is imported.`);
        batch.set(user.username, user);
      } catch (error) {
        if (!isTallyError(error)) throw error;
        refuse({ line, username, reason: error.message });
      }
      if (batch.size >= batchSize) await flush();
    }
    if (!columns) throw invalidInput('userFileEmpty', { columns: USER_FILE_COLUMNS });
    await flush();
    return totals;
  }

  private async importBatch(actor: Actor, users: NewUser[], fileName: string | undefined, totals: UserStreamImportTotals): Promise<void> {
    const hashes = await Promise.all(users.map((user) => hashOutsideTransaction(user.password)));
    const now = this.clock.now();
    const counts = await this.audit.change(
      actor,
      { action: 'user.import', targetType: 'file', target: fileName?.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'users.create');
        const existing = await tx.users.existingUsernames(users.map((user) => user.username));
        const fresh = users.flatMap((user, i) => (existing.has(user.username) ? [] : [{ user, passwordHash: hashes[i] ?? null }]));
        await tx.users.insertMany(fresh.map(({ user, passwordHash }) => newUserRow(user, passwordHash, now)));
        await this.audit.record(
          fresh.map(({ user }) => ({ actor, entry: { action: 'user.create', targetType: 'user', target: user.username } })),
          tx.connection,
        );
        return { created: fresh.length, skipped: existing.size };
      },
      (counts) => ({ streamed: true, ...counts }),
    );
    totals.created += counts.created;
    totals.skipped += counts.skipped;
  }

  private async row(username: string, users: UserRepository): Promise<UserRow> {
    const row = await users.findByUsername(username);
    if (!row) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
    return row;
  }

  private async keepASuperadmin(row: UserRow, users: UserRepository): Promise<void> {
    if ((await users.otherEnabledSuperadmins(row.id)) === 0) {
      throw new TallyError('CONFLICT', `${row.username} is the last enabled super admin; make another one first.`);
    }
  }

  async get(actor: Actor, username: string): Promise<UserView> {
    requirePermission(actor, 'users.read');
    const row = await this.users.findByUsername(username);
    if (!row) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
    return this.view(row, await this.sourceNames());
  }

  /**
   * A page of users: `search` is the start of a username in any case; `after` the last username of
   * the page before; `directoryState` finds directory users in that state (`gone`: those who left
   * the directory); `source` keeps the users of the identity source of that name; `group` keeps the
   * members of a directory group (nested included).
   */
  async list(
    actor: Actor,
    filter: Omit<UserListQuery, 'ids' | 'sourceId'> & { group?: DirectoryGroup; source?: string },
  ): Promise<UserView[]> {
    requirePermission(actor, 'users.read');
    const { group, source, ...rest } = filter;
    const names = await this.sourceNames();
    const sourceId = source === undefined ? undefined : [...names].find(([, name]) => name === source)?.[0];
    if (source !== undefined && sourceId === undefined) return [];
    const ids = group ? await membersOf(this.directory, group) : undefined;
    return (await this.users.list({ ...rest, ids, sourceId })).map((row) => this.view(row, names));
  }

  /** Read before a change's transaction, never in it: on SQLite a read outside it would wait for it. */
  private async sourceNames(): Promise<Map<number, string>> {
    return (await this.directory?.sourceNames()) ?? new Map();
  }

  private view(row: UserRow, sourceNames: Map<number, string>): UserView {
    return {
      username: row.username,
      email: row.email,
      firstName: row.first_name,
      lastName: row.last_name,
      role: row.role,
      disabled: row.disabled === 1,
      locked: row.locked_until !== null && row.locked_until > this.clock.now(),
      createdAt: new Date(row.created_at).toISOString(),
      // A removed source's users keep their records and their state (gone), but the source has no name any more.
      source: row.source_id === null ? null : (sourceNames.get(row.source_id) ?? null),
      directoryState: row.directory_state,
    };
  }
}
