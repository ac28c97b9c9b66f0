import { formatSyslogMessage, type SyslogMessage } from '../core/syslog/rfc5424.js';
import type { Logger } from '../logger.js';
import type { AuditRepository, AuditRow } from '../store/repositories/audit.js';
import type { MetaRepository } from '../store/repositories/meta.js';
import { type AuditEvent, toEvent } from './audit.js';
import type { Clock } from './clock.js';
import { repeatEvery } from './repeat.js';

/** Where forwarded events go (a syslog transport). `send` resolves once the messages are handed to the operating system. */
export interface AuditSink {
  send(messages: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface AuditForwardingSettings {
  /** The HOSTNAME of every message: this node. */
  hostname: string;
  /** Who this forwarder is in the lease (unique per process). */
  holder: string;
  /** How long a claim of the lease lasts without renewal; another node takes over after it. */
  leaseMs: number;
  /**
   * How long an id missing below a later one is waited for before it is passed over: on
   * PostgreSQL an id is taken at insert and seen at commit, so a later id may be visible first.
   */
  gapWaitMs: number;
  /** Events per pass. */
  batch: number;
}

export const DEFAULT_AUDIT_FORWARDING = { leaseMs: 30_000, gapWaitMs: 10_000, batch: 500 } as const;

/** The private-enterprise number of RFC 5612's examples: Tally has none of its own, and a SIEM matches on the whole SD-ID. */
export const AUDIT_SD_ID = 'tally-audit@32473';
const FACILITY_AUTHPRIV = 10;
const SEVERITY_NOTICE = 5;
const SEVERITY_INFO = 6;

/** The lease row: which forwarder sends, until when, and the id every event up to which has been sent. */
interface ForwardingState {
  holder: string;
  until: number;
  after: number;
}
const STATE_KEY = 'audit.forwarding';

/** One audit event as an RFC 5424 message: its fields as structured data, a one-line summary as text. */
export function auditSyslogMessage(event: AuditEvent, hostname: string): string {
  const fields: [string, string | number | null][] = [
    ['id', event.id],
    ['at', event.at],
    ['actorType', event.actorType],
    ['actor', event.actor],
    ['action', event.action],
    ['targetType', event.targetType],
    ['target', event.target],
    ['result', event.result],
    ['source', event.source],
    ['details', event.details ? JSON.stringify(event.details) : null],
    ['requestId', event.requestId],
  ];
  const message: SyslogMessage = {
    facility: FACILITY_AUTHPRIV,
    severity: event.result === 'failure' ? SEVERITY_NOTICE : SEVERITY_INFO,
    timestamp: event.at,
    hostname,
    appName: 'tally',
    msgId: event.action,
    structuredData: [
      { id: AUDIT_SD_ID, params: fields.flatMap(([name, value]) => (value === null ? [] : [[name, String(value)] as const])) },
    ],
    message: `${event.actorType} ${event.actor}: ${event.action}${event.target === null ? '' : ` ${event.targetType ?? ''} ${event.target}`} ${event.result}`,
  };
  return formatSyslogMessage(message);
}

/**
 * Forwards the audit trail to syslog from the table, by id, so nothing recorded is lost to a crash
 * or an outage: the cursor (the last id sent) is kept in the store and advanced only after the
 * send, so a restart resumes and an outage catches up; a crash between the send and the advance
 * sends those events again (at least once, never silently dropped).
 *
 * One forwarder at a time across nodes: the cursor lives in a lease row claimed and renewed by
 * compare-and-swap, so in normal operation each event goes out once. An id missing below a later
 * one (a PostgreSQL transaction still open, or one rolled back) stops the pass there until it
 * appears or has been missing for `gapWaitMs`; then it is passed over for good.
 */
export class AuditForwarder {
  /** When each missing id was first seen missing (this process's view). */
  private readonly gapsSince = new Map<number, number>();

  constructor(
    private readonly audit: AuditRepository,
    private readonly meta: MetaRepository,
    private readonly sink: AuditSink,
    private readonly clock: Clock,
    private readonly settings: AuditForwardingSettings,
  ) {}

  /** One pass: claim (or renew) the lease, send what follows the cursor, advance it. Returns how many events were sent. */
  async forwardOnce(): Promise<number> {
    const claim = await this.claim();
    if (claim === undefined) return 0;
    const rows = await this.audit.ascending({ afterId: claim.state.after, limit: this.settings.batch });
    const ready = this.contiguous(claim.state.after, rows);
    if (ready.through === claim.state.after) return 0;
    await this.sink.send(ready.rows.map((row) => auditSyslogMessage(toEvent(row), this.settings.hostname)));
    const next: ForwardingState = { holder: this.settings.holder, until: this.clock.now() + this.settings.leaseMs, after: ready.through };
    if (!(await this.meta.replace(STATE_KEY, claim.raw, JSON.stringify(next))))
      throw new Error('the audit forwarding lease was taken over during a send; those events may be sent twice');
    return ready.rows.length;
  }

  /** Gives the lease up (at shutdown), so another node takes over at once. */
  async release(): Promise<void> {
    const raw = await this.meta.get(STATE_KEY);
    if (raw === undefined) return;
    const state = JSON.parse(raw) as ForwardingState;
    if (state.holder === this.settings.holder) await this.meta.replace(STATE_KEY, raw, JSON.stringify({ ...state, holder: '', until: 0 }));
  }

  private async claim(): Promise<{ raw: string; state: ForwardingState } | undefined> {
    let raw = await this.meta.get(STATE_KEY);
    if (raw === undefined) {
      await this.meta.insertOnce(STATE_KEY, JSON.stringify({ holder: '', until: 0, after: 0 } satisfies ForwardingState));
      raw = await this.meta.get(STATE_KEY);
      if (raw === undefined) return undefined;
    }
    const state = JSON.parse(raw) as ForwardingState;
    const now = this.clock.now();
    if (state.holder !== this.settings.holder && state.until > now) return undefined;
    const claimed: ForwardingState = { holder: this.settings.holder, until: now + this.settings.leaseMs, after: state.after };
    const claimedRaw = JSON.stringify(claimed);
    if (!(await this.meta.replace(STATE_KEY, raw, claimedRaw))) return undefined;
    return { raw: claimedRaw, state: claimed };
  }

  /** The rows to send now and the id the cursor may advance to: up to the first gap still worth waiting for. */
  private contiguous(after: number, rows: readonly AuditRow[]): { rows: AuditRow[]; through: number } {
    const ready: AuditRow[] = [];
    let through = after;
    const now = this.clock.now();
    for (const row of rows) {
      const id = Number(row.id);
      if (id !== through + 1) {
        const since = this.gapsSince.get(through + 1) ?? now;
        this.gapsSince.set(through + 1, since);
        if (now - since < this.settings.gapWaitMs) break;
      }
      this.gapsSince.delete(through + 1);
      ready.push(row);
      through = id;
    }
    return { rows: ready, through };
  }
}

/**
 * Runs a forwarder every `intervalMs` until stopped; a failed pass (syslog unreachable, the store
 * busy) is logged and tried again at the next, from the same cursor.
 */
export function runAuditForwarding(forwarder: AuditForwarder, intervalMs: number, logger?: Logger): { stop(): Promise<void> } {
  const running = repeatEvery(
    intervalMs,
    // Catching up after an outage goes on at once, batch after batch, until nothing is left.
    async (goOn) => {
      while (goOn() && (await forwarder.forwardOnce()) > 0);
    },
    { failing: 'audit forwarding to syslog failed; retrying', resumed: 'audit forwarding to syslog resumed' },
    logger,
  );
  return {
    async stop() {
      await running.stop();
      await forwarder.release().catch(() => {});
    },
  };
}
