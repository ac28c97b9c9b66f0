import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AuthenticationOutcome, MailSendOutcome, Observer, RadiusDropReason, StoreErrorKind } from '../domain/observer.js';
import type { SyncOutcome } from '../model/vocabulary.js';

const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * Tally's Prometheus metrics: one registry per running server (never prom-client's global one, so
 * that a test process may run many servers), fed through the domain's `Observer` calls. Names carry
 * the `tally_` prefix and their unit; labels come from short fixed lists. The process metrics keep
 * the names every Node.js dashboard knows (`process_*`, `nodejs_*`).
 */
export class PrometheusMetrics implements Observer {
  readonly registry = new Registry();
  private readonly authentications: Counter<'channel' | 'outcome'>;
  private readonly authenticationSeconds: Histogram<'channel'>;
  private readonly batchSizes: Histogram;
  private readonly radiusDrops: Counter<'reason'>;
  private readonly ctkipOutcomes: Counter<'outcome' | 'code'>;
  private readonly storeErrors: Counter<'kind'>;
  private readonly httpResponses: Counter<'listener' | 'route' | 'status_class'>;
  private readonly clockSteps: Counter<'direction'>;
  private readonly lastClockStep: Gauge;
  private readonly mailSends: Counter<'outcome'>;
  private readonly directorySyncs: Counter<'outcome'>;
  private queueDepth: () => number = () => 0;
  private mailOutbox: () => Promise<{ queued: number; failed: number }> = async () => ({ queued: 0, failed: 0 });

  constructor() {
    const registers = [this.registry];
    this.authentications = new Counter({
      name: 'tally_authentications_total',
      help: 'Authentications answered, by channel (rest, radius, self-service) and outcome (accept, reject, challenge, error).',
      labelNames: ['channel', 'outcome'],
      registers,
    });
    this.authenticationSeconds = new Histogram({
      name: 'tally_authentication_duration_seconds',
      help: 'Time from an authentication request reaching the authentication service to its answer, by channel.',
      labelNames: ['channel'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.batchSizes = new Histogram({
      name: 'tally_authentication_batch_size',
      help: 'Authentication requests settled together in one batch (one store transaction).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    const queueDepth: Gauge = new Gauge({
      name: 'tally_authentication_queue_depth',
      help: 'Authentication requests waiting for a batch when scraped (more than 10000 are refused).',
      registers,
      collect: () => queueDepth.set(this.queueDepth()),
    });
    this.radiusDrops = new Counter({
      name: 'tally_radius_packets_dropped_total',
      help: 'RADIUS packets answered with nothing, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.ctkipOutcomes = new Counter({
      name: 'tally_ctkip_activations_total',
      help: 'CT-KIP exchanges finished (outcome activated) and CT-KIP requests refused (outcome refused, code: the stable error code).',
      labelNames: ['outcome', 'code'],
      registers,
    });
    this.storeErrors = new Counter({
      name: 'tally_store_errors_total',
      help: 'Statements the store refused or failed: constraint (a unique or foreign key), conflict (a lock or serialisation conflict, retried), unavailable (the database unreachable or unwritable), other.',
      labelNames: ['kind'],
      registers,
    });
    this.httpResponses = new Counter({
      name: 'tally_http_responses_total',
      help: 'HTTP responses by listener, route pattern and status class (2xx, 3xx, 4xx, 5xx).',
      labelNames: ['listener', 'route', 'status_class'],
      registers,
    });
    this.clockSteps = new Counter({
      name: 'tally_clock_steps_total',
      help: 'Steps of the system clock (2 s or more against the monotonic clock between checks), by direction (forward, back).',
      labelNames: ['direction'],
      registers,
    });
    this.lastClockStep = new Gauge({
      name: 'tally_clock_last_step_seconds',
      help: 'The latest step of the system clock, in seconds (negative: back); 0 when none was seen since the start.',
      registers,
    });
    this.mailSends = new Counter({
      name: 'tally_mail_sends_total',
      help: 'Mails handed to the SMTP server (outcome sent) and sends that failed, to be retried (deferred) or given up (failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.directorySyncs = new Counter({
      name: 'tally_directory_syncs_total',
      help: "Identity source syncs this node ran: ok, or failed (the directory did not answer; nobody's record was changed).",
      labelNames: ['outcome'],
      registers,
    });
    const mailOutbox: Gauge<'state'> = new Gauge({
      name: 'tally_mail_outbox',
      help: 'Mails in the outbox when scraped, by state: queued (waiting or being sent) and failed (given up; an administrator may retry them).',
      labelNames: ['state'],
      registers,
      collect: async () => {
        const counts = await this.mailOutbox().catch(() => undefined);
        // A store that cannot answer leaves the gauge unset rather than at a false zero.
        mailOutbox.reset();
        if (!counts) return;
        mailOutbox.set({ state: 'queued' }, counts.queued);
        mailOutbox.set({ state: 'failed' }, counts.failed);
      },
    });
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters (promtool warns); each is the sum of its by-type twin
    // (`nodejs_active_handles{type}` ...), which stays.
    for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
  }

  /** Where the authentication queue's depth is read on each scrape. */
  watchQueue(depth: () => number): void {
    this.queueDepth = depth;
  }

  /** Where the mail outbox's counts are read on each scrape (from the store). */
  watchMailOutbox(counts: () => Promise<{ queued: number; failed: number }>): void {
    this.mailOutbox = counts;
  }

  /** The exposition text and its content type, for `GET /metrics`. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  authentication(channel: string, outcome: AuthenticationOutcome, seconds: number): void {
    this.authentications.inc({ channel, outcome });
    this.authenticationSeconds.observe({ channel }, seconds);
  }

  authenticationBatch(size: number): void {
    this.batchSizes.observe(size);
  }

  radiusDropped(reason: RadiusDropReason): void {
    this.radiusDrops.inc({ reason });
  }

  ctkip(outcome: 'activated' | 'refused', code?: string): void {
    this.ctkipOutcomes.inc({ outcome, code: code ?? '' });
  }

  storeError(kind: StoreErrorKind): void {
    this.storeErrors.inc({ kind });
  }

  clockStepped(seconds: number): void {
    this.clockSteps.inc({ direction: seconds > 0 ? 'forward' : 'back' });
    this.lastClockStep.set(seconds);
  }

  httpResponse(listener: string, route: string, status: number): void {
    this.httpResponses.inc({ listener, route, status_class: `${Math.floor(status / 100)}xx` });
  }

  mailSend(outcome: MailSendOutcome): void {
    this.mailSends.inc({ outcome });
  }

  directorySync(outcome: SyncOutcome): void {
    this.directorySyncs.inc({ outcome });
  }
}

/**
 * Whether an `Authorization` header carries the scrape token: compared as SHA-256 digests in
 * constant time, so neither the token's bytes nor its length show in the time taken.
 */
export function carriesScrapeToken(header: string | undefined, token: string): boolean {
  const presented = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? '';
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token)) && presented !== '';
}
