import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { MAIL_STATES } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { listQuery, pageOf } from './paging.js';
import { oneOf } from './vocabulary.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

const MailSchema = Type.Object({
  id: Type.Integer(),
  kind: Type.String({ description: 'what the mail tells: token.distributed or request.decided' }),
  about: Type.String({ description: 'the serial or the request id it is about' }),
  username: Type.String(),
  to: Type.String(),
  subject: Type.String(),
  state: oneOf(MAIL_STATES),
  attempts: Type.Integer({ minimum: 0, description: 'sends begun since it was queued (or retried)' }),
  createdAt: Type.String({ format: 'date-time' }),
  nextAttemptAt: Nullable(Type.String({ format: 'date-time' })),
  lastError: Nullable(Type.String({ description: 'why the last send failed: an error code and the SMTP reply code, never the text' })),
  sentAt: Nullable(Type.String({ format: 'date-time' })),
});

const OutboxQuery = Type.Object(
  { ...listQuery, state: Type.Optional(oneOf(MAIL_STATES, { description: 'default: queued and failed' })) },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });

/** The mail outbox: what waits to be sent, what was given up, and retrying it. Never a mail's text. */
export function mailOutboxRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Querystring: Static<typeof OutboxQuery> }>(
    '/mail-outbox',
    {
      config: { permission: 'mail.read' },
      schema: {
        tags: ['mail'],
        summary: 'Mails waiting to be sent and mails given up after their retries (or the sent ones still kept), newest first',
        querystring: OutboxQuery,
        response: { 200: Type.Object({ mails: Type.Array(MailSchema) }) },
      },
    },
    async (request) => ({
      mails: await services.mailOutbox.list(actorOf(request), { ...pageOf(request.query), state: request.query.state }),
    }),
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    '/mail-outbox/:id/retry',
    {
      config: { permission: 'mail.retry' },
      schema: {
        tags: ['mail'],
        summary: 'Queue a failed mail again: it is sent on the next pass, with a fresh count of attempts',
        params: IdParams,
        response: { 200: Type.Object({ mail: MailSchema }) },
      },
    },
    async (request) => ({ mail: await services.mailOutbox.retry(actorOf(request), Number(request.params.id)) }),
  );
}
