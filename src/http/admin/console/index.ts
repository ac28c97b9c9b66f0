import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { TallyError } from '../../../errors.js';
import { setRetryAfter } from '../../errors.js';
import { assetRoutes } from '../../web/assets.js';
import {
  endWebSession,
  formSchema,
  registerWebConsole,
  requireSession,
  startWebSession,
  type WebConsoleOptions,
} from '../../web/console.js';
import { requireRoutePermissions } from '../permissions.js';
import { actorOf, fixable, noticeFrom, page, redirect, viewerOf } from './http.js';
import { auditRoutes } from './routes/audit.js';
import { bulkRoutes } from './routes/bulk.js';
import { identitySourceRoutes } from './routes/identity-sources.js';
import { mailTemplateRoutes } from './routes/mail-templates.js';
import { profileRoutes } from './routes/profiles.js';
import { requestRoutes } from './routes/requests.js';
import { settingsRoutes } from './routes/settings.js';
import { tokenRoutes } from './routes/tokens.js';
import { userRoutes } from './routes/users.js';
import { dashboardPage, errorPage, logOnPage } from './views/home.js';
import { HOME } from './views/kit.js';

/** Not the self-service cookie's name: browsers send a host's cookies to all its ports. */
const SECURITY_CONSOLE_COOKIE = 'tally_console';
const DEFAULT_LOGON_RATE_LIMIT = 20;

/**
 * The Security Console at `/console` on the admin listener: the shared console machinery
 * (sessions in the store, form tokens, the log-on rate limit, HTML errors) around pages that call
 * the domain services as the logged-on admin. What an admin may do is decided in the services;
 * pages only leave out the controls a role could not use.
 */
export async function securityConsole(app: FastifyInstance, services: Services, settings: { logonRateLimit?: number }): Promise<void> {
  assetRoutes(app);
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect(HOME, 302));
  const options: WebConsoleOptions = {
    console: 'security',
    cookie: SECURITY_CONSOLE_COOKIE,
    logonRateLimit: settings.logonRateLimit ?? DEFAULT_LOGON_RATE_LIMIT,
    errorPage: (request, error) => errorPage(viewerOf(request), error),
  };
  await app.register(
    async (consoleScope) => {
      await registerWebConsole(consoleScope, services, options, async (scope) => {
        scope.addHook('onRoute', (route) => {
          route.schema = { hide: true, ...route.schema };
        });
        scope.setNotFoundHandler((request, reply) =>
          page(reply, errorPage(viewerOf(request), new TallyError('NOT_FOUND', `There is no page ${request.url.split('?')[0]}.`)), 404),
        );
        const loggedOn = requireSession(HOME);

        scope.get('/', async (request, reply) => {
          if (!request.webSession) return page(reply, logOnPage(viewerOf(request), { notice: noticeFrom(request) }));
          return page(reply, dashboardPage(viewerOf(request), await services.dashboard.summary(actorOf(request)), noticeFrom(request)));
        });

        scope.post<{ Body: { username: string; password: string } }>(
          '/logon',
          {
            config: { rateLimit: { max: options.logonRateLimit, timeWindow: 60_000 } },
            schema: { body: formSchema({ username: { maxLength: 128 }, password: { maxLength: 1024 } }) },
          },
          async (request, reply) => {
            try {
              request.actor = await services.users.logOn({
                username: request.body.username,
                password: request.body.password,
                source: request.ip,
                requestId: request.id,
                console: 'security',
              });
            } catch (error) {
              const refused = fixable(error, ['INVALID_CREDENTIALS', 'USER_LOCKED', 'LOGON_DELAYED']);
              setRetryAfter(reply, refused);
              return page(reply, logOnPage(viewerOf(request), { username: request.body.username, error: refused }), refused.status);
            }
            await startWebSession(services, options, request, reply);
            return reply.redirect(HOME, 303);
          },
        );

        scope.post('/logoff', { schema: { body: formSchema({}) } }, async (request, reply) => {
          await endWebSession(services, options, request, reply);
          return redirect(reply, HOME, 'logged-off');
        });

        await scope.register(async (pages) => {
          pages.addHook('onRequest', loggedOn);
          requireRoutePermissions(pages);
          userRoutes(pages, services);
          tokenRoutes(pages, services);
          bulkRoutes(pages, services);
          profileRoutes(pages, services);
          requestRoutes(pages, services);
          auditRoutes(pages, services);
          mailTemplateRoutes(pages, services);
          settingsRoutes(pages, services);
          identitySourceRoutes(pages, services);
        });
      });
    },
    { prefix: HOME },
  );
}
