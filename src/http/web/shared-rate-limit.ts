import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import type { RateLimitService } from '../../domain/rate-limits.js';

type Done = Parameters<FastifyRateLimitStore['incr']>[1];
/** The route a limit is on, to keep each limited form's count apart (at run time the plugin passes it as `routeInfo`). */
type Route = { method?: string | string[]; url?: string };
type RouteLimit = Parameters<FastifyRateLimitStore['child']>[0] & { routeInfo?: Route };

/**
 * @fastify/rate-limit's store over the store-backed counters of `RateLimitService`, so that a
 * limit counts the attempts made on every node, not only on the one that answers.
 */
export function sharedRateLimitStore(rateLimits: RateLimitService) {
  return class SharedRateLimitStore implements FastifyRateLimitStore {
    private prefix = 'rate-limit:';

    incr(key: string, done: Done, timeWindow: number): void {
      rateLimits.hit(this.prefix + key, timeWindow).then(({ hits, resetInMs }) => done(null, { current: hits, ttl: resetInMs }), done);
    }

    child(limit: RouteLimit): SharedRateLimitStore {
      const route = new SharedRateLimitStore();
      const { method, url }: Route = limit.routeInfo ?? limit;
      route.prefix = `${this.prefix}${[method ?? ''].flat().join(',')} ${url ?? ''}:`;
      return route;
    }
  };
}
