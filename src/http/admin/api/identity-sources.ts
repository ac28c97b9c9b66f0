import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { DIRECTORY_PRESETS } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { noContent } from './responses.js';
import { oneOf } from './vocabulary.js';

const Dn = Type.String({ minLength: 1, maxLength: 1024 });
const Attribute = Type.String({ minLength: 1, maxLength: 128 });
const Mapping = Type.Object(
  {
    login: Type.Optional(Attribute),
    id: Type.Optional(Attribute),
    firstName: Type.Optional(Attribute),
    lastName: Type.Optional(Attribute),
    mail: Type.Optional(Attribute),
    mobile: Type.Optional(Attribute),
  },
  { additionalProperties: false },
);
const RoleGroups = Type.Object(
  { superadmin: Type.Optional(Dn), helpdesk: Type.Optional(Dn) },
  { additionalProperties: false, description: 'The group DN whose members (directly or through nested groups) get each role' },
);
const settings = {
  preset: Type.Optional(oneOf(DIRECTORY_PRESETS, { description: 'Fills the user filter and the attribute mapping: openldap or ad' })),
  urls: Type.Array(Type.String({ maxLength: 256 }), {
    minItems: 1,
    maxItems: 8,
    description: 'Tried in turn (failover); ldaps://, or ldap:// with startTls (or allowPlain)',
  }),
  startTls: Type.Optional(Type.Boolean()),
  caFile: Type.Optional(
    Type.Union([Type.String({ maxLength: 1024 }), Type.Null()], {
      description: 'PEM file of the CA the directory certificate is checked against',
    }),
  ),
  allowPlain: Type.Optional(Type.Boolean({ description: 'plain ldap:// without TLS: only when true' })),
  bindDn: Dn,
  bindPassword: Type.String({ minLength: 1, maxLength: 1024, description: 'sealed under the master key; never shown again' }),
  baseDn: Dn,
  userFilter: Type.Optional(Type.String({ maxLength: 1024 })),
  loginAttribute: Type.Optional(Attribute),
  attributes: Type.Optional(Mapping),
  roleGroups: Type.Optional(RoleGroups),
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 60, description: 'on connecting and on each operation' })),
  syncIntervalMinutes: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 10080,
      description: 'minutes between the syncs the server runs by itself (60 by default); 0: only when asked',
    }),
  ),
};
const SourceBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64 }), type: Type.Literal('ldap'), ...settings },
  { additionalProperties: false },
);
const SourceChanges = Type.Partial(Type.Object(settings, { additionalProperties: false }), { additionalProperties: false });
const SourceView = Type.Object({
  name: Type.String(),
  type: Type.Literal('ldap'),
  preset: oneOf(DIRECTORY_PRESETS),
  position: Type.Integer(),
  urls: Type.Array(Type.String()),
  startTls: Type.Boolean(),
  caFile: Type.Union([Type.String(), Type.Null()]),
  allowPlain: Type.Boolean(),
  bindDn: Type.String(),
  baseDn: Type.String(),
  userFilter: Type.String(),
  loginAttribute: Type.String(),
  attributes: Type.Object({
    login: Type.String(),
    id: Type.String(),
    firstName: Type.String(),
    lastName: Type.String(),
    mail: Type.String(),
    mobile: Type.String(),
  }),
  roleGroups: Type.Object({ superadmin: Type.Optional(Type.String()), helpdesk: Type.Optional(Type.String()) }),
  timeoutSeconds: Type.Number(),
  syncIntervalMinutes: Type.Integer(),
  lastSync: Type.Union(
    [
      Type.Object({
        at: Type.String(),
        outcome: Type.Literal('ok'),
        checked: Type.Integer(),
        updated: Type.Integer(),
        gone: Type.Integer({ description: 'users the directory no longer has' }),
        disabled: Type.Integer({ description: 'users the directory disables or locks' }),
      }),
      Type.Object({
        at: Type.String(),
        outcome: Type.Literal('failed'),
        error: Type.String({ description: 'the error code that ended it (DIRECTORY_UNAVAILABLE...); nobody was changed' }),
      }),
      Type.Null(),
    ],
    { description: "how the source's last sync ended; null before the first" },
  ),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
const Nullable = Type.Union([Type.String(), Type.Null()]);
const TestResult = Type.Object({
  source: Type.String(),
  url: Nullable,
  found: Type.Object({
    dn: Type.String(),
    login: Type.String(),
    externalId: Type.String(),
    firstName: Nullable,
    lastName: Nullable,
    email: Nullable,
    mobile: Nullable,
    refused: Type.Union([Type.String({ description: 'the attribute that makes the directory refuse the account' }), Type.Null()]),
    role: Type.Optional(Type.String({ description: 'the role the role groups give; absent when the source maps no groups' })),
  }),
  groups: Type.Array(Type.String(), {
    description: 'the groups the entry is in: memberOf on AD; elsewhere also the groups naming it as member, nested',
  }),
});
const SyncReport = Type.Object({
  source: Type.String(),
  checked: Type.Integer(),
  updated: Type.Integer(),
  gone: Type.Array(Type.String(), { description: 'users no longer found: disabled, their tokens stop authenticating' }),
  disabled: Type.Array(Type.String(), { description: 'users the directory disables or locks' }),
});
const NameParams = Type.Object({ name: Type.String({ maxLength: 64 }) });
const TestBody = Type.Object({ username: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });
const OrderBody = Type.Object({ order: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 }) }, { additionalProperties: false });

/** LDAP and Active Directory identity sources: add, list, edit, order, remove, test, sync. Super admins only. */
export function identitySourceRoutes(app: FastifyInstance, services: Services): void {
  const common = { config: { permission: 'identitySources.manage' as const } };
  app.post<{ Body: Static<typeof SourceBody> }>(
    '/identity-sources',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary: 'Add an LDAP identity source, after the others',
        body: SourceBody,
        response: { 201: SourceView },
      },
    },
    async (request, reply) => reply.status(201).send(await services.directory.create(actorOf(request), request.body)),
  );
  app.get(
    '/identity-sources',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary: 'List identity sources in the order users are looked for (never their bind passwords)',
        response: { 200: Type.Object({ identitySources: Type.Array(SourceView) }) },
      },
    },
    async (request) => ({ identitySources: await services.directory.list(actorOf(request)) }),
  );
  app.patch<{ Params: Static<typeof NameParams>; Body: Static<typeof SourceChanges> }>(
    '/identity-sources/:name',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary: "Change a source's settings; a bindPassword given replaces the sealed one",
        params: NameParams,
        body: SourceChanges,
        response: { 200: SourceView },
      },
    },
    async (request) => services.directory.update(actorOf(request), request.params.name, request.body),
  );
  app.put<{ Body: Static<typeof OrderBody> }>(
    '/identity-sources/order',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary: 'Order the sources: every source named once, first looked in first (internal users always come before them)',
        body: OrderBody,
        response: { 200: Type.Object({ identitySources: Type.Array(SourceView) }) },
      },
    },
    async (request) => ({ identitySources: await services.directory.reorder(actorOf(request), request.body.order) }),
  );
  app.delete<{ Params: Static<typeof NameParams> }>(
    '/identity-sources/:name',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary: 'Remove a source: its users keep their records but can no longer log on or authenticate',
        params: NameParams,
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      await services.directory.remove(actorOf(request), request.params.name);
      return reply.status(204).send();
    },
  );
  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof TestBody> }>(
    '/identity-sources/:name/test',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary: 'Bind and find this user: what the source finds and how its attributes map (404 when not found)',
        params: NameParams,
        body: TestBody,
        response: { 200: TestResult },
      },
    },
    async (request) => services.directory.test(actorOf(request), request.params.name, request.body.username),
  );
  app.post<{ Params: Static<typeof NameParams> }>(
    '/identity-sources/:name/sync',
    {
      ...common,
      schema: {
        tags: ['identity-sources'],
        summary:
          "Refresh the source's users from the directory now; users gone from it are disabled. 503 DIRECTORY_UNAVAILABLE (nobody changed) when it does not answer, 409 while a sync of the source runs",
        params: NameParams,
        response: { 200: SyncReport },
      },
    },
    async (request) => services.directory.sync(actorOf(request), request.params.name),
  );
}
