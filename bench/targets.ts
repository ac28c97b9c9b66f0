import { freeradiusTotp, freeradiusTotpPostgresReplay, freeradiusTotpSqliteReplay } from './freeradius.js';
import type { RadiusEndpoint } from './radius-client.js';
import { tallyPostgres, tallySqlite, tallySqliteNormal } from './tally.js';
import type { BenchUser } from './users.js';

/** A RADIUS server started for one benchmark run, listening on loopback. */
export interface RadiusServer extends RadiusEndpoint {
  /**
   * The processes whose CPU is the server's; each is counted with all its live descendants, so
   * list a PostgreSQL postmaster here to include its backends.
   */
  pids: readonly number[];
  /** Stops every process the target started and removes its files; resolves once they have exited. */
  stop(): Promise<void>;
}

/**
 * Something that verifies TOTP codes over RADIUS. `start` must leave a server on 127.0.0.1 that
 * accepts PAP Access-Requests (each with a Message-Authenticator) from 127.0.0.1 with `secret`,
 * where every given user has one TOTP token (SHA-1, 6 digits, 30 s) with `seed`, and the
 * User-Password is the tokencode.
 */
export interface RadiusTarget {
  /** Short, stable, used by `--only` and in the results. */
  name: string;
  /** What readers must know to compare this target's figures with others (printed with the ratios). */
  note?: string;
  /** Another target doing the same durable work, compared with as well as with the reference. */
  peer?: string;
  /** The same server with a stronger guarantee: the report shows what that guarantee costs against this one. */
  strongerVariant?: string;
  start(users: readonly BenchUser[]): Promise<RadiusServer>;
}

/** The first entry is the reference the others are compared with. */
export const radiusTargets: RadiusTarget[] = [
  freeradiusTotp,
  freeradiusTotpSqliteReplay,
  tallySqlite,
  tallySqliteNormal,
  freeradiusTotpPostgresReplay,
  tallyPostgres,
];
