import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../../domain/actor.js';
import type { Services } from '../../../domain/services.js';
import { TallyError } from '../../../errors.js';

/** Resolves `Authorization: Bearer TOKEN` to the request's actor, or UNAUTHENTICATED. */
export function bearerAuthentication(services: Services) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization;
    const token = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    if (token === undefined) throw new TallyError('UNAUTHENTICATED', 'Send an API token as `Authorization: Bearer TOKEN`.');
    request.actor = { ...(await services.apiTokens.authenticate(token, request.ip)), requestId: request.id };
  };
}

export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new TallyError('UNAUTHENTICATED');
  return request.actor;
}
