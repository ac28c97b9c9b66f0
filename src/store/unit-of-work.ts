import type { Kysely } from 'kysely';
import { CtkipRepository } from './repositories/ctkip.js';
import { DeviceTypeRepository } from './repositories/device-types.js';
import { DistributionRepository } from './repositories/distributions.js';
import { ProfileRepository } from './repositories/profiles.js';
import { TokenRequestRepository } from './repositories/token-requests.js';
import { TokenRepository } from './repositories/tokens.js';
import { UserRepository } from './repositories/users.js';
import type { Database } from './schema.js';

/** The repositories a unit of work uses, all bound to the same connection or transaction. */
export interface Repositories {
  tokens: TokenRepository;
  users: UserRepository;
  distributions: DistributionRepository;
  /**
   * The connection (inside `transaction`, the transaction) the repositories are bound to, for
   * services that take one so that what they write commits with the rest (audit's `recordIn`).
   * Not for queries: the domain asks repositories.
   */
  db: Kysely<Database>;
}

export function repositories(db: Kysely<Database>): Repositories {
  return { tokens: new TokenRepository(db), users: new UserRepository(db), distributions: new DistributionRepository(db), db };
}

/**
 * Units of work for a domain service: `run` outside any transaction, `transaction` for work that
 * commits or rolls back whole. The service never opens a transaction on the query builder itself.
 */
export class UnitOfWork {
  private readonly outside: Repositories;

  constructor(private readonly db: Kysely<Database>) {
    this.outside = repositories(db);
  }

  /** Repositories on the connection itself: each statement commits on its own. */
  get repositories(): Repositories {
    return this.outside;
  }

  /** Runs `work` with repositories bound to one transaction: committed when it returns, rolled back when it throws. */
  async transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(repositories(trx)));
  }
}

/** One instance of each repository on the connection, for the services' constructors (services.ts). */
export interface StoreRepositories {
  tokens: TokenRepository;
  users: UserRepository;
  distributions: DistributionRepository;
  profiles: ProfileRepository;
  deviceTypes: DeviceTypeRepository;
  requests: TokenRequestRepository;
  ctkip: CtkipRepository;
}

export function storeRepositories(db: Kysely<Database>): StoreRepositories {
  return {
    tokens: new TokenRepository(db),
    users: new UserRepository(db),
    distributions: new DistributionRepository(db),
    profiles: new ProfileRepository(db),
    deviceTypes: new DeviceTypeRepository(db),
    requests: new TokenRequestRepository(db),
    ctkip: new CtkipRepository(db),
  };
}
