import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/services.js';

/** One-time token file downloads: `GET /download/<token>` hands the file to the first caller only. */
export function downloadRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { token: string } }>(
    '/download/:token',
    { schema: { params: { type: 'object', properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]{20,64}$' } }, required: ['token'] } } },
    async (request, reply) => {
      const file = await services.distribution.redeemDownload({ kind: 'anonymous', name: 'download-link', role: 'user', source: request.ip }, request.params.token);
      return reply
        .header('content-type', file.contentType)
        .header('content-disposition', `attachment; filename="${file.fileName}"`)
        .header('cache-control', 'no-store')
        .send(file.body);
    },
  );
}
