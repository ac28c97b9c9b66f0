import type { Kysely } from 'kysely';
import { AuditRepository } from './repositories/audit.js';
import { CtkipRepository } from './repositories/ctkip.js';
import { DeviceTypeRepository } from './repositories/device-types.js';
import { DistributionRepository } from './repositories/distributions.js';
import { MetaRepository } from './repositories/meta.js';
import { ProfileRepository } from './repositories/profiles.js';
import { TokenRequestRepository } from './repositories/token-requests.js';
import { TokenRepository } from './repositories/tokens.js';
import { UserRepository } from './repositories/users.js';
import type { Database } from './schema.js';

declare const opaque: unique symbol;

/**
 * A connection or an open transaction as the domain holds it: something to hand on to a repository
 * or the audit so that their writes commit with the rest, never something to query (it has no
 * methods; only src/store/ turns it back into the query builder).
 */
export interface Connection {
  readonly [opaque]: 'connection';
}

export function connectionOf(db: Kysely<Database>): Connection {
  return db as unknown as Connection;
}

/** For repositories only: the query builder behind a connection the domain handed on. */
export function queryBuilderOf(connection: Connection): Kysely<Database> {
  return connection as unknown as Kysely<Database>;
}

/** One of each repository, all bound to the same connection or transaction. */
export interface Repositories {
  tokens: TokenRepository;
  users: UserRepository;
  distributions: DistributionRepository;
  profiles: ProfileRepository;
  deviceTypes: DeviceTypeRepository;
  requests: TokenRequestRepository;
  ctkip: CtkipRepository;
  audit: AuditRepository;
  meta: MetaRepository;
  /** The connection they are bound to, for a service that writes with them (audit's `recordIn`). */
  connection: Connection;
}

export function repositories(db: Kysely<Database>): Repositories {
  return {
    tokens: new TokenRepository(db),
    users: new UserRepository(db),
    distributions: new DistributionRepository(db),
    profiles: new ProfileRepository(db),
    deviceTypes: new DeviceTypeRepository(db),
    requests: new TokenRequestRepository(db),
    ctkip: new CtkipRepository(db),
    audit: new AuditRepository(db),
    meta: new MetaRepository(db),
    connection: connectionOf(db),
  };
}

/**
 * Units of work for domain services: `repositories` outside any transaction (each statement commits
 * on its own), `transaction` for work that commits or rolls back whole, across aggregates. The one
 * way the domain gets a transaction: it never opens one on the query builder itself.
 */
export class UnitOfWork {
  readonly repositories: Repositories;

  constructor(private readonly db: Kysely<Database>) {
    this.repositories = repositories(db);
  }

  /** Runs `work` with repositories bound to one transaction: committed when it returns, rolled back when it throws. */
  async transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(repositories(trx)));
  }
}
