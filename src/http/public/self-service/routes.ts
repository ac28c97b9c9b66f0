import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DistributionResult } from '../../../domain/distribution.js';
import type { SelfServiceFeatures, SelfServiceLogOn } from '../../../domain/self-service.js';
import type { Services } from '../../../domain/services.js';
import { type CodeTest, DEFAULT_EMERGENCY_DAYS } from '../../../domain/token-administration.js';
import { type ErrorCode, isTallyError, TallyError } from '../../../errors.js';
import { setRetryAfter } from '../../errors.js';
import {
  endWebSession,
  formSchema,
  registerWebConsole,
  requireSession,
  startWebSession,
  type WebConsoleOptions,
} from '../../web/console.js';
import { Html } from '../../web/html.js';
import type { Notice } from '../../web/layout.js';
import { qrDataUri } from '../../web/qr.js';
import {
  activatePage,
  ctfPage,
  errorPage,
  HOME,
  logOnChallengePage,
  logOnPage,
  myTokensPage,
  requestPage,
  type TokenForm,
  type TokenPageView,
  tokenPage,
  type Viewer,
} from './views.js';

const SELF_SERVICE_COOKIE = 'tally_session';

/** Messages a redirect may ask for by name: the text is ours, never the query string's. */
const NOTICES = {
  'session-ended': { kind: 'info', text: 'Your session has ended. Log on again to continue.' },
  'logged-off': { kind: 'success', text: 'You have logged off.' },
  'token-requested': { kind: 'success', text: 'Your new token is ready to set up: choose Activate.' },
  'request-waiting': { kind: 'info', text: "Your request waits for an administrator's approval. You will get a mail when it is decided." },
  'token-active': { kind: 'success', text: 'Your token is active. From now on, use the codes it shows when you log on.' },
  renamed: { kind: 'success', text: 'The name has been saved.' },
  'code-accepted': { kind: 'success', text: 'That code is right: your token works.' },
  'code-next': {
    kind: 'warning',
    text: 'That code is right, but your next log-on will ask for a second code: the token has had wrong codes, or is out of step. When asked, wait for the tokencode to change, then enter the new tokencode alone, without your PIN. If its codes are often refused, resync it below.',
  },
  'code-pin-needed': { kind: 'warning', text: 'That code is right. The token has no PIN yet: set one below before you log on with it.' },
  resynced: { kind: 'success', text: 'Your token is in step again.' },
  'activation-renewed': { kind: 'success', text: 'Here is your new activation code. The previous one no longer works.' },
  'link-renewed': { kind: 'success', text: 'Here is your new download link. The previous one no longer works.' },
  'pin-set': { kind: 'success', text: 'Your new PIN is set. Use it from your next log-on.' },
  'pin-generated': { kind: 'success', text: 'Tally generated your new PIN, shown below this once. Use it from your next log-on.' },
  'reported-lost': { kind: 'warning', text: 'The token is reported lost: it no longer works.' },
  'ctf-shown': {
    kind: 'info',
    text: 'The token string was shown once, when the token was issued, and Tally does not keep it. If you did not import it, report this token lost and request a replacement.',
  },
} satisfies Record<string, Notice>;

type NoticeName = keyof typeof NOTICES;

function noticeFrom(request: FastifyRequest): Notice | undefined {
  const name = (request.query as Record<string, unknown>).notice;
  return typeof name === 'string' && Object.hasOwn(NOTICES, name) ? NOTICES[name as NoticeName] : undefined;
}

/** The console's features as read for a logged-on request (the switches another node may change). */
const featuresOf = new WeakMap<FastifyRequest, SelfServiceFeatures>();

function viewer(request: FastifyRequest): Viewer {
  return { username: request.webSession?.actor.name, csrfToken: request.csrfToken, features: featuresOf.get(request) };
}

function actor(request: FastifyRequest) {
  if (!request.actor) throw new TallyError('UNAUTHENTICATED');
  return request.actor;
}

function sessionId(request: FastifyRequest): string {
  if (!request.webSession) throw new TallyError('UNAUTHENTICATED');
  return request.webSession.id;
}

/** The emergency access code waits in the session for the one page after the redirect. */
const emergencyFlash = (serial: string) => `emergency-code:${serial}`;
/** So does a PIN Tally generated: shown on that one page, never stored. */
const generatedPinFlash = (serial: string) => `generated-pin:${serial}`;
/**
 * So does a new token's CTF string (sealed, as every flash is): a reload of that page then finds
 * nothing to show, rather than posting the request again.
 */
const ctfFlash = (serial: string) => `ctf:${serial}`;
const ctfAddress = (serial: string) => `/tokens/${serial}/issued`;

function page(reply: FastifyReply, body: Html, status = 200): FastifyReply {
  return reply.status(status).type('text/html; charset=utf-8').send(body.text);
}

/** A refusal the user can fix on the same page (shown there), rather than on an error page. */
function onPage(error: unknown, codes: ErrorCode[]): TallyError | undefined {
  return isTallyError(error) && codes.includes(error.code) ? error : undefined;
}

const SerialParams = {
  type: 'object',
  properties: { serial: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } },
  required: ['serial'],
  additionalProperties: false,
} as const;
type SerialRoute = { Params: { serial: string } };
const CODE = { maxLength: 80 };

/**
 * The Self-Service Console at `/` on the public listener: log-on (by the console's policy), My
 * tokens, Request a token, Activate (QR, CT-KIP, file), and a token's page with what its state
 * allows: rename, test a code, resync, set or change the PIN, report lost, request a replacement.
 * Every page calls the domain services for what it shows, as the logged-on user. A form that
 * succeeds redirects, so a reload repeats nothing; a secret for the page after the redirect (an
 * emergency access code) waits sealed in the session and is shown once.
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
    const passcodeAsked = () => services.selfService.settings.logOn === 'password+passcode';
    const logOnLimit = { rateLimit: { max: options.logonRateLimit, timeWindow: 60_000 } };

    // Read per request, so a page hides what is switched off now (the services refuse it anyway).
    scope.addHook('preHandler', async (request) => {
      if (request.webSession) featuresOf.set(request, await services.selfService.features());
    });

    scope.get('/', async (request, reply) => {
      if (!request.webSession) return page(reply, logOnPage(viewer(request), { passcode: passcodeAsked(), notice: noticeFrom(request) }));
      const [tokens, requests] = await Promise.all([services.selfService.tokens(actor(request)), services.requests.mine(actor(request))]);
      return page(reply, myTokensPage(viewer(request), { tokens, requests, notice: noticeFrom(request) }));
    });

    /** Runs a log-on step: a refusal shows the form again, a challenge its own step, success starts the session. */
    const logOnStep = async (
      request: FastifyRequest<{ Body: { username: string } }>,
      reply: FastifyReply,
      step: () => Promise<SelfServiceLogOn>,
    ) => {
      let outcome: SelfServiceLogOn;
      try {
        outcome = await step();
      } catch (error) {
        const refused = onPage(error, ['INVALID_CREDENTIALS', 'USER_LOCKED', 'LOGON_DELAYED']);
        if (!refused) throw error;
        setRetryAfter(reply, refused);
        return page(
          reply,
          logOnPage(viewer(request), { username: request.body.username, passcode: passcodeAsked(), error: refused }),
          refused.status,
        );
      }
      if (outcome.outcome === 'challenge') return page(reply, logOnChallengePage(viewer(request), outcome));
      request.actor = outcome.actor;
      await startWebSession(services, options, request, reply);
      return reply.redirect(HOME, 303);
    };

    scope.post<{ Body: { username: string; password: string; passcode?: string } }>(
      '/logon',
      {
        config: logOnLimit,
        schema: {
          body: formSchema({ username: { maxLength: 128 }, password: { maxLength: 1024 }, passcode: CODE }, ['username', 'password']),
        },
      },
      async (request, reply) =>
        logOnStep(request, reply, () =>
          services.selfService.logOn({
            username: request.body.username,
            password: request.body.password,
            passcode: request.body.passcode ?? '',
            source: request.ip,
            requestId: request.id,
          }),
        ),
    );

    scope.post<{ Body: { username: string; state: string; answer: string } }>(
      '/logon/challenge',
      { config: logOnLimit, schema: { body: formSchema({ username: { maxLength: 128 }, state: { maxLength: 64 }, answer: CODE }) } },
      async (request, reply) =>
        logOnStep(request, reply, () =>
          services.selfService.answerLogOnChallenge({
            username: request.body.username,
            state: request.body.state,
            answer: request.body.answer,
            source: request.ip,
            requestId: request.id,
          }),
        ),
    );

    scope.post('/logoff', { schema: { body: formSchema({}) } }, async (request, reply) => {
      await endWebSession(services, options, request, reply);
      return reply.redirect(`${HOME}?notice=logged-off`, 303);
    });

    scope.get('/request', { onRequest: loggedOn }, async (request, reply) =>
      page(reply, requestPage(viewer(request), await services.selfService.offer(actor(request)))),
    );

    scope.post<{ Body: { profile: string } }>(
      '/request',
      { onRequest: loggedOn, schema: { body: formSchema({ profile: { maxLength: 128, minLength: 1 } }) } },
      async (request, reply) => {
        try {
          const outcome = await services.requests.request(actor(request), request.body.profile);
          if (outcome.outcome === 'waiting') return reply.redirect(`${HOME}?notice=request-waiting`, 303);
          // The CTF string exists only now: it waits in the session for the one page after the redirect.
          if (outcome.token.ctf !== undefined) return reply.redirect(await keepCtf(request, outcome.token), 303);
          return reply.redirect(`${HOME}?notice=token-requested`, 303);
        } catch (error) {
          const refused = onPage(error, [
            'TOKEN_REQUEST_PENDING',
            'PROFILE_NOT_FOUND',
            'PROFILE_RESTRICTED',
            'DELIVERY_NOT_SUPPORTED',
            'TOKEN_LIMIT_REACHED',
            'SELF_SERVICE_DISABLED',
          ]);
          if (!refused) throw error;
          return page(reply, requestPage(viewer(request), await services.selfService.offer(actor(request)), refused), refused.status);
        }
      },
    );

    /** Puts a new token's CTF string in the session and names the page that shows it once. */
    const keepCtf = async (request: FastifyRequest, token: DistributionResult): Promise<string> => {
      await services.sessions.putFlash(sessionId(request), ctfFlash(token.serial), JSON.stringify(token));
      return ctfAddress(token.serial);
    };

    scope.get<SerialRoute>('/tokens/:serial/issued', { onRequest: loggedOn, schema: { params: SerialParams } }, async (request, reply) => {
      const kept = await services.sessions.takeFlash(sessionId(request), ctfFlash(request.params.serial));
      if (kept === null) return reply.redirect(`/tokens/${request.params.serial}?notice=ctf-shown`, 303);
      return page(reply, ctfPage(viewer(request), JSON.parse(kept) as DistributionResult));
    });

    const tokenView = async (request: FastifyRequest<SerialRoute>, more: Partial<TokenPageView> = {}): Promise<TokenPageView> => ({
      token: await services.selfService.token(actor(request), request.params.serial),
      emergencyPolicy: services.selfService.settings.emergencyAccess,
      emergencyDays: DEFAULT_EMERGENCY_DAYS,
      ...more,
    });

    scope.get<SerialRoute>('/tokens/:serial', { onRequest: loggedOn, schema: { params: SerialParams } }, async (request, reply) => {
      const view = await tokenView(request, { notice: noticeFrom(request) });
      const emergency = await services.sessions.takeFlash(sessionId(request), emergencyFlash(request.params.serial));
      const generatedPin = await services.sessions.takeFlash(sessionId(request), generatedPinFlash(request.params.serial));
      return page(
        reply,
        tokenPage(viewer(request), {
          ...view,
          ...(emergency === null ? {} : { emergency: JSON.parse(emergency) as TokenPageView['emergency'] }),
          ...(generatedPin === null ? {} : { generatedPin }),
        }),
      );
    });

    /**
     * A form of the token page: `act` does it and names where to go next (or answers with a page);
     * a refusal the user can fix (`codes`) shows the token page again, marked on that form.
     */
    const tokenForm = <Body extends Record<string, string>>(
      action: string,
      form: TokenForm,
      body: { fields: Record<string, { maxLength: number; minLength?: number }>; required?: string[] },
      codes: ErrorCode[],
      act: (request: FastifyRequest<SerialRoute & { Body: Body }>) => Promise<string | Html>,
    ) =>
      scope.post<SerialRoute & { Body: Body }>(
        `/tokens/:serial/${action}`,
        { onRequest: loggedOn, schema: { params: SerialParams, body: formSchema(body.fields, body.required) } },
        async (request, reply) => {
          let next: string | Html;
          try {
            next = await act(request);
          } catch (error) {
            const refused = onPage(error, codes);
            if (!refused) throw error;
            return page(reply, tokenPage(viewer(request), await tokenView(request, { refused: { form, error: refused } })), refused.status);
          }
          return next instanceof Html ? page(reply, next) : reply.redirect(next, 303);
        },
      );
    const back = (request: FastifyRequest<SerialRoute>, notice: NoticeName) => `/tokens/${request.params.serial}?notice=${notice}`;

    // Showing changes nothing (a reload or a link prefetch shows the same code or link); only the
    // page's button, a POST to /activate/renew, replaces them.
    const showActivation = async (request: FastifyRequest<SerialRoute>, reply: FastifyReply, error?: TallyError) => {
      const token = await services.selfService.token(actor(request), request.params.serial);
      const activation = await services.selfService.activate(actor(request), request.params.serial);
      const qr =
        activation.kind === 'otpauth'
          ? await qrDataUri(activation.uri)
          : activation.kind === 'ctkip' && activation.appCanScan && activation.appLink
            ? await qrDataUri(activation.appLink)
            : undefined;
      return page(reply, activatePage(viewer(request), { token, activation, qr, error, notice: noticeFrom(request) }), error?.status);
    };

    scope.get<SerialRoute>('/tokens/:serial/activate', { onRequest: loggedOn, schema: { params: SerialParams } }, async (request, reply) =>
      showActivation(request, reply),
    );

    scope.post<SerialRoute>(
      '/tokens/:serial/activate/renew',
      { onRequest: loggedOn, schema: { params: SerialParams, body: formSchema({}) } },
      async (request, reply) => {
        const renewed = await services.selfService.activate(actor(request), request.params.serial, true);
        const notice: NoticeName = renewed.kind === 'file' ? 'link-renewed' : 'activation-renewed';
        return reply.redirect(`/tokens/${request.params.serial}/activate?notice=${notice}`, 303);
      },
    );

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

    tokenForm<{ label: string }>('rename', 'rename', { fields: { label: { maxLength: 256 } } }, ['VALIDATION_FAILED'], async (request) => {
      await services.selfService.rename(actor(request), request.params.serial, request.body.label);
      return back(request, 'renamed');
    });

    /** A token's own limits (an imported key's Policy), said on the form like a wrong code. */
    const TOKEN_LIMITS = ['TOKEN_NOT_YET_VALID', 'TOKEN_EXPIRED', 'TOKEN_USES_EXHAUSTED'] as const;
    const TESTED: Record<CodeTest['result'], NoticeName> = {
      accepted: 'code-accepted',
      'next-code': 'code-next',
      'pin-needed': 'code-pin-needed',
    };
    tokenForm<{ passcode: string }>(
      'test',
      'test',
      { fields: { passcode: CODE } },
      ['TOKENCODE_INVALID', 'USER_LOCKED', 'TOKEN_STATE_INVALID', ...TOKEN_LIMITS],
      async (request) => {
        const tested = await services.selfService.testCode(actor(request), request.params.serial, request.body.passcode);
        return back(request, TESTED[tested.result]);
      },
    );

    tokenForm<{ first: string; second: string }>(
      'resync',
      'resync',
      { fields: { first: CODE, second: CODE } },
      ['TOKENCODE_INVALID', 'USER_LOCKED', 'TOKEN_STATE_INVALID', 'TOKEN_LOCKED', ...TOKEN_LIMITS],
      async (request) => {
        await services.selfService.resync(actor(request), request.params.serial, request.body.first, request.body.second);
        return back(request, 'resynced');
      },
    );

    tokenForm<{ current?: string; pin: string; again: string }>(
      'pin',
      'pin',
      { fields: { current: CODE, pin: CODE, again: CODE }, required: ['pin', 'again'] },
      ['WRONG_PIN', 'VALIDATION_FAILED', 'USER_LOCKED', 'TOKEN_STATE_INVALID', 'PIN_GENERATED'],
      async (request) => {
        await services.selfService.setPin(actor(request), request.params.serial, request.body);
        return back(request, 'pin-set');
      },
    );

    tokenForm<{ current?: string }>(
      'pin/generate',
      'pin',
      { fields: { current: CODE }, required: [] },
      ['WRONG_PIN', 'USER_LOCKED', 'TOKEN_STATE_INVALID'],
      async (request) => {
        const pin = await services.selfService.generatePin(actor(request), request.params.serial, request.body.current);
        await services.sessions.putFlash(sessionId(request), generatedPinFlash(request.params.serial), pin);
        return back(request, 'pin-generated');
      },
    );

    tokenForm<{ confirm: string }>(
      'lost',
      'lost',
      { fields: { confirm: { maxLength: 8 } } },
      ['TOKEN_STATE_INVALID', 'SELF_SERVICE_DISABLED'],
      async (request) => {
        const report = await services.selfService.reportLost(actor(request), request.params.serial);
        if (report.emergency)
          await services.sessions.putFlash(sessionId(request), emergencyFlash(request.params.serial), JSON.stringify(report.emergency));
        return back(request, 'reported-lost');
      },
    );

    tokenForm(
      'replace',
      'replace',
      { fields: {} },
      [
        'TOKEN_STATE_INVALID',
        'TOKEN_REQUEST_PENDING',
        'DELIVERY_NOT_SUPPORTED',
        'PROFILE_NOT_FOUND',
        'TOKEN_LIMIT_REACHED',
        'SELF_SERVICE_DISABLED',
      ],
      async (request) => {
        const outcome = await services.selfService.requestReplacement(actor(request), request.params.serial);
        if (outcome.outcome === 'waiting') return `${HOME}?notice=request-waiting`;
        if (outcome.token.ctf !== undefined) return keepCtf(request, outcome.token);
        return `${HOME}?notice=token-requested`;
      },
    );
  });
}
