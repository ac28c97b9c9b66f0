import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/services.js';
import { createFastify, type ListenerOptions } from '../fastify.js';
import { installJsonErrors } from '../errors.js';
import { downloadRoutes } from './downloads.js';
import { ctkipRoutes } from './ctkip.js';

/** The public listener: Self-Service Console, CT-KIP and one-time downloads. */
export async function buildPublicApp(services: Services, options: ListenerOptions): Promise<FastifyInstance> {
  const app = createFastify(options);
  installJsonErrors(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  downloadRoutes(app, services);
  await ctkipRoutes(app, services);
  return app;
}
