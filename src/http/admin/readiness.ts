import type { FastifyInstance } from 'fastify';
import { isTallyError } from '../../errors.js';

/** Where a running Tally is in its life, for load balancers and orchestrators. */
export type Phase = 'starting' | 'ready' | 'stopping';

export interface Readiness {
  /** `starting` until every listener is up, `stopping` from the first step of a shutdown. */
  phase(): Phase;
  /** Throws when the store does not answer or the master key does not open it. */
  check(): Promise<void>;
}

/**
 * `GET /readyz`: 200 only when Tally is up, its store answers and its master key opens the store;
 * 503 otherwise, with the phase or the stable code of what failed (never a message: an operator
 * reads the details in the log). `/healthz` stays liveness: the process answers.
 */
export function readinessRoute(app: FastifyInstance, readiness: Readiness): void {
  app.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
    const phase = readiness.phase();
    if (phase !== 'ready') return reply.status(503).send({ status: phase });
    try {
      await readiness.check();
    } catch (error) {
      const code = isTallyError(error) ? error.code : 'STORE_UNAVAILABLE';
      request.log.warn({ code, msg: (error as Error).message }, 'not ready');
      return reply.status(503).send({ status: 'unavailable', code });
    }
    return { status: 'ready' };
  });
}
