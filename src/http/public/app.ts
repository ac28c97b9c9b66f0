import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/services.js';
import { installErrors } from '../errors.js';
import { createFastify, type ListenerOptions } from '../fastify.js';
import { assetRoutes } from '../web/assets.js';
import { ctkipRoutes } from './ctkip.js';
import { downloadRoutes } from './downloads.js';
import { selfServiceConsole } from './self-service/routes.js';
import { errorPage } from './self-service/views.js';

const DEFAULT_LOGON_RATE_LIMIT = 20;
const DEFAULT_CTKIP_RATE_LIMIT = 120;

/** The public listener: Self-Service Console, CT-KIP and one-time downloads. */
export async function buildPublicApp(services: Services, options: ListenerOptions): Promise<FastifyInstance> {
  const app = createFastify(options);
  // People open links here (downloads, mistyped pages): browsers get a page, programs the JSON envelope.
  installErrors(app, { htmlPage: (error) => errorPage({ csrfToken: '' }, error).text });
  app.get('/healthz', async () => ({ status: 'ok' }));
  assetRoutes(app);
  await downloadRoutes(app, services);
  await ctkipRoutes(app, services, { rateLimit: options.ctkipRateLimit ?? DEFAULT_CTKIP_RATE_LIMIT });
  await selfServiceConsole(app, services, { logonRateLimit: options.logonRateLimit ?? DEFAULT_LOGON_RATE_LIMIT });
  return app;
}
