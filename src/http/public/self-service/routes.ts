import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTallyError, TallyError, type ErrorCode } from '../../../errors.js';
import type { Services } from '../../../domain/services.js';
import { formSchema, registerWebConsole, requireSession, startWebSession, endWebSession, type WebConsoleOptions } from '../../web/console.js';
import type { Html } from '../../web/html.js';
import type { Notice } from '../../web/layout.js';
import { qrDataUri } from '../../web/qr.js';
import { activatePage, ctfPage, errorPage, HOME, logOnPage, myTokensPage, requestPage, tokenPage, type Viewer } from './views.js';

export const SELF_SERVICE_COOKIE = 'tally_session';

/** Messages a redirect may ask for by name: the text is ours, never the query string's. */
const NOTICES = {
  'session-ended': { kind: 'info', text: 'Your session has ended. Log on again to continue.' },
  'logged-off': { kind: 'success', text: 'You have logged off.' },
  'token-requested': { kind: 'success', text: 'Your new token is ready to set up: choose Activate.' },
  'request-waiting': { kind: 'info', text: "Your request waits for an administrator's approval. You will get a mail when it is decided." },
  'token-active': { kind: 'success', text: 'Your token is active. From now on, use the codes it shows when you log on.' },
  renamed: { kind: 'success', text: 'The name has been saved.' },
} satisfies Record<string, Notice>;

type NoticeName = keyof typeof NOTICES;

function noticeFrom(request: FastifyRequest): Notice | undefined {
  const name = (request.query as Record<string, unknown>).notice;
  return typeof name === 'string' && Object.hasOwn(NOTICES, name) ? NOTICES[name as NoticeName] : undefined;
}

function viewer(request: FastifyRequest): Viewer {
  return { username: request.webSession?.actor.name, csrfToken: request.csrfToken };
}

function actor(request: FastifyRequest) {
  if (!request.actor) throw new TallyError('UNAUTHENTICATED');
  return request.actor;
}

function page(reply: FastifyReply, body: Html, status = 200): FastifyReply {
  return reply.status(status).type('text/html; charset=utf-8').send(body.text);
}

/** A refusal the user can fix on the same page (shown there), rather than on an error page. */
function onPage(error: unknown, codes: ErrorCode[]): TallyError | undefined {
  return isTallyError(error) && codes.includes(error.code) ? error : undefined;
}

const SerialParams = { type: 'object', properties: { serial: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } }, required: ['serial'], additionalProperties: false } as const;
type SerialRoute = { Params: { serial: string } };

/**
 * The Self-Service Console at `/` on the public listener: log-on, My tokens, Request a token,
 * Activate (QR, CT-KIP, file), and a token's details with renaming. Every page calls the domain
 * services for what it shows, as the logged-on user.
 */
export async function selfServiceConsole(app: FastifyInstance, services: Services, settings: { logonRateLimit: number }): Promise<void> {
  const options: WebConsoleOptions = {
    console: 'self-service',
    cookie: SELF_SERVICE_COOKIE,
    logonRateLimit: settings.logonRateLimit,
    errorPage: (request, error) => errorPage(viewer(request), error),
  };
  await registerWebConsole(app, services, options, (scope) => {
    const loggedOn = requireSession(HOME);

    scope.get('/', async (request, reply) => {
      if (!request.webSession) return page(reply, logOnPage(viewer(request), { notice: noticeFrom(request) }));
      const [tokens, requests] = await Promise.all([services.selfService.tokens(actor(request)), services.requests.mine(actor(request))]);
      return page(reply, myTokensPage(viewer(request), { tokens, requests, notice: noticeFrom(request) }));
    });

    scope.post<{ Body: { username: string; password: string } }>(
      '/logon',
      { config: { rateLimit: { max: options.logonRateLimit, timeWindow: 60_000 } }, schema: { body: formSchema({ username: { maxLength: 128 }, password: { maxLength: 1024 } }) } },
      async (request, reply) => {
        try {
          request.actor = await services.users.logOn({ username: request.body.username, password: request.body.password, source: request.ip, console: 'self-service' });
        } catch (error) {
          const refused = onPage(error, ['INVALID_CREDENTIALS', 'USER_LOCKED']);
          if (!refused) throw error;
          return page(reply, logOnPage(viewer(request), { username: request.body.username, error: refused }), refused.status);
        }
        await startWebSession(services, options, request, reply);
        return reply.redirect(HOME, 303);
      },
    );

    scope.post('/logoff', { schema: { body: formSchema({}) } }, async (request, reply) => {
      await endWebSession(services, options, request, reply);
      return reply.redirect(`${HOME}?notice=logged-off`, 303);
    });

    scope.get('/request', { onRequest: loggedOn }, async (request, reply) => page(reply, requestPage(viewer(request), await services.selfService.offer(actor(request)))));

    scope.post<{ Body: { profile: string } }>('/request', { onRequest: loggedOn, schema: { body: formSchema({ profile: { maxLength: 128, minLength: 1 } }) } }, async (request, reply) => {
      try {
        const outcome = await services.requests.request(actor(request), request.body.profile);
        if (outcome.outcome === 'waiting') return reply.redirect(`${HOME}?notice=request-waiting`, 303);
        // The CTF string exists only now: it is shown in this answer, once, and never stored.
        if (outcome.token.ctf !== undefined) return page(reply, ctfPage(viewer(request), outcome.token));
        return reply.redirect(`${HOME}?notice=token-requested`, 303);
      } catch (error) {
        const refused = onPage(error, ['TOKEN_REQUEST_PENDING', 'PROFILE_NOT_FOUND', 'DELIVERY_NOT_SUPPORTED']);
        if (!refused) throw error;
        return page(reply, requestPage(viewer(request), await services.selfService.offer(actor(request)), refused), refused.status);
      }
    });

    scope.get<SerialRoute>('/tokens/:serial', { onRequest: loggedOn, schema: { params: SerialParams } }, async (request, reply) =>
      page(reply, tokenPage(viewer(request), await services.selfService.token(actor(request), request.params.serial), noticeFrom(request))),
    );

    const showActivation = async (request: FastifyRequest<SerialRoute>, reply: FastifyReply, error?: TallyError) => {
      const token = await services.selfService.token(actor(request), request.params.serial);
      const activation = await services.selfService.activate(actor(request), request.params.serial);
      const qr = activation.kind === 'otpauth' ? await qrDataUri(activation.uri) : activation.kind === 'ctkip' && activation.appCanScan ? await qrDataUri(activation.appLink) : undefined;
      return page(reply, activatePage(viewer(request), { token, activation, qr, error }), error?.status);
    };

    scope.get<SerialRoute>('/tokens/:serial/activate', { onRequest: loggedOn, schema: { params: SerialParams } }, async (request, reply) => showActivation(request, reply));

    scope.post<SerialRoute & { Body: { tokencode: string } }>(
      '/tokens/:serial/confirm',
      { onRequest: loggedOn, schema: { params: SerialParams, body: formSchema({ tokencode: { maxLength: 16 } }) } },
      async (request, reply) => {
        try {
          await services.selfService.confirm(actor(request), request.params.serial, request.body.tokencode);
        } catch (error) {
          const refused = onPage(error, ['TOKENCODE_INVALID']);
          if (!refused) throw error;
          return showActivation(request, reply, refused);
        }
        return reply.redirect(`${HOME}?notice=token-active`, 303);
      },
    );

    scope.post<SerialRoute & { Body: { label: string } }>(
      '/tokens/:serial/rename',
      { onRequest: loggedOn, schema: { params: SerialParams, body: formSchema({ label: { maxLength: 256 } }) } },
      async (request, reply) => {
        try {
          await services.selfService.rename(actor(request), request.params.serial, request.body.label);
        } catch (error) {
          const refused = onPage(error, ['VALIDATION_FAILED']);
          if (!refused) throw error;
          return page(reply, tokenPage(viewer(request), await services.selfService.token(actor(request), request.params.serial), undefined, refused), refused.status);
        }
        return reply.redirect(`/tokens/${request.params.serial}?notice=renamed`, 303);
      },
    );
  });
}
