import { randomToken, sha256Hex } from '../core/crypto/random.js';
import { invalidField, TallyError } from '../errors.js';
import { API_TOKEN_ROLES, type ApiTokenRole } from '../model/vocabulary.js';
import type { ApiTokenRepository, ApiTokenRow } from '../store/repositories/api-tokens.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';

const TOKEN_PREFIX = 'tly_';

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

  /** Revokes a token: its next request is refused, on every node (nothing is cached). */
  async revoke(actor: Actor, id: number): Promise<ApiTokenView> {
    return this.audit.change(
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
  }

  /** The actor behind a bearer token, or UNAUTHENTICATED. */
  async authenticate(bearer: string, source?: string): Promise<Actor> {
    if (!bearer.startsWith(TOKEN_PREFIX) || bearer.length > 200) throw new TallyError('UNAUTHENTICATED', 'The API token is not valid.');
    const row = await this.tokens.findActiveByHash(sha256Hex(bearer));
    if (!row) throw new TallyError('UNAUTHENTICATED', 'The API token is not valid.');
    const now = this.clock.now();
    // Recording every use would put a write on the authentication hot path; a minute's precision is enough.
    if (row.last_used_at === null || now - row.last_used_at > 60_000) await this.tokens.touch(row.id, now);
    return { kind: 'apitoken', name: row.name, role: row.role, source };
  }
}
