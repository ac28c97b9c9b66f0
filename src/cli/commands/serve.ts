import { defineCommand, EXIT, UsageError } from '../command.js';
import { storeOptions, storeSettings } from '../store.js';
import { startServer } from '../../server.js';
import { createLogger } from '../../logger.js';

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'Run Tally: the public listener (Self-Service Console, CT-KIP, downloads), the admin listener (Security Console, REST API) and RADIUS.',
  settings: [
    ...storeSettings,
    'masterKey',
    'host',
    'port',
    'adminHost',
    'adminPort',
    'radiusHost',
    'radiusPort',
    'publicUrl',
    'issuer',
    'tlsCert',
    'tlsKey',
    'adminTlsCert',
    'adminTlsKey',
    'trustProxy',
    'logLevel',
    'initIfNeeded',
  ],
  notes: ['SIGTERM or SIGINT stops Tally cleanly: listeners stop accepting, requests in flight finish, the store closes.'],
  async run({ config, io }) {
    if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together.');
    if (Boolean(config.adminTlsCert) !== Boolean(config.adminTlsKey)) throw new UsageError('--admin-tls-cert and --admin-tls-key go together.');
    const logger = createLogger(config.logLevel ?? 'info');
    const server = await startServer({
      store: storeOptions(config),
      masterKey: config.masterKey,
      host: config.host ?? '0.0.0.0',
      port: config.port ?? 8080,
      adminHost: config.adminHost ?? '127.0.0.1',
      adminPort: config.adminPort ?? 8081,
      radiusHost: config.radiusHost ?? '0.0.0.0',
      radiusPort: config.radiusPort ?? 1812,
      publicUrl: config.publicUrl,
      issuer: config.issuer ?? 'Tally',
      tls: config.tlsCert && config.tlsKey ? { cert: config.tlsCert, key: config.tlsKey } : undefined,
      adminTls: config.adminTlsCert && config.adminTlsKey ? { cert: config.adminTlsCert, key: config.adminTlsKey } : undefined,
      trustProxy: config.trustProxy ?? false,
      initIfNeeded: config.initIfNeeded ?? false,
      logger,
      announce: (lines) => io.err(lines.join('\n') + '\n'),
    });
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        server.close().then(resolve, (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    logger.info('stopped');
    return EXIT.ok;
  },
});
