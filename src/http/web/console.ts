import { createHmac } from 'node:crypto';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { constantTimeEqual, randomToken } from '../../core/crypto/random.js';
import type { Services } from '../../domain/services.js';
import type { WebSession } from '../../domain/sessions.js';
import { TallyError } from '../../errors.js';
import type { WebConsole } from '../../model/vocabulary.js';
import { logRefusal, setRetryAfter, toTallyError } from '../errors.js';
import type { Html } from './html.js';
import { sharedRateLimitStore } from './shared-rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session behind the cookie, with its id (for log-off); null when logged off. */
    webSession: (WebSession & { id: string }) | null;
    /** The token every form of this page carries in `_csrf`. */
    csrfToken: string;
  }
}

export interface WebConsoleOptions {
  console: WebConsole;
  /**
   * The cookie's name; under HTTPS it gets the `__Host-` prefix (Secure, Path=/, no Domain), so a
   * neighbour on the same domain cannot plant it. The two consoles use different names: browsers
   * send cookies to every port of a host.
   */
  cookie: string;
  /** Log-on attempts per minute from one address. */
  logonRateLimit: number;
  /** The page for an error, in the console's frame. */
  errorPage: (request: FastifyRequest, error: TallyError) => Html;
}

const FORM_BODY_LIMIT = 16 * 1024;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FORM_TOKEN = /^[A-Za-z0-9_-]{43}$/;

function secure(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

function cookieName(request: FastifyRequest, base: string): string {
  return secure(request) ? `__Host-${base}` : base;
}

function cookieOptions(request: FastifyRequest) {
  return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: secure(request) };
}

/**
 * The form token of a session: derived one-way from the session id, so it is stable for the
 * session, needs no storage, and tells nothing about the id it comes from.
 */
function sessionFormToken(sessionId: string): string {
  return createHmac('sha256', sessionId).update('tally form token').digest('base64url');
}

/**
 * Starts a session after a successful log-on: a fresh id (never one the browser brought along),
 * the previous session ended.
 */
export async function startWebSession(
  services: Services,
  options: WebConsoleOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  if (!request.actor) throw new TallyError('UNAUTHENTICATED');
  if (request.webSession) await services.sessions.end(request.webSession.id, request.webSession.actor);
  const { id } = await services.sessions.start(request.actor, options.console);
  reply.setCookie(cookieName(request, options.cookie), id, cookieOptions(request));
  reply.clearCookie(cookieName(request, `${options.cookie}_form`), cookieOptions(request));
}

export async function endWebSession(
  services: Services,
  options: WebConsoleOptions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  if (request.webSession) await services.sessions.end(request.webSession.id, request.webSession.actor);
  reply.clearCookie(cookieName(request, options.cookie), cookieOptions(request));
}

/** Route hook for pages that need a logged-on user: anyone else is sent to the log-on page. */
export function requireSession(home: string) {
  return async function loggedOn(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.webSession) return;
    await reply.redirect(request.method === 'GET' ? home : `${home}?notice=session-ended`, 303);
  };
}

/**
 * A console on a listener: sessions from the store, a form token checked on every unsafe request,
 * HTML forms, a log-on rate limit, HTML error pages, and pages never cached. `routes` adds the
 * console's pages inside this scope.
 */
export async function registerWebConsole(
  app: FastifyInstance,
  services: Services,
  options: WebConsoleOptions,
  routes: (scope: FastifyInstance) => void | Promise<void>,
): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(cookie);
    await scope.register(formbody, { bodyLimit: FORM_BODY_LIMIT });
    // Counted in the store, so attempts spread over several nodes add up.
    await scope.register(rateLimit, { global: false, store: sharedRateLimitStore(services.rateLimits) });
    scope.decorateRequest('webSession', null);
    scope.decorateRequest('csrfToken', '');

    scope.addHook('onRequest', async (request, reply) => {
      const sessionId = request.cookies[cookieName(request, options.cookie)];
      const session = sessionId ? await services.sessions.resume(sessionId, options.console, request.ip) : null;
      if (session && sessionId) {
        request.webSession = { ...session, id: sessionId };
        request.actor = { ...session.actor, requestId: request.id };
        request.csrfToken = sessionFormToken(sessionId);
      } else {
        // Before log-on the token is a random value in a cookie of its own (double submit), so the log-on form is protected too.
        const formCookie = cookieName(request, `${options.cookie}_form`);
        const existing = request.cookies[formCookie];
        request.csrfToken = existing && FORM_TOKEN.test(existing) ? existing : randomToken(32);
        if (request.csrfToken !== existing) reply.setCookie(formCookie, request.csrfToken, cookieOptions(request));
        if (sessionId) reply.clearCookie(cookieName(request, options.cookie), cookieOptions(request));
      }
      void reply.header('cache-control', 'no-store');
    });

    scope.addHook('preValidation', async (request) => {
      if (!UNSAFE_METHODS.has(request.method)) return;
      // Upload routes check it as the form's first part, before any file is read (http/multipart.ts).
      if (request.routeOptions.config?.formTokenInParts === true) return;
      const body = request.body as Record<string, unknown> | undefined;
      checkFormToken(request, body && typeof body === 'object' ? body._csrf : undefined);
    });

    scope.setErrorHandler((error: unknown, request, reply) => {
      const tallyError = toTallyError(error);
      logRefusal(request, error, tallyError);
      setRetryAfter(reply, tallyError);
      void reply.status(tallyError.status).type('text/html; charset=utf-8').send(options.errorPage(request, tallyError).text);
    });

    await routes(scope);
  });
}

/** The form token a form sent, against the session's (or, before log-on, the cookie's). */
export function checkFormToken(request: FastifyRequest, sent: unknown): void {
  if (typeof sent !== 'string' || !constantTimeEqual(sent, request.csrfToken)) throw new TallyError('CSRF_FAILED');
}

/** Form bodies: the named string fields and the form token, nothing else. */
export function formSchema(fields: Record<string, { maxLength: number; minLength?: number }>, required: string[] = Object.keys(fields)) {
  return {
    type: 'object',
    properties: {
      _csrf: { type: 'string', maxLength: 64 },
      ...Object.fromEntries(Object.entries(fields).map(([name, limits]) => [name, { type: 'string', ...limits }])),
    },
    required: ['_csrf', ...required],
    additionalProperties: false,
  } as const;
}
