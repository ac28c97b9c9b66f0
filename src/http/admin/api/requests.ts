import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { TOKEN_REQUEST_STATES } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { DistributionResultSchema } from './distribution.js';
import { listQuery, pageOf } from './paging.js';
import { oneOf } from './vocabulary.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const RequestState = oneOf(TOKEN_REQUEST_STATES);

const TokenRequestSchema = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  profile: Type.String(),
  state: RequestState,
  reason: Nullable(Type.String()),
  serial: Nullable(Type.String()),
  createdAt: Type.String(),
  decidedAt: Nullable(Type.String()),
  decidedBy: Nullable(Type.String()),
});

const RequestListQuery = Type.Object({ ...listQuery, state: Type.Optional(RequestState) }, { additionalProperties: false });
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });
const RejectBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 500, description: 'Shown to the user and mailed to them' }) },
  { additionalProperties: false },
);

/** Token requests from the Self-Service Console for profiles that need approval. */
export function requestRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Querystring: Static<typeof RequestListQuery> }>(
    '/requests',
    {
      config: { permission: 'tokens.read' },
      schema: {
        tags: ['requests'],
        summary: 'List token requests, newest first (filter by state, e.g. pending)',
        querystring: RequestListQuery,
        response: { 200: Type.Object({ requests: Type.Array(TokenRequestSchema) }) },
      },
    },
    async (request) => ({
      requests: await services.requests.list(actorOf(request), { ...pageOf(request.query), state: request.query.state }),
    }),
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    '/requests/:id/approve',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['requests'],
        summary: 'Approve a waiting request: the token is distributed to the user, who is mailed',
        params: IdParams,
        response: { 200: Type.Object({ request: TokenRequestSchema, token: DistributionResultSchema }) },
      },
    },
    async (request) => services.requests.approve(actorOf(request), Number(request.params.id)),
  );
  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof RejectBody> }>(
    '/requests/:id/reject',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['requests'],
        summary: 'Reject a waiting request with a reason the user is shown and mailed',
        params: IdParams,
        body: RejectBody,
        response: { 200: Type.Object({ request: TokenRequestSchema }) },
      },
    },
    async (request) => ({ request: await services.requests.reject(actorOf(request), Number(request.params.id), request.body.reason) }),
  );
}
