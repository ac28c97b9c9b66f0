import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { actorOf } from './auth.js';
import { noContent } from './responses.js';

const requireSigning = Type.Boolean({
  description: "whether every request must be signed (HMAC-SHA256 under the agent's signing secret, headers date and client-key-hmac)",
});
const AgentBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 128 }), requireSigning: Type.Optional(requireSigning) },
  { additionalProperties: false },
);
const RotateBody = Type.Object({ requireSigning: Type.Optional(requireSigning) }, { additionalProperties: false });
const AgentKey = Type.Object({
  name: Type.String(),
  accessKey: Type.String(),
  signingSecret: Type.Optional(Type.String({ description: 'where the agent must sign: its signing secret, shown once' })),
});
const AgentView = Type.Object({
  name: Type.String(),
  createdAt: Type.String(),
  rotatedAt: Type.Union([Type.String(), Type.Null()]),
  requireSigning: Type.Boolean(),
});
const NameParams = Type.Object({ name: Type.String({ maxLength: 128 }) });

/** Agents of the RSA SecurID Authentication API: register (the access key shown once), list, rotate the key, remove. */
export function authnAgentRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof AgentBody> }>(
    '/authn-agents',
    {
      config: { permission: 'authnAgents.manage' },
      schema: {
        tags: ['authn-api'],
        summary: 'Register an RSA Authentication API agent by its client ID; the access key is shown once',
        body: AgentBody,
        response: { 201: AgentKey },
      },
    },
    async (request, reply) => reply.status(201).send(await services.authnApi.createAgent(actorOf(request), request.body)),
  );
  app.get(
    '/authn-agents',
    {
      config: { permission: 'authnAgents.manage' },
      schema: {
        tags: ['authn-api'],
        summary: 'List RSA Authentication API agents (never their keys)',
        response: { 200: Type.Object({ authnAgents: Type.Array(AgentView) }) },
      },
    },
    async (request) => ({ authnAgents: await services.authnApi.listAgents(actorOf(request)) }),
  );
  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof RotateBody> }>(
    '/authn-agents/:name/rotate',
    {
      config: { permission: 'authnAgents.manage' },
      // A rotation without a body keeps the agent's signing setting, as `{}` does.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['authn-api'],
        summary: "Replace an agent's access key (and signing secret): the new ones are shown once, the old ones stop working",
        params: NameParams,
        body: RotateBody,
        response: { 200: AgentKey },
      },
    },
    async (request) => services.authnApi.rotateAgent(actorOf(request), request.params.name, request.body),
  );
  app.delete<{ Params: Static<typeof NameParams> }>(
    '/authn-agents/:name',
    {
      config: { permission: 'authnAgents.manage' },
      schema: {
        tags: ['authn-api'],
        summary: 'Remove an agent: its requests are refused from now on',
        params: NameParams,
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      await services.authnApi.removeAgent(actorOf(request), request.params.name);
      return reply.status(204).send();
    },
  );
}
