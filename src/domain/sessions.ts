import { randomToken, sha256Hex } from '../core/crypto/random.js';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { TallyError } from '../errors.js';
import type { WebConsole } from '../model/vocabulary.js';
import type { UserRepository } from '../store/repositories/users.js';
import type { WebSessionRepository } from '../store/repositories/web-sessions.js';
import { type Actor, requireAuthorityOver, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';

export interface SessionSettings {
  /** A session ends after this long without a request. */
  idleMinutes: number;
  /** And this long after log-on, however active. */
  maxHours: number;
}

export const DEFAULT_SESSIONS: SessionSettings = { idleMinutes: 15, maxHours: 8 };

/** What a console request knows about its session. */
export interface WebSession {
  actor: Actor;
  console: WebConsole;
  expiresAt: number;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
/** Recording every request would put a write on every page; idle time is kept to the minute. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Console sessions in the store, so any node can serve any request and a log-off or an admin's
 * revocation is immediate everywhere. The id (256 random bits) lives only in the browser's cookie;
 * the store keeps its SHA-256, enough for an id of that entropy.
 */
export class SessionService {
  constructor(
    private readonly repository: WebSessionRepository,
    private readonly users: UserRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
    private readonly keyring: Keyring,
  ) {}

  private get idleMs(): number {
    return this.settings.idleMinutes * 60_000;
  }

  /** A new session for an actor the user service has just logged on; the id goes into the cookie and nowhere else. */
  async start(actor: Actor, console: WebConsole): Promise<{ id: string; session: WebSession }> {
    const user = await this.users.findByUsername(actor.name);
    if (!user) throw new TallyError('USER_NOT_FOUND', `No user named ${actor.name}.`);
    const now = this.clock.now();
    await this.repository.deleteEnded(now, now - this.idleMs);
    const id = randomToken(32);
    const expiresAt = now + this.settings.maxHours * 3_600_000;
    await this.repository.insert({
      id_hash: sha256Hex(id),
      user_id: user.id,
      console,
      source: actor.source?.slice(0, 64) ?? null,
      created_at: now,
      last_seen_at: now,
      expires_at: expiresAt,
      flash_sealed: null,
    });
    return { id, session: { actor, console, expiresAt } };
  }

  /**
   * The session behind a cookie, or null when there is none, it timed out, or its user was
   * disabled (or, for the security console, is no longer an admin). An ended session is deleted.
   */
  async resume(id: string, console: WebConsole, source?: string): Promise<WebSession | null> {
    if (!SESSION_ID.test(id)) return null;
    const idHash = sha256Hex(id);
    const row = await this.repository.find(idHash, console);
    if (!row) return null;
    const now = this.clock.now();
    const admin = row.role === 'superadmin' || row.role === 'helpdesk';
    if (now >= row.expires_at || now - row.last_seen_at >= this.idleMs || row.disabled === 1 || (console === 'security' && !admin)) {
      await this.repository.delete(idHash);
      return null;
    }
    if (now - row.last_seen_at >= TOUCH_INTERVAL_MS) await this.repository.touch(idHash, now);
    const actor: Actor =
      console === 'security'
        ? { kind: 'admin', name: row.username, role: row.role as 'superadmin' | 'helpdesk', source }
        : { kind: 'user', name: row.username, role: 'user', source };
    return { actor, console, expiresAt: row.expires_at };
  }

  /**
   * Leaves a value for the session's next page that asks for it by `key` (after a redirect, so a
   * reload cannot show it again). Sealed: it may be a secret, such as an emergency access code.
   */
  async putFlash(id: string, key: string, value: string): Promise<void> {
    if (!SESSION_ID.test(id)) return;
    const idHash = sha256Hex(id);
    await this.repository.setFlash(idHash, seal(this.keyring, Buffer.from(JSON.stringify({ key, value })), flashContext(idHash)));
  }

  /** The value left under `key`, once: taking it clears it. A value under another key stays for its own page. */
  async takeFlash(id: string, key: string): Promise<string | null> {
    if (!SESSION_ID.test(id)) return null;
    const idHash = sha256Hex(id);
    const sealed = await this.repository.findFlash(idHash);
    if (sealed === null) return null;
    const flash = JSON.parse(open(this.keyring, sealed, flashContext(idHash)).toString()) as { key: string; value: string };
    if (flash.key !== key || !(await this.repository.takeFlash(idHash, sealed))) return null;
    return flash.value;
  }

  /** Log-off: the session stops working at once, on every node. */
  async end(id: string, actor: Actor): Promise<void> {
    if (!SESSION_ID.test(id)) return;
    await this.audit.change(actor, { action: 'session.end', targetType: 'user', target: actor.name }, (tx) =>
      tx.webSessions.delete(sha256Hex(id)),
    );
  }

  /** Ends every session of a user: the user themself, or an admin (a lost laptop, a leaver). */
  async revokeAll(actor: Actor, username: string): Promise<number> {
    return this.audit.change(
      actor,
      { action: 'session.revoke', targetType: 'user', target: username },
      async (tx) => {
        if (actor.kind !== 'user' || actor.name !== username) requirePermission(actor, 'sessions.revoke');
        const user = await tx.users.findByUsername(username);
        if (!user) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
        requireAuthorityOver(actor, user);
        return tx.webSessions.deleteForUser(user.id);
      },
      (count) => ({ sessions: count }),
    );
  }
}

function flashContext(idHash: string): string {
  return `web-session:${idHash}:flash`;
}
