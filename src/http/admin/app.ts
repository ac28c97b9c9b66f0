import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/services.js';
import { errorResponseSchema, installJsonErrors } from '../errors.js';
import { createFastify, type ListenerOptions } from '../fastify.js';
import { apiTokenRoutes } from './api/api-tokens.js';
import { auditRoutes } from './api/audit.js';
import { bearerAuthentication } from './api/auth.js';
import { authenticationRoutes } from './api/authentication.js';
import { authnAgentRoutes } from './api/authn-agents.js';
import { dashboardRoutes } from './api/dashboard.js';
import { distributionRoutes } from './api/distribution.js';
import { identitySourceRoutes } from './api/identity-sources.js';
import { mailOutboxRoutes } from './api/mail-outbox.js';
import { mailTemplateRoutes } from './api/mail-templates.js';
import { profileRoutes } from './api/profiles.js';
import { requestRoutes } from './api/requests.js';
import { operationIdOf } from './api/responses.js';
import { settingsRoutes } from './api/settings.js';
import { tokenRoutes } from './api/tokens.js';
import { userRoutes } from './api/users.js';
import { securityConsole } from './console/index.js';
import { type MetricsEndpoint, metricsRoute } from './metrics.js';
import { requireRoutePermissions } from './permissions.js';
import { type Readiness, readinessRoute } from './readiness.js';

const API_PREFIX = '/api/v1';

/** The admin listener: the REST API under /api/v1, the Security Console at /console, and /metrics when given. */
export async function buildAdminApp(
  services: Services,
  options: ListenerOptions & { readiness: Readiness; metrics?: MetricsEndpoint },
): Promise<FastifyInstance> {
  const app = createFastify(options);
  installJsonErrors(app);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Tally REST API',
        version: '1',
        description: 'Administration and authentication API of Tally.',
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      // Relative: the admin listener that serves this document, at whatever address it is reached.
      servers: [{ url: '/', description: 'The admin listener serving this document' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  readinessRoute(app, options.readiness);
  if (options.metrics) await metricsRoute(app, options.metrics);

  await app.register(
    async (api) => {
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      await api.register(async (secured) => {
        secured.addHook('onRoute', (route) => {
          route.schema ??= {};
          const method = Array.isArray(route.method) ? route.method[0] : route.method;
          route.schema.operationId ??= operationIdOf(String(method), route.url.slice(API_PREFIX.length));
          const responses = (route.schema.response ?? {}) as Record<string, unknown>;
          responses['4xx'] ??= errorResponseSchema;
          responses['5xx'] ??= errorResponseSchema;
          route.schema.response = responses;
        });
        secured.addHook('onRequest', bearerAuthentication(services));
        requireRoutePermissions(secured);
        userRoutes(secured, services);
        auditRoutes(secured, services);
        apiTokenRoutes(secured, services);
        tokenRoutes(secured, services);
        profileRoutes(secured, services);
        distributionRoutes(secured, services);
        authenticationRoutes(secured, services);
        authnAgentRoutes(secured, services);
        identitySourceRoutes(secured, services);
        requestRoutes(secured, services);
        dashboardRoutes(secured, services);
        mailTemplateRoutes(secured, services);
        settingsRoutes(secured, services);
        mailOutboxRoutes(secured, services);
      });
    },
    { prefix: API_PREFIX },
  );
  await securityConsole(app, services, { logonRateLimit: options.logonRateLimit });
  return app;
}
