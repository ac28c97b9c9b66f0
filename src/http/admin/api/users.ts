import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Services } from '../../../domain/services.js';
import { actorOf } from './auth.js';
import { listQuery, pageOf } from './paging.js';

const UserView = Type.Object({
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  firstName: Type.Union([Type.String(), Type.Null()]),
  lastName: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('user'), Type.Literal('helpdesk'), Type.Literal('superadmin')]),
  disabled: Type.Boolean(),
  locked: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
});

const NewUser = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.Optional(Type.String({ maxLength: 1024 })),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    firstName: Type.Optional(Type.String({ maxLength: 128 })),
    lastName: Type.Optional(Type.String({ maxLength: 128 })),
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('helpdesk'), Type.Literal('superadmin')])),
  },
  { additionalProperties: false },
);

const UsernameParams = Type.Object({ username: Type.String({ maxLength: 128 }) });
const UserListQuery = Type.Object({ ...listQuery, search: Type.Optional(Type.String({ maxLength: 128 })) }, { additionalProperties: false });

export function userRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof NewUser> }>(
    '/users',
    { schema: { tags: ['users'], summary: 'Create a user', body: NewUser, response: { 201: UserView } } },
    async (request, reply) => {
      const user = await services.users.create(actorOf(request), request.body);
      return reply.status(201).send(user);
    },
  );

  app.get<{ Querystring: Static<typeof UserListQuery> }>(
    '/users',
    { schema: { tags: ['users'], summary: 'List or search users', querystring: UserListQuery, response: { 200: Type.Object({ users: Type.Array(UserView) }) } } },
    async (request) => {
      const { limit, offset } = pageOf(request.query);
      return { users: await services.users.list(actorOf(request), { search: request.query.search, limit, offset }) };
    },
  );

  app.get<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username',
    { schema: { tags: ['users'], summary: 'Get a user', params: UsernameParams, response: { 200: UserView } } },
    async (request) => services.users.get(actorOf(request), request.params.username),
  );
}
