import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Services } from '../../../domain/services.js';
import { actorOf } from './auth.js';

const NewApiToken = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    role: Type.Union([Type.Literal('superadmin'), Type.Literal('helpdesk'), Type.Literal('agent')]),
  },
  { additionalProperties: false },
);

export function apiTokenRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof NewApiToken> }>(
    '/apitokens',
    {
      schema: {
        tags: ['api tokens'],
        summary: 'Create an API token (shown once)',
        body: NewApiToken,
        response: { 201: Type.Object({ token: Type.String(), name: Type.String(), role: Type.String() }) },
      },
    },
    async (request, reply) => reply.status(201).send(await services.apiTokens.create(actorOf(request), request.body)),
  );
}
