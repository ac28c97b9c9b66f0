import type { Kysely } from 'kysely';
import type { OffLoopCommits } from './connect.js';
import { ApiTokenRepository } from './repositories/api-tokens.js';
import { AuditRepository } from './repositories/audit.js';
import { AuthenticationRepository } from './repositories/authentication.js';
import { AuthnApiRepository } from './repositories/authn-api.js';
import { BulkDistributionRepository } from './repositories/bulk-distributions.js';
import { CtkipRepository } from './repositories/ctkip.js';
import { DeviceTypeRepository } from './repositories/device-types.js';
import { DistributionRepository } from './repositories/distributions.js';
import { IdentitySourceRepository } from './repositories/identity-sources.js';
import { LogonDelayRepository } from './repositories/logon-delays.js';
import { MailOutboxRepository } from './repositories/mail-outbox.js';
import { MailTemplateRepository } from './repositories/mail-templates.js';
import { MetaRepository } from './repositories/meta.js';
import { ProfileRepository } from './repositories/profiles.js';
import { RadiusClientRepository } from './repositories/radius-clients.js';
import { SettingsRepository } from './repositories/settings.js';
import { TokenRequestRepository } from './repositories/token-requests.js';
import { TokenRepository } from './repositories/tokens.js';
import { UserRepository } from './repositories/users.js';
import { WebSessionRepository } from './repositories/web-sessions.js';
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

/**
 * For repositories whose one step is several statements: runs `work` in the transaction `db` is
 * bound to already (a change's, so the step commits or rolls back with the rest), else in its own.
 */
export function atomically<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
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
  settings: SettingsRepository;
  apiTokens: ApiTokenRepository;
  radiusClients: RadiusClientRepository;
  identitySources: IdentitySourceRepository;
  webSessions: WebSessionRepository;
  logonDelays: LogonDelayRepository;
  bulkDistributions: BulkDistributionRepository;
  authnApi: AuthnApiRepository;
  mailTemplates: MailTemplateRepository;
  /** Mails waiting to be sent, queued with the change that causes them. */
  mailOutbox: MailOutboxRepository;
  /** Bound to a transaction, for the administration of a token's authentication state (no holder cache there). */
  authentication: AuthenticationRepository;
  /** The connection they are bound to, for a service that writes with them (the audit's `record` within a change). */
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
    settings: new SettingsRepository(db),
    apiTokens: new ApiTokenRepository(db),
    radiusClients: new RadiusClientRepository(db),
    identitySources: new IdentitySourceRepository(db),
    webSessions: new WebSessionRepository(db),
    logonDelays: new LogonDelayRepository(db),
    bulkDistributions: new BulkDistributionRepository(db),
    authnApi: new AuthnApiRepository(db),
    mailTemplates: new MailTemplateRepository(db),
    mailOutbox: new MailOutboxRepository(db),
    authentication: new AuthenticationRepository(db),
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

  /** `offLoopCommits`: SQLite with durable commits, whose transactions then share off-loop syncs. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly offLoopCommits?: OffLoopCommits,
  ) {
    this.repositories = repositories(db);
  }

  /** Runs `work` with repositories bound to one transaction: committed (durably) when it returns, rolled back when it throws. */
  async transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T> {
    const transaction = (db: Kysely<Database>) => db.transaction().execute((trx) => work(repositories(trx)));
    return this.offLoopCommits ? this.offLoopCommits.commit(this.db, transaction) : transaction(this.db);
  }
}
