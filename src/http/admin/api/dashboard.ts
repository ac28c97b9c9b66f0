import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { actorOf } from './auth.js';

const Count = Type.Integer({ minimum: 0 });

const DashboardSchema = Type.Object({
  users: Type.Object({ total: Count, disabled: Count, locked: Count }),
  tokens: Type.Object({ total: Count, unassigned: Count, pending: Count, active: Count, disabled: Count }),
  pendingRequests: Count,
  authentications: Type.Object({
    succeeded: Count,
    failed: Count,
    hours: Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), succeeded: Count, failed: Count }), {
      description: 'the last 24 hours, oldest first',
    }),
  }),
  expiring: Type.Object({
    count: Count,
    first: Type.Array(Type.Object({ serial: Type.String(), username: Type.Union([Type.String(), Type.Null()]), expiresOn: Type.String() })),
  }),
  clockStep: Type.Union([Type.Object({ at: Type.String({ format: 'date-time' }), seconds: Type.Integer() }), Type.Null()], {
    description: "the latest step of this node's system clock since it started (seconds negative: back), or null",
  }),
  mailOutbox: Type.Object(
    { queued: Count, failed: Count },
    { description: 'mails to token holders waiting to be sent, and those given up after their retries (GET /mail-outbox lists them)' },
  ),
});

export function dashboardRoutes(app: FastifyInstance, services: Services): void {
  app.get(
    '/dashboard',
    {
      config: { permission: 'dashboard.read' },
      schema: {
        tags: ['dashboard'],
        summary:
          'Counts that matter: users, tokens by state, pending requests, authentications in the last 24 h, tokens expiring within 30 days, the mail outbox, a step of the system clock',
        response: { 200: DashboardSchema },
      },
    },
    async (request) => services.dashboard.summary(actorOf(request)),
  );
}
