import { defineCommand, EXIT, UsageError } from '../command.js';
import { storeOptions, storeSettings } from '../store.js';

export const serveCommand = defineCommand({
  name: 'serve',
  summary:
    'Run Tally: the public listener (Self-Service Console, CT-KIP, downloads), the admin listener (Security Console, REST API) and RADIUS.',
  settings: [
    ...storeSettings,
    'masterKey',
    'host',
    'port',
    'adminHost',
    'adminPort',
    'metricsToken',
    'radiusHost',
    'radiusPort',
    'authnApiHost',
    'authnApiPort',
    'authnApiTlsCert',
    'authnApiTlsKey',
    'authnAttemptSeconds',
    'publicUrl',
    'issuer',
    'tlsCert',
    'tlsKey',
    'adminTlsCert',
    'adminTlsKey',
    'trustProxy',
    'sessionIdleMinutes',
    'sessionMaxHours',
    'logonRateLimit',
    'maxRequestsInFlight',
    'ctkipRateLimit',
    'selfServiceLogon',
    'selfServiceEmergencyAccess',
    'helpdeskCredentials',
    'smtpHost',
    'smtpPort',
    'smtpSecure',
    'smtpUser',
    'smtpPassword',
    'mailFrom',
    'auditSyslog',
    'auditSyslogCaFile',
    'logLevel',
    'initIfNeeded',
  ],
  notes: [
    'SIGTERM or SIGINT stops Tally cleanly: listeners stop accepting, requests in flight finish, the store closes.',
    'SIGHUP reloads the TLS certificates and keys (after a renewal): new connections get them, open ones carry on; files that do not load leave the old ones in use.',
  ],
  async run({ config, io }) {
    if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together.');
    if (Boolean(config.adminTlsCert) !== Boolean(config.adminTlsKey))
      throw new UsageError('--admin-tls-cert and --admin-tls-key go together.');
    if (Boolean(config.authnApiTlsCert) !== Boolean(config.authnApiTlsKey))
      throw new UsageError('--authn-api-tls-cert and --authn-api-tls-key go together.');
    if (config.smtpPassword !== undefined && config.smtpUser === undefined) throw new UsageError('--smtp-password needs --smtp-user.');
    if (config.auditSyslogCaFile !== undefined && config.auditSyslog?.protocol !== 'tls')
      throw new UsageError('--audit-syslog-ca-file goes with a tls:// --audit-syslog.');
    const [{ startServer }, { createLogger }] = await Promise.all([import('../../server.js'), import('../../logger.js')]);
    const logger = createLogger(config.logLevel ?? 'info');
    // Listened for before the start: a signal that came between the banner and a later handler
    // would end the process at once (Node's default), not cleanly. One during the start stops it
    // once it has started.
    let requested: string | undefined;
    let onSignal = (signal: string) => {
      requested = signal;
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
    // Node's default for SIGHUP ends the process; until the listeners exist there is nothing to reload.
    let onReload = () => {};
    process.on('SIGHUP', () => onReload());
    const server = await startServer({
      store: storeOptions(config),
      masterKey: config.masterKey,
      host: config.host ?? '0.0.0.0',
      port: config.port ?? 8080,
      adminHost: config.adminHost ?? '127.0.0.1',
      adminPort: config.adminPort ?? 8081,
      metricsToken: config.metricsToken,
      radiusHost: config.radiusHost ?? '0.0.0.0',
      radiusPort: config.radiusPort ?? 1812,
      authnApi:
        config.authnApiPort === undefined
          ? undefined
          : {
              host: config.authnApiHost ?? '0.0.0.0',
              port: config.authnApiPort,
              tls:
                config.authnApiTlsCert && config.authnApiTlsKey ? { cert: config.authnApiTlsCert, key: config.authnApiTlsKey } : undefined,
              attemptSeconds: config.authnAttemptSeconds ?? 600,
            },
      publicUrl: config.publicUrl,
      issuer: config.issuer ?? 'Tally',
      tls: config.tlsCert && config.tlsKey ? { cert: config.tlsCert, key: config.tlsKey } : undefined,
      adminTls: config.adminTlsCert && config.adminTlsKey ? { cert: config.adminTlsCert, key: config.adminTlsKey } : undefined,
      trustProxy: config.trustProxy ?? [],
      initIfNeeded: config.initIfNeeded ?? false,
      sessions: { idleMinutes: config.sessionIdleMinutes ?? 15, maxHours: config.sessionMaxHours ?? 8 },
      logonRateLimit: config.logonRateLimit,
      maxRequestsInFlight: config.maxRequestsInFlight,
      ctkipRateLimit: config.ctkipRateLimit,
      selfService: { logOn: config.selfServiceLogon ?? 'password', emergencyAccess: config.selfServiceEmergencyAccess ?? 'one-time' },
      helpdeskCredentials: config.helpdeskCredentials ?? 'none',
      smtp: config.smtpHost
        ? {
            host: config.smtpHost,
            port: config.smtpPort ?? 587,
            secure: config.smtpSecure ?? false,
            user: config.smtpUser,
            password: config.smtpPassword,
            from: config.mailFrom ?? 'Tally <tally@localhost>',
          }
        : undefined,
      auditSyslog: config.auditSyslog ? { ...config.auditSyslog, caFile: config.auditSyslogCaFile } : undefined,
      logger,
      announce: (lines) => io.err(`${lines.join('\n')}\n`),
    });
    onReload = () => server.reloadCertificates();
    await new Promise<void>((resolve) => {
      onSignal = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        server.close().then(resolve, (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve();
        });
      };
      if (requested !== undefined) onSignal(requested);
    });
    logger.info('stopped');
    return EXIT.ok;
  },
});
