import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/services.js';
import { createFastify, type ListenerOptions } from '../fastify.js';
import { installJsonErrors } from '../errors.js';

/** The public listener: Self-Service Console, CT-KIP and one-time downloads (added by later slices). */
export async function buildPublicApp(_services: Services, options: ListenerOptions): Promise<FastifyInstance> {
  const app = createFastify(options);
  installJsonErrors(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
