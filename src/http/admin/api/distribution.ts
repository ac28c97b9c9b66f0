import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { invalidField } from '../../../errors.js';
import { BULK_CREDENTIALS_STATES, BULK_ITEM_RESULTS } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { listQuery, pageOf } from './paging.js';
import { DirectoryGroupSchema } from './profiles.js';
import { download, noContent } from './responses.js';
import { TokenViewSchema } from './tokens.js';
import { oneOf } from './vocabulary.js';

export const DistributionResultSchema = Type.Object({
  serial: Type.String(),
  tokenType: Type.String(),
  delivery: Type.Union([Type.String(), Type.Null()]),
  state: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  ctkipUrl: Type.Optional(Type.String()),
  activationCode: Type.Optional(Type.String()),
  appLink: Type.Optional(Type.String()),
  downloadUrl: Type.Optional(Type.String()),
  filePassword: Type.Optional(Type.String()),
  ctf: Type.Optional(Type.String()),
});

const ProfileBody = Type.Object({ profile: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
const CreateBody = Type.Object(
  { profile: Type.String({ minLength: 1, maxLength: 128 }), count: Type.Integer({ minimum: 1, maximum: 1000 }) },
  { additionalProperties: false },
);
const AssignBody = Type.Object({ username: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
const UsernameParams = Type.Object({ username: Type.String({ maxLength: 128 }) });
const SerialParams = Type.Object({ serial: Type.String({ maxLength: 64 }) });
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });
const BulkBody = Type.Object(
  {
    profile: Type.String({ minLength: 1, maxLength: 128 }),
    usernames: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 10_000 })),
    group: Type.Optional(DirectoryGroupSchema),
  },
  { additionalProperties: false },
);
const BulkSchema = Type.Object({
  id: Type.Integer(),
  profile: Type.String(),
  createdBy: Type.String(),
  state: Type.Union([Type.Literal('running'), Type.Literal('finished'), Type.Literal('interrupted')]),
  total: Type.Integer(),
  distributed: Type.Integer(),
  failed: Type.Integer(),
  waiting: Type.Integer(),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  group: Type.Union([DirectoryGroupSchema, Type.Null()], {
    description: 'the directory group the run was started for; null for a list of usernames',
  }),
  credentials: Type.Object(
    {
      state: oneOf(BULK_CREDENTIALS_STATES),
      expiresAt: Type.Union([Type.String(), Type.Null()]),
      downloadedAt: Type.Union([Type.String(), Type.Null()]),
      downloadedBy: Type.Union([Type.String(), Type.Null()]),
      mayDownload: Type.Boolean({
        description: 'Whether the asking administrator may take the file (one who is not shown activation codes may not).',
      }),
    },
    {
      description:
        'The credentials file of a run whose profile delivers by CT-KIP (`none` for other profiles): `pending` while it runs, `ready` to download once, then `downloaded` (by whom, when) or `expired`.',
    },
  ),
});
const BulkItemSchema = Type.Object({
  position: Type.Integer(),
  username: Type.String(),
  result: oneOf(BULK_ITEM_RESULTS),
  serial: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  message: Type.Union([Type.String(), Type.Null()]),
});
const BulkItemsQuery = Type.Object({ ...listQuery, result: Type.Optional(oneOf(BULK_ITEM_RESULTS)) }, { additionalProperties: false });

export function distributionRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Params: Static<typeof UsernameParams>; Body: Static<typeof ProfileBody> }>(
    '/users/:username/tokens',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: 'Assign a new token to a user and distribute it by the profile',
        params: UsernameParams,
        body: ProfileBody,
        response: { 201: DistributionResultSchema },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await services.distribution.distributeToUser(actorOf(request), request.params.username, request.body.profile)),
  );
  app.post<{ Body: Static<typeof CreateBody> }>(
    '/tokens',
    {
      config: { permission: 'tokens.create' },
      schema: {
        tags: ['distribution'],
        summary: 'Create unassigned tokens of a profile',
        body: CreateBody,
        response: { 201: Type.Object({ tokens: Type.Array(TokenViewSchema) }) },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send({ tokens: await services.distribution.createUnassigned(actorOf(request), request.body.profile, request.body.count) }),
  );
  app.post<{ Params: Static<typeof SerialParams>; Body: Static<typeof AssignBody> }>(
    '/tokens/:serial/assign',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: 'Assign an unassigned token to a user (imported tokens become active at once)',
        params: SerialParams,
        body: AssignBody,
        response: { 200: DistributionResultSchema },
      },
    },
    async (request) => services.distribution.assign(actorOf(request), request.params.serial, request.body.username),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/reissue',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: 'Distribute again: the previous code, link and seed stop working',
        params: SerialParams,
        response: { 200: DistributionResultSchema },
      },
    },
    async (request) => services.distribution.reissue(actorOf(request), request.params.serial),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/reset-activation',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: 'Let a CT-KIP activation be tried again after too many wrong codes',
        params: SerialParams,
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      await services.provisioning.resetActivationAttempts(actorOf(request), request.params.serial);
      return reply.status(204).send();
    },
  );
  app.post(
    '/ctkip/rotate-key',
    {
      config: { permission: 'ctkip.manage' },
      schema: {
        tags: ['distribution'],
        summary: 'Make a new CT-KIP server key pair; exchanges under way finish with the old one',
        response: { 200: Type.Object({ id: Type.Integer() }) },
      },
    },
    async (request) => services.provisioning.rotateServerKey(actorOf(request)),
  );
  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/download',
    {
      config: { permission: 'tokens.seeds' },
      schema: {
        tags: ['distribution'],
        summary: "Download a token's pending file once (the same one-time claim as its link)",
        params: SerialParams,
        response: { 200: download('The token file: sdtid (application/xml) or PSKC.', ['application/xml', 'application/pskc+xml']) },
      },
    },
    async (request, reply) => {
      const file = await services.distribution.adminDownload(actorOf(request), request.params.serial);
      return reply
        .header('content-type', file.contentType)
        .header('content-disposition', `attachment; filename="${file.fileName}"`)
        .header('cache-control', 'no-store')
        .send(file.body);
    },
  );

  app.post<{ Body: Static<typeof BulkBody> }>(
    '/bulk-distributions',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: 'Distribute a token of a profile to each user of a list, or each member of a directory group, in the background',
        description:
          'Give usernames, or a directory group ({source, dn}): its members, nested groups included, are read from the directory now (503 DIRECTORY_UNAVAILABLE, and nothing changed, when it cannot be asked), and each is given a local record as on first use. Answers at once; follow the progress at GET /bulk-distributions/{id}. Each holder is mailed and activates in the Self-Service Console, so CTF profiles are refused. A CT-KIP profile also gives a credentials file, once: POST /bulk-distributions/{id}/credentials.',
        body: BulkBody,
        response: { 202: BulkSchema },
      },
    },
    async (request, reply) => {
      const { profile, usernames, group } = request.body;
      if (usernames !== undefined && group !== undefined) throw invalidField('group', 'bulkUsernamesOrGroup');
      const bulk = group
        ? await services.bulk.startForGroup(actorOf(request), profile, group)
        : await services.bulk.start(actorOf(request), profile, usernames ?? []);
      return reply.status(202).send(bulk);
    },
  );
  app.get(
    '/bulk-distributions',
    {
      config: { permission: 'tokens.read' },
      schema: {
        tags: ['distribution'],
        summary: 'Recent bulk distributions, newest first',
        response: { 200: Type.Object({ bulkDistributions: Type.Array(BulkSchema) }) },
      },
    },
    async (request) => ({ bulkDistributions: await services.bulk.list(actorOf(request)) }),
  );
  app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof BulkItemsQuery> }>(
    '/bulk-distributions/:id',
    {
      config: { permission: 'tokens.read' },
      schema: {
        tags: ['distribution'],
        summary: "A bulk distribution's progress and its report per user",
        params: IdParams,
        querystring: BulkItemsQuery,
        response: { 200: Type.Object({ bulkDistribution: BulkSchema, items: Type.Array(BulkItemSchema) }) },
      },
    },
    async (request) => {
      const id = Number(request.params.id);
      const bulkDistribution = await services.bulk.get(actorOf(request), id);
      return {
        bulkDistribution,
        items: await services.bulk.items(actorOf(request), id, { ...pageOf(request.query), result: request.query.result }),
      };
    },
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    '/bulk-distributions/:id/resume',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: 'Continue an interrupted bulk distribution',
        params: IdParams,
        response: { 200: BulkSchema },
      },
    },
    async (request) => services.bulk.resume(actorOf(request), Number(request.params.id)),
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    '/bulk-distributions/:id/credentials',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['distribution'],
        summary: "Download a CT-KIP bulk distribution's credentials file, once",
        description:
          'A CSV with a row per distributed user: username, serial, ctkipUrl, activationCode, expiresAt, status (ready, or why the row has no code: activated, replaced, expired, gone). Given once, to the first request that claims it (others: 410 BULK_CREDENTIALS_DOWNLOADED); refused while the run goes on (409) and once every code has expired (410 BULK_CREDENTIALS_EXPIRED). Needs a role that is shown activation codes.',
        params: IdParams,
        response: { 200: download('The credentials file (CSV, a header row first).', ['text/csv']) },
      },
    },
    async (request, reply) => {
      const file = await services.bulk.downloadCredentials(actorOf(request), Number(request.params.id));
      return reply
        .header('content-type', file.contentType)
        .header('content-disposition', `attachment; filename="${file.fileName}"`)
        .header('cache-control', 'no-store')
        .send(file.body);
    },
  );
}
