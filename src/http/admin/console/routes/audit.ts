import type { FastifyInstance } from 'fastify';
import { aboutTarget } from '../../../../domain/audit.js';
import type { Services } from '../../../../domain/services.js';
import { invalidField } from '../../../../errors.js';
import type { AuditQuery } from '../../../../model/audit.js';
import { actorOf, fixable, given, page, viewerOf } from '../http.js';
import { type AuditFilter, auditPage } from '../views/audit.js';

const PAGE = 100;
const DAY_MS = 86_400_000;

const FilterQuery = {
  type: 'object',
  properties: {
    user: { type: 'string', maxLength: 128 },
    actor: { type: 'string', maxLength: 128 },
    serial: { type: 'string', maxLength: 64 },
    action: { type: 'string', maxLength: 64 },
    result: { type: 'string', enum: ['', 'success', 'failure'] },
    since: { type: 'string', maxLength: 10 },
    until: { type: 'string', maxLength: 10 },
    before: { type: 'string', pattern: '^[0-9]{1,15}$' },
  },
  additionalProperties: false,
} as const;
type FilterRoute = { Querystring: Record<keyof AuditFilter | 'before', string | undefined> };

function dayStart(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : Number.NaN;
  if (Number.isNaN(time)) throw invalidField(name, 'dayValue');
  return time;
}

function filterOf(query: FilterRoute['Querystring']): AuditFilter {
  return {
    user: given(query.user),
    actor: given(query.actor),
    serial: given(query.serial),
    action: given(query.action),
    result: (query.result || undefined) as AuditFilter['result'],
    since: given(query.since),
    until: given(query.until),
  };
}

/** The days are whole UTC days, `until` included. */
function auditQuery(filter: AuditFilter): Omit<AuditQuery, 'limit'> {
  const until = dayStart('To', filter.until);
  return {
    actor: filter.actor,
    ...aboutTarget(filter),
    action: filter.action,
    result: filter.result,
    since: dayStart('From', filter.since),
    until: until === undefined ? undefined : until + DAY_MS - 1,
  };
}

/** The audit trail with its filters, page by page, and as a CSV file. */
export function auditRoutes(app: FastifyInstance, services: Services): void {
  app.get<FilterRoute>('/audit', { config: { permission: 'audit.read' }, schema: { querystring: FilterQuery } }, async (request, reply) => {
    const filter = filterOf(request.query);
    const before = request.query.before === undefined ? undefined : Number(request.query.before);
    try {
      const events = await services.audit.list(actorOf(request), { ...auditQuery(filter), beforeId: before, limit: PAGE + 1 });
      return page(reply, auditPage(viewerOf(request), { events: events.slice(0, PAGE), filter, more: events.length > PAGE, before }));
    } catch (error) {
      const refused = fixable(error, ['VALIDATION_FAILED']);
      return page(reply, auditPage(viewerOf(request), { events: [], filter, more: false, error: refused }), refused.status);
    }
  });

  app.get<FilterRoute>(
    '/audit/export',
    { config: { permission: 'audit.read' }, schema: { querystring: FilterQuery } },
    async (request, reply) => {
      const { csv } = await services.audit.exportCsv(actorOf(request), auditQuery(filterOf(request.query)));
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="tally-audit.csv"')
        .send(csv);
    },
  );
}
