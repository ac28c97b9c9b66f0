import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../../src/logger.js';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.js';
import type { StoreOptions } from '../../src/store/connect.js';
import { freePort, startServe } from './cli.js';

/** A `tally serve` process on loopback ports of its own, restartable on the same ports. */
export interface ServedNode {
  public: string;
  admin: string;
  radiusPort: number;
  /** Ends the process with the signal (SIGKILL: a crash, nothing flushed or closed) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts it again on the same ports and store, once stopped. */
  restart(): Promise<void>;
  /** What the process wrote to stdout and stderr. */
  output(): string;
}

export async function startNode(storeArgs: string[], env: NodeJS.ProcessEnv = {}): Promise<ServedNode> {
  const [port, adminPort, radiusPort] = [await freePort(), await freePort(), await freePort()];
  const publicUrl = `http://127.0.0.1:${port}`;
  const args = [
    ...storeArgs,
    ...['--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort)],
    ...['--radius-host', '127.0.0.1', '--radius-port', String(radiusPort), '--public-url', publicUrl, '--log-level', 'warn'],
  ];
  let server = await startServe(args, env);
  let earlier = '';
  return {
    public: publicUrl,
    admin: `http://127.0.0.1:${adminPort}`,
    radiusPort,
    stop: (signal) => server.stop(signal),
    async restart() {
      earlier += server.output();
      server = await startServe(args, env);
    },
    output: () => earlier + server.output(),
  };
}

/**
 * A Tally started in this process on a store (initialised on first use): its HTTP listeners on
 * loopback ports the system picks, RADIUS off, a silent log; `options` add to or change that.
 */
export function startInProcess(store: StoreOptions, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({
    store,
    host: '127.0.0.1',
    port: 0,
    adminHost: '127.0.0.1',
    adminPort: 0,
    radiusHost: '127.0.0.1',
    radiusPort: 0,
    issuer: 'Tally',
    trustProxy: [],
    initIfNeeded: true,
    logger: createLogger('silent'),
    ...options,
  });
}

/**
 * Polls until `ready()` gives a value, failing after a generous deadline: a liveness bound for a
 * loaded CI machine, never a claim about speed.
 */
export async function eventually<T>(what: string, ready: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await ready();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within two minutes`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A REST call to a node's admin listener with a bearer token: the status, headers and parsed body. */
export async function callApi(
  node: ServedNode,
  token: string,
  method: string,
  path: string,
  body?: object,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(node.admin + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The same, failing the test unless the answer is a success. */
export async function callApiOk(node: ServedNode, token: string, path: string, body: object): Promise<Record<string, unknown>> {
  const answer = await callApi(node, token, 'POST', path, body);
  assert.ok(answer.status < 300, `${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** `POST /api/v1/auth/verify` on a node: the result (accept, reject, challenge). */
export async function verifyOn(node: ServedNode, token: string, username: string, passcode: string): Promise<string> {
  const answer = await callApi(node, token, 'POST', '/api/v1/auth/verify', { username, passcode });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return String(answer.body.result);
}

/** Why the newest authentication with a token ended as it did (`replayed code`...), from the audit trail. */
export async function lastAuthenticationReason(node: ServedNode, token: string, serial: string): Promise<unknown> {
  const answer = await callApi(node, token, 'GET', `/api/v1/audit?serial=${encodeURIComponent(serial)}&action=auth.*&limit=1`);
  const events = answer.body.events as { details: { reason?: string } | null }[];
  return events[0]?.details?.reason;
}

/** A FastifyInstance-shaped shim so the CT-KIP test helpers can talk to a real node over HTTP. */
export function overHttp(base: string): FastifyInstance {
  return {
    inject: async (options: { method: string; url: string; headers: Record<string, string>; payload: string }) => {
      const response = await fetch(base + options.url, { method: options.method, headers: options.headers, body: options.payload });
      const headers: Record<string, string | string[]> = Object.fromEntries(response.headers);
      headers['set-cookie'] = response.headers.getSetCookie();
      return { statusCode: response.status, body: await response.text(), headers };
    },
  } as unknown as FastifyInstance;
}
