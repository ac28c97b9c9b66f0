import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../../domain/services.js';
import type { TallyError } from '../../../../errors.js';
import { TOKEN_REQUEST_STATES, type TokenRequestState } from '../../../../model/vocabulary.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, fixable, IdParams, INPUT_ERRORS, noticeFrom, page, redirect, viewerOf } from '../http.js';
import { link } from '../views/kit.js';
import { requestsPage } from '../views/requests.js';
import { distributionResultPage } from './tokens.js';

const ListQuery = {
  type: 'object',
  properties: { state: { type: 'string', enum: [...TOKEN_REQUEST_STATES, 'all'] }, notice: { type: 'string', maxLength: 32 } },
  additionalProperties: false,
} as const;

/** Token requests from the Self-Service Console: approve (the token is distributed) or reject with a reason. */
export function requestRoutes(app: FastifyInstance, services: Services): void {
  const show = async (request: FastifyRequest, reply: FastifyReply, state: TokenRequestState | 'all', error?: TallyError) => {
    const requests = await services.requests.list(actorOf(request), { state: state === 'all' ? undefined : state, limit: 200, offset: 0 });
    return page(reply, requestsPage(viewerOf(request), { requests, state, notice: noticeFrom(request), error }), error?.status);
  };

  app.get<{ Querystring: { state?: TokenRequestState | 'all' } }>(
    '/requests',
    { config: { permission: 'tokens.read' }, schema: { querystring: ListQuery } },
    async (request, reply) => show(request, reply, request.query.state ?? 'pending'),
  );

  app.post<{ Params: { id: string } }>(
    '/requests/:id/approve',
    { config: { permission: 'tokens.distribute' }, schema: { params: IdParams, body: formSchema({}) } },
    async (request, reply) => {
      try {
        const approved = await services.requests.approve(actorOf(request), Number(request.params.id));
        return distributionResultPage(
          request,
          reply,
          services,
          approved.token,
          approved.request.username,
          `Request ${approved.request.id} approved`,
        );
      } catch (error) {
        return show(
          request,
          reply,
          'pending',
          fixable(error, [...INPUT_ERRORS, 'TOKEN_REQUEST_DECIDED', 'TOKEN_REQUEST_NOT_FOUND', 'FORBIDDEN']),
        );
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/requests/:id/reject',
    { config: { permission: 'tokens.distribute' }, schema: { params: IdParams, body: formSchema({ reason: { maxLength: 500 } }) } },
    async (request, reply) => {
      try {
        await services.requests.reject(actorOf(request), Number(request.params.id), request.body.reason);
      } catch (error) {
        return show(request, reply, 'pending', fixable(error, [...INPUT_ERRORS, 'TOKEN_REQUEST_DECIDED', 'TOKEN_REQUEST_NOT_FOUND']));
      }
      return redirect(reply, link('requests'), 'request-rejected');
    },
  );
}
