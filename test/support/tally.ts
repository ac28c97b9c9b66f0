import type { FastifyInstance } from 'fastify';
import { generateMasterKey, type Keyring, makeKeyring } from '../../src/core/crypto/secret-box.js';
import { systemActor } from '../../src/domain/actor.js';
import type { Clock } from '../../src/domain/clock.js';
import { createServices, DEFAULT_SERVICE_OPTIONS, type ServiceOptions, type Services } from '../../src/domain/services.js';
import { checkStoreReady, initialiseStore } from '../../src/domain/setup.js';
import { buildAdminApp } from '../../src/http/admin/app.js';
import type { Readiness } from '../../src/http/admin/readiness.js';
import { buildPublicApp } from '../../src/http/public/app.js';
import { createLogger } from '../../src/logger.js';
import type { Store } from '../../src/store/connect.js';

export const ADMIN_PASSWORD = 'admin-password-1';

/** A clock tests can move. */
export class TestClock implements Clock {
  constructor(public ms = Date.UTC(2026, 10, 29, 12, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface TestTally {
  store: Store;
  keyring: Keyring;
  clock: TestClock;
  services: Services;
  admin: FastifyInstance;
  public: FastifyInstance;
  tokens: { superadmin: string; helpdesk: string; agent: string };
  close(): Promise<void>;
}

export interface TestTallyOptions {
  /** Service options beyond the defaults (a mailer, session timeouts, a public URL). */
  services?: Partial<ServiceOptions>;
  logonRateLimit?: number;
}

/** The readiness of a test Tally: up, and ready as long as its store answers and the key opens it. */
export function readyOn(store: Store, keyring: Keyring): Readiness {
  return { phase: () => 'ready', check: () => checkStoreReady(store, keyring) };
}

/** An initialised Tally on a migrated store, with an API token per role and both apps (not listening). */
export async function createTestTally(store: Store, options: TestTallyOptions = {}): Promise<TestTally> {
  const keyring = makeKeyring([generateMasterKey(1)]);
  const clock = new TestClock();
  await initialiseStore(store, keyring, { username: 'admin', password: ADMIN_PASSWORD }, clock);
  // A copy of its own: tests that listen on a port change the public URL.
  const services = createServices(store, keyring, clock, { ...DEFAULT_SERVICE_OPTIONS, ...options.services });
  const logger = createLogger('silent');
  const admin = await buildAdminApp(services, { logger, readiness: readyOn(store, keyring) });
  const publicApp = await buildPublicApp(services, { logger, logonRateLimit: options.logonRateLimit });
  const token = async (role: 'superadmin' | 'helpdesk' | 'agent') =>
    (await services.apiTokens.create(systemActor, { name: `test-${role}`, role })).token;
  return {
    store,
    keyring,
    clock,
    services,
    admin,
    public: publicApp,
    tokens: { superadmin: await token('superadmin'), helpdesk: await token('helpdesk'), agent: await token('agent') },
    async close() {
      await admin.close();
      await publicApp.close();
      await services.bulk.idle();
    },
  };
}

/**
 * Raises the per-user token limit (RSA's default of 3) for a test that gives one user more tokens
 * than that: the test says so, rather than the rule being weakened for every test.
 */
export async function allowTokensPerUser(tally: Pick<TestTally, 'services'>, count: number): Promise<void> {
  await tally.services.settings.change(systemActor, { tokensPerUser: count });
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** `POST /api/v1/auth/verify` as the test RADIUS/REST agent, with the answer's JSON (a challenge's `state` when given). */
export async function verifyOverRest(tally: TestTally, username: string, passcode: string, state?: string) {
  const response = await tally.admin.inject({
    method: 'POST',
    url: '/api/v1/auth/verify',
    headers: bearer(tally.tokens.agent),
    payload: { username, passcode, ...(state ? { state } : {}) },
  });
  return response.json();
}
