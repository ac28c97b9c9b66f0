import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { randomToken } from './core/crypto/random.js';
import { generateMasterKey, type Keyring, makeKeyring } from './core/crypto/secret-box.js';
import { AuditForwarder, DEFAULT_AUDIT_FORWARDING, runAuditForwarding } from './domain/audit-forwarding.js';
import { type Clock, systemClock } from './domain/clock.js';
import { runDirectorySync } from './domain/directory.js';
import { runMailSender } from './domain/mail-outbox.js';
import type { SelfServiceSettings } from './domain/self-service.js';
import { createServices, DEFAULT_SERVICE_OPTIONS, type Services } from './domain/services.js';
import type { SessionSettings } from './domain/sessions.js';
import { checkStoreReady, initialiseStore, isInitialised } from './domain/setup.js';
import { SmtpMailer, type SmtpSettings } from './domain/smtp-mailer.js';
import { buildAdminApp } from './http/admin/app.js';
import type { Phase, Readiness } from './http/admin/readiness.js';
import { buildAuthnApiApp } from './http/authn-api/app.js';
import { reloadTls, type TlsFiles } from './http/fastify.js';
import { buildPublicApp } from './http/public/app.js';
import type { Logger } from './logger.js';
import { PrometheusMetrics } from './metrics/prometheus.js';
import type { HelpdeskCredentials } from './model/vocabulary.js';
import { type RunningRadius, startRadiusServer } from './radius/server.js';
import { migrateToLatest, openStore, type Store, type StoreOptions } from './store/connect.js';
import { keyFileIsPrivate, loadKeyring, masterKeyPath, writeKeyringFile } from './store/master-key.js';
import { AuditRepository } from './store/repositories/audit.js';
import { MetaRepository } from './store/repositories/meta.js';
import { openSyslogSink, type SyslogTarget } from './syslog/transport.js';

export interface ServerOptions {
  store: StoreOptions;
  masterKey?: string;
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  /** When set, `GET /metrics` answers only a scrape that sends it as a bearer token. */
  metricsToken?: string;
  radiusHost: string;
  /** 0 turns RADIUS off. */
  radiusPort: number;
  /** The RSA SecurID Authentication API listener; off without it. */
  authnApi?: { host: string; port: number; tls?: TlsFiles; attemptSeconds: number };
  publicUrl?: string;
  issuer: string;
  tls?: TlsFiles;
  adminTls?: TlsFiles;
  /** The trusted reverse proxies of the public listener (addresses, CIDRs); none when empty. */
  trustProxy: string[];
  initIfNeeded: boolean;
  /** Console session timeouts; the domain's defaults without them. */
  sessions?: SessionSettings;
  logonRateLimit?: number;
  ctkipRateLimit?: number;
  /** Per HTTP listener (`--max-requests-in-flight`); unlimited without it. */
  maxRequestsInFlight?: number;
  /** The Self-Service Console's log-on and lost-token policies; the domain's defaults without them. */
  selfService?: SelfServiceSettings;
  /** What the help desk is shown of credentials (`--helpdesk-credentials`). */
  helpdeskCredentials?: HelpdeskCredentials;
  /** Mail to token holders; off without it. */
  smtp?: SmtpSettings;
  /** Audit events forwarded to syslog; off without it. */
  auditSyslog?: SyslogTarget;
  /** How often the mail outbox's sender looks for due mails (ms); 1000 by default. */
  mailOutboxIntervalMs?: number;
  /** How often the node looks for identity sources due a sync (ms); 60000 by default. Each source's own interval decides when it is due. */
  directorySyncCheckMs?: number;
  /** How often the audit forwarder looks for new events (ms); 1000 by default. */
  auditSyslogIntervalMs?: number;
  logger: Logger;
  clock?: Clock;
  /** Called with facts for the operator (what `npm start` prints). */
  announce?: (lines: string[]) => void;
}

export interface RunningServer {
  services: Services;
  store: Store;
  publicUrl: string;
  publicAddress: string;
  adminAddress: string;
  /** This server's Prometheus metrics (what `GET /metrics` shows). */
  metrics: PrometheusMetrics;
  /** The bound RADIUS port, when RADIUS is on. */
  radiusPort?: number;
  /**
   * Reads the listeners' TLS certificates and keys again (SIGHUP): new connections get the new
   * ones, open connections carry on. A listener whose files do not load keeps its old pair, and
   * the error is logged.
   */
  reloadCertificates(): void;
  /** The Authentication API listener's address, when it is on. */
  authnApiAddress?: string;
  close(): Promise<void>;
}

/** A fresh store for `npm start`: a master key file, and an admin with a generated password. */
/** How often the wall clock is compared with the monotonic clock for steps. */
const CLOCK_CHECK_INTERVAL_MS = 10_000;

async function initialiseForQuickStart(options: ServerOptions, store: Store, clock: Clock): Promise<string[]> {
  let keyring: Keyring;
  if (options.masterKey !== undefined || existsSync(masterKeyPath(options.store.dataDir))) {
    keyring = loadKeyring({ dataDir: options.store.dataDir, masterKey: options.masterKey });
  } else {
    keyring = makeKeyring([generateMasterKey(1)]);
    writeKeyringFile(options.store.dataDir, keyring);
  }
  const password = randomToken(12);
  await initialiseStore(store, keyring, { username: 'admin', password }, clock);
  return [
    'First start: the store is initialised.',
    `  Security Console log-on: username "admin", password "${password}" (shown once; change it after logging on).`,
    `  Master key: ${options.masterKey !== undefined ? 'from TALLY_MASTER_KEY' : masterKeyPath(options.store.dataDir)} (back it up: without it no seed can be read).`,
  ];
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const metrics = new PrometheusMetrics();
  const store = await openStore({ ...options.store, onError: (kind) => metrics.storeError(kind) });
  const apps: FastifyInstance[] = [];
  let radius: RunningRadius | undefined;
  let mailer: SmtpMailer | undefined;
  let forwarding: { stop(): Promise<void> } | undefined;
  let stopClockChecks = () => {};
  let sending: { stop(): Promise<void> } | undefined;
  let syncing: { stop(): Promise<void> } | undefined;
  let phase: Phase = 'starting';
  try {
    await migrateToLatest(store);
    const firstStart = options.initIfNeeded && !(await isInitialised(store)) ? await initialiseForQuickStart(options, store, clock) : [];
    const keyring = loadKeyring({ dataDir: options.store.dataDir, masterKey: options.masterKey });
    await checkStoreReady(store, keyring);
    if (store.dialect === 'sqlite' && options.store.sqliteSynchronous === 'normal') {
      options.logger.warn(
        'SQLite commits with synchronous=NORMAL: a power cut can forget the last accepted steps, and their codes would be accepted again.',
      );
    }
    if (options.masterKey === undefined && !keyFileIsPrivate(options.store.dataDir)) {
      options.logger.warn(`${masterKeyPath(options.store.dataDir)} is readable by other users; chmod 600 it.`);
    }
    // The public URL names the bound port when none is configured, so services are made after listen.
    mailer = options.smtp ? new SmtpMailer(options.smtp) : undefined;
    const serviceOptions = {
      ...DEFAULT_SERVICE_OPTIONS,
      sessions: options.sessions,
      selfService: options.selfService,
      helpdeskCredentials: options.helpdeskCredentials,
      authnAttemptSeconds: options.authnApi?.attemptSeconds,
      mailer,
      logger: options.logger,
      observer: metrics,
    };
    const services = createServices(store, keyring, clock, serviceOptions);
    metrics.watchQueue(() => services.authentication.waiting);
    const clockChecks = setInterval(() => services.clockWatch.check(), CLOCK_CHECK_INTERVAL_MS);
    clockChecks.unref();
    stopClockChecks = () => clearInterval(clockChecks);
    metrics.watchMailOutbox(() => services.mailOutbox.counts());
    // Made (or loaded) now, so the first activation does not wait for an RSA key generation.
    await services.provisioning.serverKey();
    const listener = {
      logger: options.logger,
      trustProxy: options.trustProxy,
      logonRateLimit: options.logonRateLimit,
      ctkipRateLimit: options.ctkipRateLimit,
      maxInFlight: options.maxRequestsInFlight,
    };
    const publicApp = await buildPublicApp(services, { ...listener, tls: options.tls, monitor: { observer: metrics, listener: 'public' } });
    apps.push(publicApp);
    const readiness: Readiness = {
      phase: () => phase,
      check: async () => {
        await checkStoreReady(store, keyring);
        store.checkWritable();
      },
    };
    const adminApp = await buildAdminApp(services, {
      ...listener,
      tls: options.adminTls,
      trustProxy: undefined,
      readiness,
      monitor: { observer: metrics, listener: 'admin' },
      metrics: { scrape: () => metrics.scrape(), token: options.metricsToken },
    });
    apps.push(adminApp);
    const authnApiApp = options.authnApi
      ? await buildAuthnApiApp(services, { ...listener, tls: options.authnApi.tls, trustProxy: undefined })
      : undefined;
    if (authnApiApp) apps.push(authnApiApp);
    const publicAddress = await publicApp.listen({ host: options.host, port: options.port });
    const adminAddress = await adminApp.listen({ host: options.adminHost, port: options.adminPort });
    const authnApiAddress =
      authnApiApp && options.authnApi ? await authnApiApp.listen({ host: options.authnApi.host, port: options.authnApi.port }) : undefined;
    if (options.radiusPort !== 0)
      radius = await startRadiusServer(services, { host: options.radiusHost, port: options.radiusPort, logger: options.logger });
    if (options.auditSyslog) {
      const sink = openSyslogSink(options.auditSyslog);
      const forwarder = new AuditForwarder(new AuditRepository(store.db), new MetaRepository(store.db), sink, clock, {
        ...DEFAULT_AUDIT_FORWARDING,
        hostname: hostname(),
        holder: randomUUID(),
      });
      const running = runAuditForwarding(forwarder, options.auditSyslogIntervalMs ?? 1000, options.logger);
      forwarding = { stop: () => running.stop().finally(() => sink.close()) };
    }
    if (mailer) sending = runMailSender(services.mailOutbox, options.mailOutboxIntervalMs ?? 1000, options.logger);
    syncing = runDirectorySync(services.directory, options.directorySyncCheckMs ?? 60_000, options.logger);
    const publicPort = publicApp.server.address();
    const boundPort = typeof publicPort === 'object' && publicPort ? publicPort.port : options.port;
    const publicUrl = options.publicUrl ?? `${options.tls ? 'https' : 'http'}://localhost:${boundPort}`;
    serviceOptions.publicUrl = publicUrl;
    serviceOptions.issuer = options.issuer;
    phase = 'ready';
    options.announce?.([
      ...firstStart,
      `Tally is running on ${store.description}.`,
      `  Self-Service Console: ${publicUrl}/`,
      `  Security Console:     ${adminAddress}/console`,
      `  REST API:             ${adminAddress}/api/v1 (OpenAPI at ${adminAddress}/api/v1/openapi.json)`,
      `  Metrics:              ${adminAddress}/metrics${options.metricsToken === undefined ? '' : ' (with the metrics token)'}`,
      radius ? `  RADIUS:               udp ${options.radiusHost}:${radius.port}` : '  RADIUS:               off',
      options.auditSyslog
        ? `  Audit to syslog:      ${options.auditSyslog.protocol}://${options.auditSyslog.host}:${options.auditSyslog.port}`
        : '  Audit to syslog:      off (no --audit-syslog)',
      authnApiAddress ? `  RSA Authn API agents: ${authnApiAddress}/mfa/v1_1/authn/` : '  RSA Authn API agents: off (no --authn-api-port)',
      options.smtp
        ? `  Mail:                 SMTP ${options.smtp.host}:${options.smtp.port}, from ${options.smtp.from}`
        : '  Mail:                 off (no --smtp-host)',
    ]);
    return {
      services,
      store,
      publicUrl,
      publicAddress,
      adminAddress,
      metrics,
      radiusPort: radius?.port,
      reloadCertificates() {
        const listeners = [
          { listener: 'public', app: publicApp, tls: options.tls },
          { listener: 'admin', app: adminApp, tls: options.adminTls },
        ];
        for (const { listener, app, tls } of listeners) {
          if (!tls) continue;
          try {
            reloadTls(app, tls);
            options.logger.info({ listener, cert: tls.cert }, 'TLS certificate reloaded');
          } catch (error) {
            const reason = error instanceof Error ? error.message : String(error);
            options.logger.error({ listener, cert: tls.cert, reason }, 'TLS certificate not reloaded; the previous one stays in use');
          }
        }
      },
      authnApiAddress,
      async close() {
        phase = 'stopping';
        stopClockChecks();
        await radius?.close();
        await Promise.all(apps.map((app) => app.close()));
        await services.bulk.stop();
        // A mail in flight is finished and marked, so it is not sent again after a restart.
        await sending?.stop();
        await syncing?.stop();
        await forwarding?.stop();
        mailer?.close();
        await store.close();
      },
    };
  } catch (error) {
    stopClockChecks();
    await sending?.stop().catch(() => {});
    await syncing?.stop().catch(() => {});
    await forwarding?.stop().catch(() => {});
    await radius?.close().catch(() => {});
    await Promise.all(apps.map((app) => app.close().catch(() => {})));
    mailer?.close();
    await store.close().catch(() => {});
    throw error;
  }
}
