import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { API_TOKEN_ROLES } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { oneOf } from './vocabulary.js';

const NewApiToken = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    role: oneOf(API_TOKEN_ROLES),
  },
  { additionalProperties: false },
);

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const ApiTokenView = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  role: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
});
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });

export function apiTokenRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof NewApiToken> }>(
    '/apitokens',
    {
      config: { permission: 'apitokens.manage' },
      schema: {
        tags: ['api tokens'],
        summary: 'Create an API token (shown once)',
        body: NewApiToken,
        response: { 201: Type.Object({ token: Type.String(), name: Type.String(), role: Type.String() }) },
      },
    },
    async (request, reply) => reply.status(201).send(await services.apiTokens.create(actorOf(request), request.body)),
  );

  app.get(
    '/apitokens',
    {
      config: { permission: 'apitokens.manage' },
      schema: {
        tags: ['api tokens'],
        summary: 'List API tokens (never the tokens themselves)',
        response: { 200: Type.Object({ apiTokens: Type.Array(ApiTokenView) }) },
      },
    },
    async (request) => ({ apiTokens: await services.apiTokens.list(actorOf(request)) }),
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    '/apitokens/:id/revoke',
    {
      config: { permission: 'apitokens.manage' },
      schema: {
        tags: ['api tokens'],
        summary: 'Revoke an API token: its next request is refused',
        params: IdParams,
        response: { 200: ApiTokenView },
      },
    },
    async (request) => services.apiTokens.revoke(actorOf(request), Number(request.params.id)),
  );
}
