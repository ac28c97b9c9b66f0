import { randomToken, sha256Hex } from '../core/crypto/random.js';
import { invalidField, TallyError } from '../errors.js';
import { API_TOKEN_ROLES, type ApiTokenRole } from '../model/vocabulary.js';
import type { ApiTokenRepository, ApiTokenRow } from '../store/repositories/api-tokens.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';

const TOKEN_PREFIX = 'tly_';
/**
 * How long a node trusts a bearer token it has found in the store without asking again: the bound
 * on how long a token revoked on another node still works here (on the revoking node it stops at
 * once). It spares each REST request a query.
 */
export const API_TOKEN_RECHECK_MS = 5_000;
/** Verified tokens a node keeps at most (the oldest make room); deployments have a handful. */
const VERIFIED_TOKENS_KEPT = 1_000;
/** Recording every use would put a write on the authentication hot path; a minute's precision is enough. */
const LAST_USED_PRECISION_MS = 60_000;

/** A token found active in the store, keyed by its SHA-256 (never by the token itself). */
interface VerifiedToken {
  id: number;
  name: string;
  role: ApiTokenRole;
  lastUsedAt: number | null;
  checkedAt: number;
}

/** What may leave the service about an API token: never the token or its hash. */
export interface ApiTokenView {
  id: number;
  name: string;
  role: ApiTokenRole;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function view(row: ApiTokenRow): ApiTokenView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: Number(row.id),
    name: row.name,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}

/**
 * Bearer tokens for the REST API. The token is shown once; the store keeps only its SHA-256
 * (it has 256 bits of entropy, so a slow hash would add nothing but latency).
 */
export class ApiTokenService {
  private readonly verified = new Map<string, VerifiedToken>();
  /** Revocations this node has made: a look-up that raced one does not keep what it read. */
  private revocations = 0;

  constructor(
    private readonly tokens: ApiTokenRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async create(actor: Actor, input: { name: string; role: ApiTokenRole }): Promise<{ token: string; name: string; role: ApiTokenRole }> {
    return this.audit.change(
      actor,
      { action: 'apitoken.create', targetType: 'apitoken', target: input.name.slice(0, 128), details: { role: input.role } },
      async (tx) => {
        requirePermission(actor, 'apitokens.manage');
        if (!/^[\w .@-]{1,128}$/.test(input.name)) {
          throw invalidField('name', 'apiTokenNameShape');
        }
        if (!(API_TOKEN_ROLES as readonly string[]).includes(input.role)) {
          throw invalidField('role', 'oneOf', { choices: API_TOKEN_ROLES.join(', ') });
        }
        const token = TOKEN_PREFIX + randomToken(32);
        await tx.apiTokens.insert({ name: input.name, role: input.role, tokenHash: sha256Hex(token), now: this.clock.now() });
        return { token, name: input.name, role: input.role };
      },
    );
  }

  async list(actor: Actor): Promise<ApiTokenView[]> {
    requirePermission(actor, 'apitokens.manage');
    return (await this.tokens.list()).map(view);
  }

  /**
   * Revokes a token: its next request to this node is refused, and to any other node within
   * API_TOKEN_RECHECK_MS.
   */
  async revoke(actor: Actor, id: number): Promise<ApiTokenView> {
    const revoked = await this.audit.change(
      actor,
      { action: 'apitoken.revoke', targetType: 'apitoken', target: String(id) },
      async (tx) => {
        requirePermission(actor, 'apitokens.manage');
        const row = await tx.apiTokens.find(id);
        if (!row) throw new TallyError('API_TOKEN_NOT_FOUND', `No API token ${id}.`);
        if (!(await tx.apiTokens.revoke(id, this.clock.now())))
          throw new TallyError('CONFLICT', `API token ${row.name} is revoked already.`);
        return view({ ...row, revoked_at: this.clock.now() });
      },
      (token) => ({ name: token.name, role: token.role }),
    );
    this.revocations++;
    for (const [hash, token] of this.verified) if (token.id === id) this.verified.delete(hash);
    return revoked;
  }

  /** The actor behind a bearer token, or UNAUTHENTICATED. */
  async authenticate(bearer: string, source?: string): Promise<Actor> {
    if (!bearer.startsWith(TOKEN_PREFIX) || bearer.length > 200) throw new TallyError('UNAUTHENTICATED', 'The API token is not valid.');
    const hash = sha256Hex(bearer);
    const now = this.clock.now();
    const token = this.stillTrusted(hash, now) ?? (await this.lookUp(hash, now));
    if (token.lastUsedAt === null || now - token.lastUsedAt > LAST_USED_PRECISION_MS) {
      await this.tokens.touch(token.id, now);
      token.lastUsedAt = now;
    }
    return { kind: 'apitoken', name: token.name, role: token.role, source };
  }

  /** The token as verified less than API_TOKEN_RECHECK_MS ago (a clock stepped back counts as too old). */
  private stillTrusted(hash: string, now: number): VerifiedToken | undefined {
    const token = this.verified.get(hash);
    return token && now >= token.checkedAt && now - token.checkedAt < API_TOKEN_RECHECK_MS ? token : undefined;
  }

  private async lookUp(hash: string, now: number): Promise<VerifiedToken> {
    this.verified.delete(hash);
    const revocationsBefore = this.revocations;
    const row = await this.tokens.findActiveByHash(hash);
    if (!row) throw new TallyError('UNAUTHENTICATED', 'The API token is not valid.');
    const token = { id: Number(row.id), name: row.name, role: row.role, lastUsedAt: row.last_used_at, checkedAt: now };
    if (revocationsBefore === this.revocations) {
      if (this.verified.size >= VERIFIED_TOKENS_KEPT) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(hash, token);
    }
    return token;
  }
}
