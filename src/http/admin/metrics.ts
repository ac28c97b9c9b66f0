import type { FastifyInstance } from 'fastify';
import { TallyError } from '../../errors.js';
import { carriesScrapeToken } from '../../metrics/prometheus.js';
import { requireRoutePermissions } from './permissions.js';

export interface MetricsEndpoint {
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; text: string }>;
  /** `--metrics-token`: when set, a scrape must send it as a bearer token. */
  token?: string;
}

/**
 * `GET /metrics`: Prometheus's text format, for a scraper rather than a person, so no session: open
 * to whoever reaches the admin listener, or only with `Authorization: Bearer` and the metrics token
 * when one is set (401 otherwise).
 */
export async function metricsRoute(app: FastifyInstance, metrics: MetricsEndpoint): Promise<void> {
  await app.register(async (scope) => {
    requireRoutePermissions(scope);
    scope.get('/metrics', { schema: { hide: true }, config: { permission: 'metrics-token' } }, async (request, reply) => {
      if (metrics.token !== undefined && !carriesScrapeToken(request.headers.authorization, metrics.token)) {
        void reply.header('www-authenticate', 'Bearer realm="tally-metrics"');
        throw new TallyError('UNAUTHENTICATED', 'Send the metrics token as `Authorization: Bearer TOKEN`.');
      }
      const { contentType, text } = await metrics.scrape();
      return reply.type(contentType).header('cache-control', 'no-store').send(text);
    });
  });
}
