import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ProfileChanges } from '../../../domain/profiles.js';
import type { Services } from '../../../domain/services.js';
import { FILE_PASSWORD_POLICIES, PIN_CHARSETS, PROFILE_PIN_MODES } from '../../../model/vocabulary.js';
import { TOKEN_TYPES } from '../../../tokens/registry.js';
import { actorOf } from './auth.js';
import { oneOf } from './vocabulary.js';

const TokenTypeSchema = oneOf(TOKEN_TYPES);
const DeliverySchema = Type.Union([Type.Literal('qr'), Type.Literal('ctkip'), Type.Literal('file'), Type.Literal('ctf')]);

/** A directory group: the identity source it is in, by name, and its DN. */
export const DirectoryGroupSchema = Type.Object(
  {
    source: Type.String({ minLength: 1, maxLength: 64, description: 'the identity source, by name' }),
    dn: Type.String({ minLength: 1, maxLength: 1024, description: "the group's DN" }),
  },
  { additionalProperties: false },
);

const NewProfile = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    description: Type.Optional(Type.String({ maxLength: 512 })),
    tokenType: TokenTypeSchema,
    deviceType: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'authenticator, android, ios, windows, macos, tally-cli, or one an admin added',
    }),
    appVersion: Type.Optional(Type.String({ maxLength: 32 })),
    delivery: DeliverySchema,
    digits: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
    period: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    algorithm: Type.Optional(Type.Union([Type.Literal('SHA1'), Type.Literal('SHA256'), Type.Literal('SHA512'), Type.Literal('AES128')])),
    pinMode: Type.Optional(
      oneOf(PROFILE_PIN_MODES, {
        description:
          'none; required: PIN + tokencode typed together; pinpad (SecurID): the PIN typed into the app, which mixes it into the code',
      }),
    ),
    pinMinLength: Type.Optional(Type.Integer({ description: 'shortest PIN, 4 to 8 (default 4)' })),
    pinMaxLength: Type.Optional(Type.Integer({ description: 'longest PIN, 4 to 8 (default 8; pinpad: at most the digits)' })),
    pinCharset: Type.Optional(oneOf(PIN_CHARSETS, { description: 'digits (default; pinpad: always) or alphanumeric' })),
    pinReuse: Type.Optional(Type.Boolean({ description: 'whether a new PIN may repeat one of the last two (default false)' })),
    pinGenerated: Type.Optional(
      Type.Boolean({
        description: "whether Tally generates the new PIN to the policy and shows it (RSA's system-generated PIN; default false)",
      }),
    ),
    tokenLifetimeDays: Type.Optional(Type.Integer()),
    activationLifetimeDays: Type.Optional(Type.Integer()),
    filePasswordPolicy: Type.Optional(oneOf(FILE_PASSWORD_POLICIES)),
    filePassword: Type.Optional(Type.String({ maxLength: 64 })),
    selfService: Type.Optional(Type.Boolean()),
    requiresApproval: Type.Optional(Type.Boolean()),
    ctkipUrl: Type.Optional(Type.String({ maxLength: 512 })),
    mailCtkipUrl: Type.Optional(
      Type.Boolean({ description: "ctkip only: the holder's mail names the CT-KIP URL (never the activation code)" }),
    ),
    directoryGroups: Type.Optional(
      Type.Array(DirectoryGroupSchema, {
        maxItems: 50,
        description:
          'directory groups whose members (nested groups included) may request it in self-service; empty or left out: everyone may. Each must name a known identity source and be a well-formed DN; the directory is not asked.',
      }),
    ),
  },
  { additionalProperties: false },
);

const ProfileViewSchema = Type.Object({
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  tokenType: TokenTypeSchema,
  deviceType: Type.String(),
  appVersion: Type.Union([Type.String(), Type.Null()]),
  delivery: DeliverySchema,
  digits: Type.Integer(),
  period: Type.Union([Type.Integer(), Type.Null()]),
  algorithm: Type.String(),
  pinMode: oneOf(PROFILE_PIN_MODES),
  pinMinLength: Type.Integer(),
  pinMaxLength: Type.Integer(),
  pinCharset: oneOf(PIN_CHARSETS),
  pinReuse: Type.Boolean(),
  pinGenerated: Type.Boolean(),
  tokenLifetimeDays: Type.Union([Type.Integer(), Type.Null()]),
  activationLifetimeDays: Type.Integer(),
  filePasswordPolicy: Type.String(),
  selfService: Type.Boolean(),
  requiresApproval: Type.Boolean(),
  ctkipUrl: Type.Union([Type.String(), Type.Null()]),
  mailCtkipUrl: Type.Boolean(),
  directoryGroups: Type.Array(DirectoryGroupSchema),
  possibleDeliveries: Type.Array(DeliverySchema),
  warnings: Type.Array(Type.String()),
});

const DeviceDefinitionSchema = Type.Object({
  deviceType: Type.String(),
  label: Type.String(),
  tokenTypes: Type.Array(TokenTypeSchema),
  versions: Type.Record(Type.String(), Type.Array(DeliverySchema)),
  notes: Type.Optional(Type.Record(Type.String(), Type.String())),
  builtIn: Type.Boolean(),
});

const PutDevice = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 128 }),
    tokenTypes: Type.Array(TokenTypeSchema, { minItems: 1, maxItems: 3 }),
    versions: Type.Record(Type.String({ maxLength: 4 }), Type.Array(DeliverySchema, { maxItems: 4 }), {
      description: 'app major version (or *) to the deliveries it takes',
    }),
    notes: Type.Optional(
      Type.Record(Type.String({ maxLength: 8 }), Type.String({ maxLength: 256 }), {
        description: 'delivery to why the device cannot take it',
      }),
    ),
  },
  { additionalProperties: false },
);

/** Every field of a new profile but its name, each optional; null returns a field to its default. */
const ProfileChangesBody = Type.Object(
  Object.fromEntries(
    Object.entries(Type.Omit(NewProfile, ['name']).properties).map(([key, schema]) => [
      key,
      Type.Optional(Type.Union([schema, Type.Null()])),
    ]),
  ),
  { additionalProperties: false },
);

const NameParams = Type.Object({ name: Type.String({ maxLength: 128 }) });
const DeviceParams = Type.Object({ deviceType: Type.String({ maxLength: 32 }) });

export function profileRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: Static<typeof NewProfile> }>(
    '/profiles',
    {
      config: { permission: 'profiles.manage' },
      schema: { tags: ['profiles'], summary: 'Create a software token profile', body: NewProfile, response: { 201: ProfileViewSchema } },
    },
    async (request, reply) => reply.status(201).send(await services.profiles.create(actorOf(request), request.body)),
  );
  app.patch<{ Params: Static<typeof NameParams>; Body: ProfileChanges }>(
    '/profiles/:name',
    {
      config: { permission: 'profiles.manage' },
      schema: {
        tags: ['profiles'],
        summary: 'Change a token profile (its name stays); tokens distributed from now on follow it',
        description:
          "Fields left out keep their value; null returns a field to its default. Changing tokenType resets digits, period, algorithm and token lifetime to the new type's defaults unless given.",
        params: NameParams,
        body: ProfileChangesBody,
        response: { 200: ProfileViewSchema },
      },
    },
    async (request) => services.profiles.update(actorOf(request), request.params.name, request.body),
  );
  app.get(
    '/profiles',
    {
      config: { permission: 'profiles.read' },
      schema: {
        tags: ['profiles'],
        summary: 'List token profiles',
        response: { 200: Type.Object({ profiles: Type.Array(ProfileViewSchema) }) },
      },
    },
    async (request) => ({ profiles: await services.profiles.list(actorOf(request)) }),
  );
  app.get<{ Params: Static<typeof NameParams> }>(
    '/profiles/:name',
    {
      config: { permission: 'profiles.read' },
      schema: { tags: ['profiles'], summary: 'Get a token profile', params: NameParams, response: { 200: ProfileViewSchema } },
    },
    async (request) => services.profiles.get(actorOf(request), request.params.name),
  );
  app.get(
    '/device-types',
    {
      config: { permission: 'profiles.read' },
      schema: {
        tags: ['profiles'],
        summary: 'The capability table: device types and what each app version can take',
        response: { 200: Type.Object({ deviceTypes: Type.Array(DeviceDefinitionSchema) }) },
      },
    },
    async (request) => {
      return { deviceTypes: await services.profiles.deviceTypes(actorOf(request)) };
    },
  );
  app.put<{ Params: Static<typeof DeviceParams>; Body: Static<typeof PutDevice> }>(
    '/device-types/:deviceType',
    {
      config: { permission: 'profiles.manage' },
      schema: {
        tags: ['profiles'],
        summary: 'Add or change a device definition in the capability table',
        params: DeviceParams,
        body: PutDevice,
        response: { 200: DeviceDefinitionSchema },
      },
    },
    async (request) => services.profiles.putDevice(actorOf(request), { deviceType: request.params.deviceType, ...request.body } as never),
  );
}
