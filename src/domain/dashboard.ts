import type { TokenState } from '../model/vocabulary.js';
import type { AuditRepository } from '../store/repositories/audit.js';
import type { DashboardRepository } from '../store/repositories/dashboard.js';
import { type Actor, requirePermission } from './actor.js';
import type { Clock, ClockWatch } from './clock.js';
import type { MailOutbox } from './mail-outbox.js';

export interface Dashboard {
  users: { total: number; disabled: number; locked: number };
  tokens: Record<TokenState, number> & { total: number };
  pendingRequests: number;
  /** REST and RADIUS authentications of the last 24 hours; a challenge counts as a success. */
  authentications: { succeeded: number; failed: number; hours: { start: string; succeeded: number; failed: number }[] };
  /** Active or pending tokens whose last valid day falls within the next 30 days, soonest first. */
  expiring: { count: number; first: { serial: string; username: string | null; expiresOn: string }[] };
  /** The latest step of this node's system clock since it started (`seconds` negative: back), or null. */
  clockStep: { at: string; seconds: number } | null;
  /** Mails to token holders waiting to be sent, and those given up after their retries. */
  mailOutbox: { queued: number; failed: number };
}

const HOUR_MS = 3_600_000;
const EXPIRY_DAYS = 30;
const EXPIRING_SHOWN = 10;

/** The numbers an admin looks at first, from a few aggregate queries. */
export class DashboardService {
  constructor(
    private readonly audit: AuditRepository,
    private readonly counts: DashboardRepository,
    private readonly clock: Clock,
    private readonly clockWatch: ClockWatch,
    private readonly mail: Pick<MailOutbox, 'counts'>,
  ) {}

  async summary(actor: Actor): Promise<Dashboard> {
    requirePermission(actor, 'dashboard.read');
    this.clockWatch.check();
    const step = this.clockWatch.lastStep;
    const now = this.clock.now();
    const currentHour = Math.floor(now / HOUR_MS);
    const today = new Date(now).toISOString().slice(0, 10);
    const lastDay = new Date(now + EXPIRY_DAYS * 86_400_000).toISOString().slice(0, 10);
    const [users, tokens, pendingRequests, byHour, expiring, mailOutbox] = await Promise.all([
      this.counts.userCounts(now),
      this.counts.tokensByState(),
      this.counts.pendingRequests(),
      this.audit.authenticationsByHour((currentHour - 23) * HOUR_MS),
      this.counts.expiring(today, lastDay, EXPIRING_SHOWN),
      this.mail.counts(),
    ]);
    const states: Record<TokenState, number> = { unassigned: 0, pending: 0, active: 0, disabled: 0 };
    for (const row of tokens) states[row.state] = row.n;
    const hours = Array.from({ length: 24 }, (_, i) => ({
      start: new Date((currentHour - 23 + i) * HOUR_MS).toISOString(),
      succeeded: 0,
      failed: 0,
    }));
    for (const row of byHour) {
      const slot = hours[row.hour - (currentHour - 23)];
      if (slot) slot[row.result === 'success' ? 'succeeded' : 'failed'] += row.n;
    }
    return {
      users,
      tokens: { ...states, total: Object.values(states).reduce((a, b) => a + b, 0) },
      pendingRequests,
      authentications: { succeeded: hours.reduce((a, h) => a + h.succeeded, 0), failed: hours.reduce((a, h) => a + h.failed, 0), hours },
      expiring: {
        count: expiring.count,
        first: expiring.first.map((row) => ({ serial: row.serial, username: row.username, expiresOn: row.expires_on })),
      },
      clockStep: step ? { at: new Date(step.at).toISOString(), seconds: step.seconds } : null,
      mailOutbox,
    };
  }
}
