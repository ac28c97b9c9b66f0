import type { Keyring } from '../core/crypto/secret-box.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/connect.js';
import { ApiTokenRepository } from '../store/repositories/api-tokens.js';
import { AuthenticationRepository } from '../store/repositories/authentication.js';
import { AuthnApiRepository } from '../store/repositories/authn-api.js';
import { ChallengeRepository } from '../store/repositories/challenges.js';
import { DashboardRepository } from '../store/repositories/dashboard.js';
import { LogonDelayRepository } from '../store/repositories/logon-delays.js';
import { RadiusClientRepository } from '../store/repositories/radius-clients.js';
import { RateLimitRepository } from '../store/repositories/rate-limits.js';
import { WebSessionRepository } from '../store/repositories/web-sessions.js';
import { UnitOfWork } from '../store/unit-of-work.js';
import { ApiTokenService } from './api-tokens.js';
import { AssignmentImportService } from './assignment-import.js';
import { AuditService } from './audit.js';
import { AuditRetentionService } from './audit-retention.js';
import { AuthenticationService, DEFAULT_AUTHENTICATION, PasscodeRules } from './authentication.js';
import { AuthnApiService } from './authn-api.js';
import { BulkDistributionService } from './bulk-distribution.js';
import { type Clock, ClockWatch, type Monotonic, systemMonotonic } from './clock.js';
import { DashboardService } from './dashboard.js';
import { DirectoryService } from './directory.js';
import { DirectoryConnector } from './directory-connection.js';
import { type DistributionOptions, DistributionService } from './distribution.js';
import { DEFAULT_LOCKOUT, Lockout } from './lockout.js';
import { LogonDelays } from './logon-delays.js';
import { DEFAULT_MAIL_OUTBOX, MailOutbox, type MailOutboxSettings } from './mail-outbox.js';
import { MailTemplateService } from './mail-templates.js';
import { type Mailer, Notifier } from './notifications.js';
import { type Observer, unobserved } from './observer.js';
import { ProfileService } from './profiles.js';
import { ProvisioningService } from './provisioning.js';
import { RadiusClientService } from './radius-clients.js';
import { RateLimitService } from './rate-limits.js';
import { SecretHasher } from './secret-hash.js';
import { DEFAULT_SELF_SERVICE, SelfService, type SelfServiceSettings } from './self-service.js';
import { DEFAULT_SESSIONS, SessionService, type SessionSettings } from './sessions.js';
import { SettingsService } from './settings.js';
import { TokenAdministrationService } from './token-administration.js';
import { TokenRequestService } from './token-requests.js';
import { TokenService } from './tokens.js';
import { UserService } from './users.js';

/** The domain services, wired once per process; adapters receive this and call nothing else. */
export interface Services {
  clock: Clock;
  options: ServiceOptions;
  audit: AuditService;
  /** Complete exports of a time range and the purge of what is older than a date. */
  auditRetention: AuditRetentionService;
  users: UserService;
  /** LDAP and Active Directory identity sources: their administration, log-on by bind, sync. */
  directory: DirectoryService;
  lockout: Lockout;
  logonDelays: LogonDelays;
  apiTokens: ApiTokenService;
  tokens: TokenService;
  profiles: ProfileService;
  distribution: DistributionService;
  provisioning: ProvisioningService;
  authentication: AuthenticationService;
  /** A token's authentication state: PINs, resync, lost tokens, enable, disable, unlock, testing a code. */
  tokenAdmin: TokenAdministrationService;
  /** The RSA SecurID Authentication API: its agents and attempts. */
  authnApi: AuthnApiService;
  radiusClients: RadiusClientService;
  sessions: SessionService;
  selfService: SelfService;
  requests: TokenRequestService;
  notifier: Notifier;
  /** What each mail to a holder says: Tally's texts and administrators' edits. */
  mailTemplates: MailTemplateService;
  /** Mails waiting to be sent: the sender's passes, the administrators' list and retry. */
  mailOutbox: MailOutbox;
  bulk: BulkDistributionService;
  /** Serial → user assignments from a CSV file. */
  assignments: AssignmentImportService;
  dashboard: DashboardService;
  /** Notices the wall clock being stepped (checked by the server every few seconds and by the dashboard). */
  clockWatch: ClockWatch;
  rateLimits: RateLimitService;
  /** The store-backed settings: the per-user token limit and the self-service switches. */
  settings: SettingsService;
  /** Where the services and the adapters report for monitoring (`unobserved` without metrics). */
  observer: Observer;
}

export interface ServiceOptions extends DistributionOptions {
  sessions?: SessionSettings;
  /** Mails to token holders; without it none are queued or sent. */
  mailer?: Mailer;
  /** Retries, back-off, lease and retention of the mail outbox. */
  mailOutbox?: MailOutboxSettings;
  /** For what the domain reports but no caller waits for (a failed mail, a bulk run). */
  logger?: Logger;
  /** The Self-Service Console's log-on and lost-token policies; read on each use. */
  selfService?: SelfServiceSettings;
  /** Monitoring (the Prometheus metrics); none without it. */
  observer?: Observer;
  /** The LDAP I/O of identity sources; a test passes one that counts what reaches the directory. */
  directoryConnector?: DirectoryConnector;
  /** The clock the wall clock is checked against for steps; `performance.now()` unless a test moves it. */
  monotonic?: Monotonic;
  /** How long an RSA Authentication API attempt waits for the agent's next request. */
  authnAttemptSeconds?: number;
}

export const DEFAULT_SERVICE_OPTIONS: ServiceOptions = { publicUrl: 'http://localhost:8080', issuer: 'Tally' };

export function createServices(store: Store, keyring: Keyring, clock: Clock, options: ServiceOptions = DEFAULT_SERVICE_OPTIONS): Services {
  const work = new UnitOfWork(store.db, store.offLoopCommits);
  const { repositories } = work;
  const audit = new AuditService(work, clock);
  const hasher = new SecretHasher(repositories.meta, keyring);
  const observer = options.observer ?? unobserved;
  const directory = new DirectoryService(
    repositories.identitySources,
    repositories.users,
    options.directoryConnector ?? new DirectoryConnector(options.logger),
    keyring,
    audit,
    clock,
    observer,
    options.logger,
  );
  const tokens = new TokenService(work, keyring, audit, clock, directory);
  const profiles = new ProfileService(repositories, keyring, audit, clock, directory);
  const lockout = new Lockout(repositories.users, clock, DEFAULT_LOCKOUT);
  const logonDelays = new LogonDelays(new LogonDelayRepository(store.db), clock);
  const rateLimits = new RateLimitService(new RateLimitRepository(store.db, store.offLoopCommits), clock);
  const mailOutbox = new MailOutbox(
    repositories.mailOutbox,
    keyring,
    audit,
    clock,
    observer,
    options.mailer,
    options.logger,
    options.mailOutbox ?? DEFAULT_MAIL_OUTBOX,
  );
  const mailTemplates = new MailTemplateService(work, audit, clock, options);
  const notifier = new Notifier(mailOutbox, options, mailTemplates);
  const settings = new SettingsService(repositories.settings, audit, clock);
  const distribution = new DistributionService(
    work,
    keyring,
    tokens,
    profiles,
    hasher,
    audit,
    clock,
    settings,
    options,
    notifier,
    directory,
  );
  const users = new UserService(repositories.users, audit, clock, lockout, logonDelays, directory);
  const authenticationStore = new AuthenticationRepository(store.db, store.offLoopCommits, store.genericPlans);
  const passcodeRules = new PasscodeRules(tokens, lockout, clock, DEFAULT_AUTHENTICATION);
  const clockWatch = new ClockWatch(clock, options.monotonic ?? systemMonotonic, (step) => {
    observer.clockStepped(step.seconds);
    options.logger?.warn(
      { seconds: step.seconds },
      `The system clock was stepped ${step.seconds > 0 ? 'forward' : 'back'} by ${Math.abs(step.seconds)} s. Time-based codes follow it; each token's last accepted step stays its floor, so no code is accepted twice. Check NTP on this host.`,
    );
  });
  const authentication = new AuthenticationService(
    authenticationStore,
    new ChallengeRepository(store.db),
    passcodeRules,
    hasher,
    lockout,
    audit,
    clock,
    observer,
    directory,
  );
  const tokenAdmin = new TokenAdministrationService(
    passcodeRules,
    tokens,
    hasher,
    lockout,
    audit,
    clock,
    options.helpdeskCredentials ?? 'none',
  );
  const requests = new TokenRequestService(repositories, profiles, distribution, settings, audit, clock, notifier, directory);
  return {
    clock,
    options,
    audit,
    auditRetention: new AuditRetentionService(repositories.audit, audit, clock),
    users,
    directory,
    lockout,
    logonDelays,
    apiTokens: new ApiTokenService(new ApiTokenRepository(store.db), audit, clock),
    tokens,
    profiles,
    distribution,
    provisioning: new ProvisioningService(repositories, keyring, tokens, hasher, audit, clock, rateLimits),
    authentication,
    tokenAdmin,
    authnApi: new AuthnApiService(new AuthnApiRepository(store.db), authentication, audit, clock, hasher, options.authnAttemptSeconds),
    radiusClients: new RadiusClientService(new RadiusClientRepository(store.db), keyring, audit, clock),
    sessions: new SessionService(
      new WebSessionRepository(store.db),
      repositories.users,
      audit,
      clock,
      options.sessions ?? DEFAULT_SESSIONS,
      keyring,
    ),
    selfService: new SelfService(
      repositories,
      profiles,
      distribution,
      tokenAdmin,
      authentication,
      requests,
      users,
      audit,
      clock,
      options.selfService ?? { ...DEFAULT_SELF_SERVICE },
      settings,
    ),
    requests,
    notifier,
    mailTemplates,
    mailOutbox,
    bulk: new BulkDistributionService(work, profiles, distribution, audit, clock, options.logger, directory),
    assignments: new AssignmentImportService(distribution, audit),
    dashboard: new DashboardService(repositories.audit, new DashboardRepository(store.db), clock, clockWatch, mailOutbox),
    clockWatch,
    rateLimits,
    settings,
    observer,
  };
}
