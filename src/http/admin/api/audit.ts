import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { aboutTarget } from '../../../domain/audit.js';
import type { Services } from '../../../domain/services.js';
import { actorOf } from './auth.js';
import { pageOf, timeOf } from './paging.js';
import { download } from './responses.js';

const AuditEvent = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  actorType: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  targetType: Type.Union([Type.String(), Type.Null()]),
  target: Type.Union([Type.String(), Type.Null()]),
  result: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  source: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  requestId: Type.Union([Type.String({ description: 'the request it came from (X-Request-Id), as in the log' }), Type.Null()]),
});

const AuditQuery = Type.Object(
  {
    actor: Type.Optional(Type.String({ maxLength: 128, description: 'who acted' })),
    user: Type.Optional(Type.String({ maxLength: 128, description: 'events on this user (as target)' })),
    serial: Type.Optional(Type.String({ maxLength: 128, description: 'events on this token' })),
    action: Type.Optional(Type.String({ maxLength: 64, description: 'an action, or a prefix ending in * (token.*)' })),
    result: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
    since: Type.Optional(Type.String({ maxLength: 40, description: 'ISO-8601 time or unix seconds' })),
    until: Type.Optional(Type.String({ maxLength: 40 })),
    before: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'only events with a smaller id (paging)' })),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
  },
  { additionalProperties: false },
);

type Filter = Omit<Static<typeof AuditQuery>, 'before' | 'limit'>;

function filterOf(q: Filter) {
  return {
    actor: q.actor,
    ...aboutTarget(q),
    action: q.action,
    result: q.result,
    since: timeOf('since', q.since),
    until: timeOf('until', q.until),
  };
}

export function auditRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Querystring: Static<typeof AuditQuery> }>(
    '/audit',
    {
      config: { permission: 'audit.read' },
      schema: {
        tags: ['audit'],
        summary: 'The audit trail, newest first',
        querystring: AuditQuery,
        response: { 200: Type.Object({ events: Type.Array(AuditEvent) }) },
      },
    },
    async (request) => {
      const q = request.query;
      const events = await services.audit.list(actorOf(request), {
        ...filterOf(q),
        beforeId: q.before === undefined ? undefined : Number(q.before),
        limit: pageOf(q).limit,
      });
      return { events };
    },
  );

  app.get<{ Querystring: Filter }>(
    '/audit/export',
    {
      config: { permission: 'audit.read' },
      schema: {
        tags: ['audit'],
        summary: 'The audit trail as CSV (the same filters), newest first',
        querystring: Type.Omit(AuditQuery, ['before', 'limit'], { additionalProperties: false }),
        response: { 200: download('The audit events as CSV, one per line, with a header line.', ['text/csv']) },
      },
    },
    async (request, reply) => {
      const { csv } = await services.audit.exportCsv(actorOf(request), filterOf(request.query));
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="tally-audit.csv"')
        .send(csv);
    },
  );
}
