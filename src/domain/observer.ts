import type { SyncOutcome } from '../model/vocabulary.js';
import type { StoreErrorKind } from '../store/connect.js';

/**
 * What the domain and the adapters report for monitoring, as plain calls. `src/metrics/` turns
 * them into Prometheus metrics; nothing here knows of it, so a test (or a CLI command) that wants
 * no metrics passes `unobserved`. Every label is from a short fixed list: never a username, a
 * serial or an address.
 */
export interface Observer {
  /** One authentication answered (or failed) on a channel, with its time from arrival to answer. */
  authentication(channel: string, outcome: AuthenticationOutcome, seconds: number): void;
  /** A batch of authentications settled together: how many requests it held. */
  authenticationBatch(size: number): void;
  /** A RADIUS packet that got no answer, and why. */
  radiusDropped(reason: RadiusDropReason): void;
  /** A CT-KIP exchange finished (`activated`) or a CT-KIP request refused, with the error's stable code. */
  ctkip(outcome: 'activated' | 'refused', code?: string): void;
  /** A statement the store refused or failed. */
  storeError(kind: StoreErrorKind): void;
  /** An HTTP request answered: the listener, the route's pattern (not the URL) and the status. */
  httpResponse(listener: string, route: string, status: number): void;
  /** The wall clock was stepped by `seconds` (positive: forward). */
  clockStepped(seconds: number): void;
  /** A mail handed to the SMTP server (`sent`), or a send that failed and will be retried (`deferred`) or not (`failed`). */
  mailSend(outcome: MailSendOutcome): void;
  /** An identity source's sync ended: it compared the source's users (`ok`) or the directory did not answer (`failed`). */
  directorySync(outcome: SyncOutcome): void;
}

export type MailSendOutcome = 'sent' | 'deferred' | 'failed';

/** `error`: no answer could be given (the store failed, or too many requests were waiting). */
export type AuthenticationOutcome = 'accept' | 'reject' | 'challenge' | 'error';

export const RADIUS_DROP_REASONS = [
  'unknown_client',
  'malformed',
  'unsupported_code',
  'missing_message_authenticator',
  'bad_authenticator',
  'duplicate',
  'overloaded',
  'store_unavailable',
  'error',
] as const;
export type RadiusDropReason = (typeof RADIUS_DROP_REASONS)[number];
export type { StoreErrorKind };

/** Reports nowhere: for tests and commands that keep no metrics. */
export const unobserved: Observer = {
  authentication: () => {},
  authenticationBatch: () => {},
  radiusDropped: () => {},
  ctkip: () => {},
  storeError: () => {},
  httpResponse: () => {},
  clockStepped: () => {},
  mailSend: () => {},
  directorySync: () => {},
};
