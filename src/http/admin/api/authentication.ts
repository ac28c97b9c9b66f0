import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { CHALLENGE_KINDS } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { noContent } from './responses.js';
import { TokenViewSchema } from './tokens.js';
import { UserViewSchema } from './users.js';
import { oneOf } from './vocabulary.js';

const VerifyBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 256 }),
    passcode: Type.String({ maxLength: 256, description: 'PIN + tokencode where the token has a PIN' }),
    state: Type.Optional(Type.String({ maxLength: 64, description: 'the state of the challenge this answers' })),
  },
  { additionalProperties: false },
);
const VerifyResult = Type.Object({
  result: Type.Union([Type.Literal('accept'), Type.Literal('reject'), Type.Literal('challenge')]),
  message: Type.Optional(Type.String()),
  code: Type.Optional(
    Type.String({
      description:
        "Why a right code was refused, where the token's own limits say so: TOKEN_NOT_YET_VALID, TOKEN_EXPIRED or TOKEN_USES_EXHAUSTED (docs/errors.md).",
    }),
  ),
  state: Type.Optional(Type.String()),
  prompt: Type.Optional(
    oneOf(CHALLENGE_KINDS, {
      description:
        "A challenge's answer: new-pin and confirm-pin a PIN; next-code the next tokencode alone, without the PIN (a PINPad app's code has it mixed in)",
    }),
  ),
});
const SerialParams = Type.Object({ serial: Type.String({ maxLength: 64 }) });
const UsernameParams = Type.Object({ username: Type.String({ maxLength: 128 }) });
const NameParams = Type.Object({ name: Type.String({ maxLength: 128 }) });
const ResyncBody = Type.Object(
  { code1: Type.String({ pattern: '^[0-9]{6,8}$' }), code2: Type.String({ pattern: '^[0-9]{6,8}$' }) },
  { additionalProperties: false },
);
const LostBody = Type.Object(
  {
    emergency: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('one-time'), Type.Literal('fixed')], {
        description: 'an emergency access code instead of the tokencode (default one-time)',
      }),
    ),
    days: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, description: 'how long the emergency code works (default 7)' })),
  },
  { additionalProperties: false },
);
const LostResult = Type.Object({
  token: TokenViewSchema,
  emergencyCode: Type.Optional(Type.String()),
  expiresAt: Type.Optional(Type.String()),
});
const RadiusClientBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    address: Type.String({ minLength: 2, maxLength: 64, description: 'IP address or CIDR range' }),
    secret: Type.String({ maxLength: 128 }),
    requireMessageAuthenticator: Type.Optional(Type.Boolean({ description: 'default true (BlastRADIUS mitigation)' })),
  },
  { additionalProperties: false },
);
const RadiusClientView = Type.Object({
  name: Type.String(),
  address: Type.String(),
  requireMessageAuthenticator: Type.Boolean(),
  createdAt: Type.String(),
});

export function authenticationRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof VerifyBody> }>(
    '/auth/verify',
    {
      config: { permission: 'auth.verify' },
      schema: { tags: ['authentication'], summary: 'Check a passcode (agent tokens)', body: VerifyBody, response: { 200: VerifyResult } },
    },
    async (request) => services.authentication.verify(actorOf(request), { ...request.body, channel: 'rest', source: request.ip }),
  );
  app.post<{ Params: Static<typeof SerialParams>; Body: Static<typeof ResyncBody> }>(
    '/tokens/:serial/resync',
    {
      config: { permission: 'tokens.manage' },
      schema: {
        tags: ['authentication'],
        summary: 'Resynchronise a token from two consecutive codes',
        params: SerialParams,
        body: ResyncBody,
        response: { 200: TokenViewSchema },
      },
    },
    async (request) => services.tokenAdmin.resync(actorOf(request), request.params.serial, request.body.code1, request.body.code2),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/reset-pin',
    {
      config: { permission: 'tokens.manage' },
      schema: {
        tags: ['authentication'],
        summary: 'New PIN mode: the next authentication asks for a new PIN',
        params: SerialParams,
        response: { 200: TokenViewSchema },
      },
    },
    async (request) => services.tokenAdmin.resetPin(actorOf(request), request.params.serial),
  );
  app.post<{ Params: Static<typeof SerialParams>; Body: Static<typeof LostBody> }>(
    '/tokens/:serial/lost',
    {
      config: { permission: 'tokens.manage' },
      schema: {
        tags: ['authentication'],
        summary: 'Mark a token lost; optionally issue an emergency access code (shown once)',
        params: SerialParams,
        body: LostBody,
        response: { 200: LostResult },
      },
    },
    async (request) =>
      services.tokenAdmin.reportLost(actorOf(request), request.params.serial, {
        emergency: request.body?.emergency ?? 'one-time',
        days: request.body?.days,
      }),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/enable',
    {
      config: { permission: 'tokens.manage' },
      schema: {
        tags: ['authentication'],
        summary: 'Enable a disabled token (ends emergency access)',
        params: SerialParams,
        response: { 200: TokenViewSchema },
      },
    },
    async (request) => services.tokenAdmin.setEnabled(actorOf(request), request.params.serial, true),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/disable',
    {
      config: { permission: 'tokens.manage' },
      schema: { tags: ['authentication'], summary: 'Disable a token', params: SerialParams, response: { 200: TokenViewSchema } },
    },
    async (request) => services.tokenAdmin.setEnabled(actorOf(request), request.params.serial, false),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/unlock',
    {
      config: { permission: 'tokens.manage' },
      schema: {
        tags: ['authentication'],
        summary: "Clear a token's wrong-passcode count and next tokencode mode",
        params: SerialParams,
        response: { 200: TokenViewSchema },
      },
    },
    async (request) => services.tokenAdmin.unlockToken(actorOf(request), request.params.serial),
  );
  app.post<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username/unlock',
    {
      config: { permission: 'users.unlock' },
      schema: {
        tags: ['users'],
        summary: 'Unlock a user locked out by failed attempts',
        params: UsernameParams,
        response: { 200: UserViewSchema },
      },
    },
    async (request) => services.users.unlock(actorOf(request), request.params.username),
  );
  app.post<{ Body: Static<typeof RadiusClientBody> }>(
    '/radius-clients',
    {
      config: { permission: 'radius.manage' },
      schema: {
        tags: ['radius'],
        summary: 'Register a RADIUS client (NAS) by address with its shared secret',
        body: RadiusClientBody,
        response: { 201: RadiusClientView },
      },
    },
    async (request, reply) => reply.status(201).send(await services.radiusClients.create(actorOf(request), request.body)),
  );
  app.get(
    '/radius-clients',
    {
      config: { permission: 'radius.manage' },
      schema: {
        tags: ['radius'],
        summary: 'List RADIUS clients (never their secrets)',
        response: { 200: Type.Object({ radiusClients: Type.Array(RadiusClientView) }) },
      },
    },
    async (request) => ({ radiusClients: await services.radiusClients.list(actorOf(request)) }),
  );

  app.delete<{ Params: Static<typeof NameParams> }>(
    '/radius-clients/:name',
    {
      config: { permission: 'radius.manage' },
      schema: {
        tags: ['radius'],
        summary: 'Remove a RADIUS client: its packets are dropped from now on',
        params: NameParams,
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      await services.radiusClients.remove(actorOf(request), request.params.name);
      return reply.status(204).send();
    },
  );
}
