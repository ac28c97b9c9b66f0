import { setTimeout as sleep } from 'node:timers/promises';
import { RadiusClient, type RadiusEndpoint } from './radius-client.js';
import { currentStep, type Passcode, secondsLeftInStep, tokencode, type UserLedger } from './users.js';

const TIMEOUT_MS = 2000;
/** Closer to the end of a step than this, a probe waits: its code could expire on the way. */
const STEP_MARGIN_SECONDS = 0.1;

export interface LatencyResult {
  requests: number;
  accepted: number;
  p50Ms: number;
  p99Ms: number;
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Measures latency under someone else's load: while running, it sends one Access-Request at a
 * time (never more outstanding), from its own users in the same ledger, pausing between them.
 * radclient prints no per-request times, so this client, built on Tally's RADIUS codec, times
 * the requests that radclient's load queues behind. The time runs from just before the datagram
 * is sent to the reply's arrival in this process's event loop.
 */
export class LatencyProbe {
  private readonly times: number[] = [];
  private requests = 0;
  private loop: Promise<void> | undefined;
  private running = false;

  private constructor(
    private readonly client: RadiusClient,
    private readonly ledger: UserLedger,
    private readonly passcode: Passcode,
  ) {}

  static async open(server: RadiusEndpoint, ledger: UserLedger, passcode: Passcode = tokencode): Promise<LatencyProbe> {
    return new LatencyProbe(await RadiusClient.open(server), ledger, passcode);
  }

  /** Starts probing, one request, then `pauseMs`, then the next. */
  start(pauseMs: number): void {
    if (this.loop !== undefined) throw new Error('The latency probe is already running.');
    this.running = true;
    this.loop = this.probe(pauseMs);
  }

  /** Stops after the request in flight, if any, is answered or times out. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = undefined;
  }

  result(): LatencyResult {
    const sorted = [...this.times].sort((a, b) => a - b);
    return { requests: this.requests, accepted: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
  }

  close(): void {
    this.client.close();
  }

  private async probe(pauseMs: number): Promise<void> {
    // Each pass either sends a request or sleeps, and stop() ends it.
    while (this.running) {
      const unixSeconds = Date.now() / 1000;
      const [user] = secondsLeftInStep(unixSeconds) > STEP_MARGIN_SECONDS ? this.ledger.take(1, currentStep(unixSeconds)) : [];
      if (user !== undefined) {
        const code = this.passcode(user, unixSeconds);
        this.requests++;
        const sent = process.hrtime.bigint();
        if ((await this.client.request(user.username, code, TIMEOUT_MS)) === 'accept') {
          this.times.push(Number(process.hrtime.bigint() - sent) / 1e6);
        }
      }
      await sleep(pauseMs);
    }
  }
}
