import { readFileSync } from 'node:fs';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import helmet from 'helmet';
import type { Actor } from '../domain/actor.js';
import type { Observer } from '../domain/observer.js';
import { TallyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { REQUEST_ID_HEADER, requestIdFor } from './request-id.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface ListenerOptions {
  logger: Logger;
  tls?: TlsFiles;
  /** The reverse proxies (addresses, CIDRs) whose X-Forwarded-* headers are believed; none without it. */
  trustProxy?: string[];
  bodyLimit?: number;
  /** Console log-on attempts per minute from one address. */
  logonRateLimit?: number;
  /** CT-KIP requests per minute from one address. */
  ctkipRateLimit?: number;
  /** Requests in progress at once on this listener; more are refused with OVERLOADED (503) before they are read. */
  maxInFlight?: number;
  /** Where every response is counted (by route pattern and status class), and as which listener. */
  monitor?: { observer: Observer; listener: string };
}

function readTls(tls: TlsFiles): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  } catch (error) {
    throw new TallyError(
      'CONFIG_INVALID',
      `Cannot read the TLS certificate or key: ${(error as NodeJS.ErrnoException).path ?? ''} (${(error as NodeJS.ErrnoException).code}).`,
    );
  }
}

/**
 * Loads a listener's certificate and key again (after a renewal): new handshakes use them, and
 * connections already open keep theirs. Throws, changing nothing, when a file cannot be read or
 * the pair is no valid PEM certificate and matching key.
 */
export function reloadTls(app: FastifyInstance, tls: TlsFiles): void {
  (app.server as unknown as TlsServer).setSecureContext(readTls(tls));
}

/** Answered however busy the listener is: liveness, readiness and the metrics that show the overload. */
const NEVER_SHED = new Set(['/healthz', '/readyz', '/metrics']);
const OVERLOADED_RETRY_AFTER_SECONDS = 1;

/**
 * Sheds load early: beyond `max` requests in progress, a request is refused before its body is
 * read or any service is called, so that memory stays bounded and the requests already taken are
 * answered in time. The authentication queue has its own bound behind this one.
 */
function limitInFlight(app: FastifyInstance, max: number): void {
  let inFlight = 0;
  app.addHook('onRequest', (request, reply, done) => {
    if (NEVER_SHED.has(request.routeOptions.url ?? '')) return done();
    if (inFlight >= max) return done(new TallyError('OVERLOADED', undefined, { retryAfterSeconds: OVERLOADED_RETRY_AFTER_SECONDS }));
    inFlight++;
    // 'close' comes once the answer is sent or the client went away, whichever happens.
    reply.raw.once('close', () => inFlight--);
    done();
  });
}

/**
 * A fastify instance as both listeners want it: strict JSON schemas (unknown fields are errors,
 * no type coercion), bounded bodies, security headers, the request's actor slot.
 */
export function createFastify(options: ListenerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimit ?? 1_048_576,
    // Only the listed proxies: `true` or a hop count would believe any client's X-Forwarded-For.
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? options.trustProxy : false,
    https: options.tls ? readTls(options.tls) : null,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    genReqId: requestIdFor,
  }) as unknown as FastifyInstance;
  app.decorateRequest('actor', null);
  if (options.maxInFlight !== undefined) limitInFlight(app, options.maxInFlight);
  // Echoed, so a client or proxy can find its request in Tally's log and audit trail.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  const monitor = options.monitor;
  if (monitor)
    app.addHook('onResponse', (request, reply, done) => {
      monitor.observer.httpResponse(monitor.listener, request.routeOptions.url ?? 'unmatched', reply.statusCode);
      done();
    });
  // helmet's middleware built once: @fastify/helmet builds it anew for every request, parsing
  // the policy each time (about a tenth of a REST verification's CPU).
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        // Without TLS on the listener, upgrading would send the stylesheet and every form to an HTTPS port that does not exist.
        upgradeInsecureRequests: options.tls ? [] : null,
      },
    },
    crossOriginEmbedderPolicy: false,
    // HSTS only from a listener that speaks TLS: sent over plain HTTP it would be ignored at best,
    // and wrong when a proxy in front decides the scheme (the proxy sends its own; see the reverse-proxy guide).
    strictTransportSecurity: options.tls ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  });
  app.addHook('onRequest', (request, reply, done) =>
    securityHeaders(request.raw, reply.raw, (error?: unknown) => done(error as Error | undefined)),
  );
  return app;
}
