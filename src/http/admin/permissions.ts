import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Permission, requirePermission } from '../../domain/actor.js';
import { TallyError } from '../../errors.js';

/**
 * What a route of the admin listener needs: a permission from the domain's table, `session` for
 * a route any logged-on administrator may open (the domain service it calls still decides), or
 * `metrics-token` for the Prometheus scrape, which has no actor and checks `--metrics-token` itself.
 */
export type RoutePermission = Permission | 'session' | 'metrics-token';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: RoutePermission;
  }
}

/**
 * Authorisation before validation: every route in `scope` declares its permission
 * (`config: { permission }`), refused at start-up if it does not, and a caller without it gets 403
 * in `onRequest`, before Fastify validates params and body (a 400 would describe the schema to
 * someone not allowed to use it). The domain services check again; this only answers first.
 * Add it after the hook that sets `request.actor`.
 */
export function requireRoutePermissions(scope: FastifyInstance): void {
  scope.addHook('onRoute', (route) => {
    const permission = (route.config as { permission?: RoutePermission } | undefined)?.permission;
    if (permission === undefined) {
      throw new Error(`${String(route.method)} ${route.url} declares no permission: add config: { permission: '...' } (or 'session').`);
    }
  });
  scope.addHook('onRequest', async (request: FastifyRequest) => {
    const permission = request.routeOptions.config.permission;
    // Unknown URLs (the not-found handler) have no route config; they answer 404.
    if (permission === undefined || permission === 'session' || permission === 'metrics-token') return;
    if (!request.actor) throw new TallyError('UNAUTHENTICATED');
    requirePermission(request.actor, permission);
  });
}
