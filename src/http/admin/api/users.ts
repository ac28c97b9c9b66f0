import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { DIRECTORY_STATES, USER_ROLES } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { afterQuery, groupOf, groupQuery, listQuery, pageOf } from './paging.js';
import { oneOf } from './vocabulary.js';

export const UserViewSchema = Type.Object({
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  firstName: Type.Union([Type.String(), Type.Null()]),
  lastName: Type.Union([Type.String(), Type.Null()]),
  role: oneOf(USER_ROLES),
  disabled: Type.Boolean(),
  locked: Type.Boolean(),
  source: Type.Union([Type.String(), Type.Null()], { description: 'the identity source the user comes from; null for an internal user' }),
  directoryState: Type.Union([oneOf(DIRECTORY_STATES), Type.Null()], {
    description:
      'what the directory last said of a directory user: present, disabled, or gone (no longer there: their tokens stop authenticating); null for an internal user',
  }),
  createdAt: Type.String({ format: 'date-time' }),
});

const NewUser = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.Optional(Type.String({ maxLength: 1024 })),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    firstName: Type.Optional(Type.String({ maxLength: 128 })),
    lastName: Type.Optional(Type.String({ maxLength: 128 })),
    role: Type.Optional(oneOf(USER_ROLES)),
  },
  { additionalProperties: false },
);

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

const UserChanges = Type.Object(
  {
    email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))),
    firstName: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
    lastName: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
    role: Type.Optional(oneOf(USER_ROLES)),
    password: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false, description: 'Fields left out keep their value; null clears one.' },
);

const ImportBody = Type.Object(
  {
    csv: Type.String({
      maxLength: 2 * 1024 * 1024,
      description: 'A header row (username, and any of email, firstName, lastName, role, password) and a row per user',
    }),
  },
  { additionalProperties: false },
);
const ImportReport = Type.Object({
  created: Type.Integer(),
  refused: Type.Integer(),
  rows: Type.Array(
    Type.Object({
      row: Type.Integer(),
      line: Type.Integer({ description: 'The line of the file the row starts on (the header is line 1).' }),
      username: Type.String(),
      result: Type.Union([Type.Literal('created'), Type.Literal('refused')]),
      reason: Type.Optional(Type.String()),
    }),
  ),
});

const AuthenticationEvent = Type.Object({
  at: Type.String({ format: 'date-time' }),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  result: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  source: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
});

const UsernameParams = Type.Object({ username: Type.String({ maxLength: 128 }) });
const UserListQuery = Type.Object(
  {
    ...listQuery,
    ...afterQuery,
    search: Type.Optional(Type.String({ maxLength: 128, description: 'the start of a username, in any case' })),
    group: Type.Optional(groupQuery),
    source: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'only users from the identity source of this name' })),
    directoryState: Type.Optional(
      oneOf(DIRECTORY_STATES, { description: 'only directory users in this state (gone: who left the directory)' }),
    ),
  },
  { additionalProperties: false },
);

export function userRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof NewUser> }>(
    '/users',
    {
      config: { permission: 'users.create' },
      schema: { tags: ['users'], summary: 'Create a user', body: NewUser, response: { 201: UserViewSchema } },
    },
    async (request, reply) => {
      const user = await services.users.create(actorOf(request), request.body);
      return reply.status(201).send(user);
    },
  );

  app.get<{ Querystring: Static<typeof UserListQuery> }>(
    '/users',
    {
      config: { permission: 'users.read' },
      schema: {
        tags: ['users'],
        summary: 'List or search users; source and directoryState narrow the list (directoryState=gone: users who left the directory)',
        querystring: UserListQuery,
        response: { 200: Type.Object({ users: Type.Array(UserViewSchema) }) },
      },
    },
    async (request) => {
      const { limit, offset } = pageOf(request.query);
      const { search, after, group, source, directoryState } = request.query;
      return {
        users: await services.users.list(actorOf(request), { search, after, group: groupOf(group), source, directoryState, limit, offset }),
      };
    },
  );

  app.get<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username',
    {
      config: { permission: 'users.read' },
      schema: { tags: ['users'], summary: 'Get a user', params: UsernameParams, response: { 200: UserViewSchema } },
    },
    async (request) => services.users.get(actorOf(request), request.params.username),
  );

  app.patch<{ Params: Static<typeof UsernameParams>; Body: Static<typeof UserChanges> }>(
    '/users/:username',
    {
      config: { permission: 'users.update' },
      schema: {
        tags: ['users'],
        summary: "Change a user's details, role or password (help desk: ordinary users only)",
        params: UsernameParams,
        body: UserChanges,
        response: { 200: UserViewSchema },
      },
    },
    async (request) => services.users.update(actorOf(request), request.params.username, request.body),
  );

  app.post<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username/disable',
    {
      config: { permission: 'users.update' },
      schema: {
        tags: ['users'],
        summary: 'Disable a user: no log-on, no authentication',
        params: UsernameParams,
        response: { 200: UserViewSchema },
      },
    },
    async (request) => services.users.setDisabled(actorOf(request), request.params.username, true),
  );

  app.post<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username/enable',
    {
      config: { permission: 'users.update' },
      schema: { tags: ['users'], summary: 'Enable a disabled user', params: UsernameParams, response: { 200: UserViewSchema } },
    },
    async (request) => services.users.setDisabled(actorOf(request), request.params.username, false),
  );

  app.post<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username/sessions/revoke',
    {
      config: { permission: 'sessions.revoke' },
      schema: {
        tags: ['users'],
        summary: 'End every console session of a user',
        params: UsernameParams,
        response: { 200: Type.Object({ sessions: Type.Integer() }) },
      },
    },
    async (request) => ({ sessions: await services.sessions.revokeAll(actorOf(request), request.params.username) }),
  );

  app.post<{ Body: Static<typeof ImportBody> }>(
    '/users/import',
    {
      config: { permission: 'users.create' },
      bodyLimit: 3 * 1024 * 1024,
      schema: {
        tags: ['users'],
        summary: 'Create users from CSV, with a report per row',
        body: ImportBody,
        response: { 200: ImportReport },
      },
    },
    async (request) => services.users.importCsv(actorOf(request), request.body.csv),
  );

  app.get<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username/authentications',
    {
      config: { permission: 'users.read' },
      schema: {
        tags: ['users'],
        summary: "A user's recent authentications (REST and RADIUS), newest first",
        params: UsernameParams,
        response: { 200: Type.Object({ authentications: Type.Array(AuthenticationEvent) }) },
      },
    },
    async (request) => {
      await services.users.get(actorOf(request), request.params.username);
      return { authentications: await services.audit.authentications(actorOf(request), request.params.username, 50) };
    },
  );
}
