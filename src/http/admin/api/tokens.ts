import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ASSIGNMENT_FILE_MAX_CHARS } from '../../../domain/assignment-import.js';
import type { Services } from '../../../domain/services.js';
import { invalidField, invalidInput } from '../../../errors.js';
import { MAX_TOKEN_FILE_BYTES } from '../../../formats/detect.js';
import { ASSIGNMENT_RESULTS, TOKEN_ORIGINS, TOKEN_STATES } from '../../../model/vocabulary.js';
import { TOKEN_TYPES } from '../../../tokens/registry.js';
import { readMultipart, type UploadLimits, uploadRoutes } from '../../multipart.js';
import { actorOf } from './auth.js';
import { afterQuery, groupOf, groupQuery, listQuery, pageOf } from './paging.js';
import { noContent } from './responses.js';
import { oneOf } from './vocabulary.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

export const TokenViewSchema = Type.Object({
  serial: Type.String(),
  tokenType: oneOf(TOKEN_TYPES),
  state: oneOf(TOKEN_STATES),
  origin: oneOf(TOKEN_ORIGINS),
  username: Nullable(Type.String()),
  label: Nullable(Type.String()),
  digits: Type.Integer(),
  period: Type.Union([Type.Integer(), Type.Null()]),
  algorithm: Type.String(),
  pinMode: Type.String(),
  expiresOn: Nullable(Type.String()),
  validFrom: Nullable(Type.String({ description: "An imported key's PSKC Policy StartDate: no code is accepted before it." })),
  validUntil: Nullable(Type.String({ description: "An imported key's PSKC Policy ExpiryDate: no code is accepted from then on." })),
  usesLeft: Type.Union([Type.Integer(), Type.Null()], {
    description: "Codes the token may still be used for (an imported key's PSKC NumberOfTransactions); null: no limit.",
  }),
  createdAt: Type.String(),
  activatedAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
  disabledReason: Nullable(Type.String()),
});

const ImportReportSchema = Type.Object({
  format: Type.String(),
  imported: Type.Integer(),
  replaced: Type.Integer(),
  refused: Type.Integer(),
  tokens: Type.Array(
    Type.Object({
      serial: Type.String(),
      keyId: Type.Optional(Type.String({ description: 'The PSKC Key Id, which names the key where serials repeat.' })),
      tokenType: Type.Optional(Type.String()),
      result: Type.Union([Type.Literal('imported'), Type.Literal('replaced'), Type.Literal('refused')]),
      reason: Type.Optional(Type.String()),
    }),
  ),
  notes: Type.Array(Type.String(), { description: 'About the file as a whole, e.g. an XML signature Tally did not check.' }),
});

const ImportJson = Type.Object(
  {
    file: Type.String({ description: 'The sdtid or PSKC file, base64', maxLength: Math.ceil((MAX_TOKEN_FILE_BYTES * 4) / 3) + 4 }),
    fileName: Type.Optional(Type.String({ maxLength: 255 })),
    password: Type.Optional(Type.String({ maxLength: 256 })),
    replace: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const SerialParams = Type.Object({ serial: Type.String({ maxLength: 64 }) });
const UsernameParams = Type.Object({ username: Type.String({ maxLength: 128 }) });
const TokenListQuery = Type.Object(
  {
    ...listQuery,
    ...afterQuery,
    state: Type.Optional(oneOf(TOKEN_STATES)),
    tokenType: Type.Optional(oneOf(TOKEN_TYPES)),
    serial: Type.Optional(Type.String({ maxLength: 64, description: 'serial prefix' })),
    username: Type.Optional(Type.String({ maxLength: 128 })),
    group: Type.Optional(groupQuery),
  },
  { additionalProperties: false },
);

function decodeBase64File(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw invalidField('file', 'base64Value');
  return Buffer.from(compact, 'base64');
}

/** What a REST token import may hold: the `file` part plus optional `password` and `replace` fields. */
const IMPORT_LIMITS: UploadLimits = { fileBytes: MAX_TOKEN_FILE_BYTES, fields: 2, fieldBytes: 1024 };

async function readMultipartImport(
  request: FastifyRequest,
): Promise<{ content: Buffer; fileName?: string; password?: string; replace?: boolean }> {
  const { file, ...fields } = await readMultipart(request, IMPORT_LIMITS);
  if (!file) throw invalidField('file', 'uploadNoFile');
  const unknown = Object.keys(fields).filter((name) => !['password', 'replace'].includes(name));
  if (unknown.length) throw invalidInput('uploadUnknownFields', { names: unknown.map((name) => name.slice(0, 64)).join(', ') });
  if (fields.replace !== undefined && !['true', 'false'].includes(fields.replace)) {
    throw invalidField('replace', 'oneOf', { choices: 'true, false' });
  }
  return { content: file.content, fileName: file.fileName, password: fields.password, replace: fields.replace === 'true' };
}

const AssignmentJson = Type.Object(
  {
    csv: Type.String({
      maxLength: ASSIGNMENT_FILE_MAX_CHARS,
      description: 'A header row (serial, username, and optionally requiresNewPin) and a row per token',
    }),
  },
  { additionalProperties: false },
);
const AssignmentReportSchema = Type.Object({
  assigned: Type.Integer(),
  refused: Type.Integer(),
  rows: Type.Array(
    Type.Object({
      line: Type.Integer({ description: 'The line of the file the row starts on (the header is line 1).' }),
      serial: Type.String(),
      username: Type.String(),
      requiresNewPin: Type.Union([Type.Boolean(), Type.Null()], { description: 'As the row said; null: it said nothing.' }),
      result: oneOf(ASSIGNMENT_RESULTS),
      reason: Type.Optional(Type.String()),
    }),
  ),
});
/** An assignment file as a multipart upload: the `file` part alone. */
const ASSIGNMENT_LIMITS: UploadLimits = { fileBytes: ASSIGNMENT_FILE_MAX_CHARS, fields: 0, fieldBytes: 0 };

export function tokenRoutes(app: FastifyInstance, services: Services): void {
  // The REST routes that take files: multipart is parsed here only (http/multipart.ts).
  uploadRoutes(app, (uploads) => {
    uploads.post<{ Body: Static<typeof AssignmentJson> }>(
      '/tokens/assignments',
      {
        config: { permission: 'tokens.distribute' },
        bodyLimit: 3 * 1024 * 1024,
        schema: {
          tags: ['tokens'],
          summary: 'Assign imported tokens to users from a CSV of serial,username[,requiresNewPin], with a report per row',
          description:
            'JSON {csv} or multipart/form-data with a `file` part. Each row is assigned on its own (refused rows leave the others done); requiresNewPin takes yes/no/true/false/1/0: yes makes the holder set a PIN at the first authentication. Only imported tokens: a token Tally made is distributed when assigned, one by one.',
          body: { content: { 'application/json': { schema: AssignmentJson }, 'multipart/form-data': { schema: {} } } },
          response: { 200: AssignmentReportSchema },
        },
      },
      async (request) => {
        let text = request.body?.csv;
        if (request.isMultipart()) {
          const { file } = await readMultipart(request, ASSIGNMENT_LIMITS);
          if (!file) throw invalidField('file', 'uploadNoFile');
          text = file.content.toString('utf8');
        }
        return services.assignments.importCsv(actorOf(request), text ?? '');
      },
    );
    uploads.post<{ Body: Static<typeof ImportJson> }>(
      '/tokens/import',
      {
        config: { permission: 'tokens.import' },
        bodyLimit: Math.ceil((MAX_TOKEN_FILE_BYTES * 4) / 3) + 64 * 1024,
        schema: {
          tags: ['tokens'],
          summary: 'Import an sdtid or PSKC file as unassigned tokens (JSON with base64, or multipart/form-data)',
          description:
            'A file that fails its MACs or password imports nothing. A serial that exists already is refused unless replace is true.',
          body: { content: { 'application/json': { schema: ImportJson }, 'multipart/form-data': { schema: {} } } },
          response: { 200: ImportReportSchema },
        },
      },
      async (request) => {
        const body = request.body;
        const input = request.isMultipart()
          ? await readMultipartImport(request)
          : { content: decodeBase64File(body.file), fileName: body.fileName, password: body.password, replace: body.replace };
        return services.tokens.importFile(actorOf(request), input);
      },
    );
  });

  app.get<{ Querystring: Static<typeof TokenListQuery> }>(
    '/tokens',
    {
      config: { permission: 'tokens.read' },
      schema: {
        tags: ['tokens'],
        summary: 'List or search tokens',
        querystring: TokenListQuery,
        response: { 200: Type.Object({ tokens: Type.Array(TokenViewSchema) }) },
      },
    },
    async (request) => {
      const q = request.query;
      const tokens = await services.tokens.list(actorOf(request), {
        ...pageOf(q),
        after: q.after,
        state: q.state,
        tokenType: q.tokenType,
        serialPrefix: q.serial,
        username: q.username,
        group: groupOf(q.group),
      });
      return { tokens };
    },
  );

  app.get<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial',
    {
      config: { permission: 'tokens.read' },
      schema: { tags: ['tokens'], summary: 'Get a token', params: SerialParams, response: { 200: TokenViewSchema } },
    },
    async (request) => services.tokens.get(actorOf(request), request.params.serial),
  );

  app.get<{ Params: Static<typeof UsernameParams> }>(
    '/users/:username/tokens',
    {
      config: { permission: 'tokens.read' },
      schema: {
        tags: ['tokens'],
        summary: "A user's tokens",
        params: UsernameParams,
        response: { 200: Type.Object({ tokens: Type.Array(TokenViewSchema) }) },
      },
    },
    async (request) => ({
      tokens: await services.tokens.list(actorOf(request), { username: request.params.username, limit: 1000, offset: 0 }),
    }),
  );

  app.post<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial/unassign',
    {
      config: { permission: 'tokens.distribute' },
      schema: {
        tags: ['tokens'],
        summary: 'Take a token back into the unassigned inventory (a generated one loses its seed)',
        params: SerialParams,
        response: { 200: TokenViewSchema },
      },
    },
    async (request) => services.distribution.unassign(actorOf(request), request.params.serial),
  );

  app.delete<{ Params: Static<typeof SerialParams> }>(
    '/tokens/:serial',
    {
      config: { permission: 'tokens.delete' },
      schema: {
        tags: ['tokens'],
        summary: 'Delete a token (super admins); the audit trail keeps its history',
        params: SerialParams,
        response: { 204: noContent },
      },
    },
    async (request, reply) => {
      await services.tokens.delete(actorOf(request), request.params.serial);
      return reply.status(204).send();
    },
  );
}
