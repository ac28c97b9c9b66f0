import { BlockList, isIP } from 'node:net';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { invalidField, TallyError } from '../errors.js';
import { isUniqueViolation } from '../store/connect.js';
import type { RadiusClientRepository } from '../store/repositories/radius-clients.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';

export interface RadiusClientView {
  name: string;
  address: string;
  requireMessageAuthenticator: boolean;
  createdAt: string;
}

/** A client as the RADIUS server needs it: its secret opened once, not per packet. */
export interface RadiusClient {
  name: string;
  secret: Buffer;
  requireMessageAuthenticator: boolean;
}

function radiusSecretContext(id: number): string {
  return `radius-client:${id}`;
}

const MIN_SECRET_LENGTH = 8;
/** Other nodes may add clients; this is how stale a node's view of them may get. */
const REFRESH_MS = 10_000;

function parseAddress(address: string): { ip: string; prefix?: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [ip = '', prefixText, ...rest] = address.split('/');
  const version = isIP(ip);
  if (version === 0 || rest.length) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) return { ip, family };
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { ip, prefix, family };
}

/** RADIUS clients (NAS, VPN concentrators) by address, each with its shared secret sealed in the store. */
export class RadiusClientService {
  private cache: { at: number; clients: { match: BlockList; exact?: string; client: RadiusClient }[] } | undefined;

  constructor(
    private readonly clients: RadiusClientRepository,
    private readonly keyring: Keyring,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async create(
    actor: Actor,
    input: { name: string; address: string; secret: string; requireMessageAuthenticator?: boolean },
  ): Promise<RadiusClientView> {
    const view = await this.audit.change(
      actor,
      {
        action: 'radius-client.create',
        targetType: 'radius-client',
        target: input.name.slice(0, 128),
        details: { address: input.address.slice(0, 64) },
      },
      async (tx) => {
        requirePermission(actor, 'radius.manage');
        if (!/^[\w .@-]{1,128}$/.test(input.name)) throw invalidField('name', 'radiusClientNameShape');
        if (!parseAddress(input.address)) throw invalidField('address', 'radiusClientAddress');
        if (input.secret.length < MIN_SECRET_LENGTH || input.secret.length > 128) {
          throw invalidField('secret', 'radiusSecretLength', { min: MIN_SECRET_LENGTH, max: 128 });
        }
        const now = this.clock.now();
        try {
          const row = await tx.radiusClients.insert(
            { name: input.name, address: input.address, requireMessageAuthenticator: input.requireMessageAuthenticator !== false, now },
            (id) => seal(this.keyring, Buffer.from(input.secret), radiusSecretContext(id)),
          );
          return {
            name: row.name,
            address: row.address,
            requireMessageAuthenticator: row.require_message_authenticator === 1,
            createdAt: new Date(row.created_at).toISOString(),
          };
        } catch (error) {
          if (isUniqueViolation(error)) throw new TallyError('CONFLICT', 'A RADIUS client with that name or address exists already.');
          throw error;
        }
      },
    );
    this.cache = undefined;
    return view;
  }

  async list(actor: Actor): Promise<RadiusClientView[]> {
    requirePermission(actor, 'radius.manage');
    const rows = await this.clients.list();
    return rows.map((row) => ({
      name: row.name,
      address: row.address,
      requireMessageAuthenticator: row.require_message_authenticator === 1,
      createdAt: new Date(row.created_at).toISOString(),
    }));
  }

  /** Removes a client: its packets are dropped from now on (other nodes within their refresh interval). */
  async remove(actor: Actor, name: string): Promise<void> {
    await this.audit.change(
      actor,
      { action: 'radius-client.remove', targetType: 'radius-client', target: name.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'radius.manage');
        if (!(await tx.radiusClients.remove(name))) throw new TallyError('RADIUS_CLIENT_NOT_FOUND', `No RADIUS client named ${name}.`);
      },
    );
    this.cache = undefined;
  }

  /** The client a datagram came from, or undefined (its packets are dropped). Exact addresses win over ranges. */
  async resolve(address: string): Promise<RadiusClient | undefined> {
    const now = this.clock.now();
    if (!this.cache || now - this.cache.at > REFRESH_MS) {
      const rows = await this.clients.all();
      const clients = rows.flatMap((row) => {
        const parsed = parseAddress(row.address);
        if (!parsed) return [];
        const match = new BlockList();
        if (parsed.prefix === undefined) match.addAddress(parsed.ip, parsed.family);
        else match.addSubnet(parsed.ip, parsed.prefix, parsed.family);
        const client = {
          name: row.name,
          secret: open(this.keyring, row.secret_sealed, radiusSecretContext(row.id)),
          requireMessageAuthenticator: row.require_message_authenticator === 1,
        };
        return [{ match, exact: parsed.prefix === undefined ? parsed.ip : undefined, client }];
      });
      this.cache = { at: now, clients };
    }
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d.
    const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    const candidates = this.cache.clients;
    return (candidates.find((c) => c.exact === ip) ?? candidates.find((c) => c.match.check(ip, family)))?.client;
  }
}
