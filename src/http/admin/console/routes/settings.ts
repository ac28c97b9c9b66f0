import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { can } from '../../../../domain/actor.js';
import type { Services } from '../../../../domain/services.js';
import type { ApiTokenRole } from '../../../../model/vocabulary.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, fixable, IdParams, INPUT_ERRORS, noticeFrom, page, redirect, viewerOf } from '../http.js';
import { link } from '../views/kit.js';
import { apiTokenCreatedPage, type SettingsData, settingsPage } from '../views/settings.js';

/** RADIUS clients, API tokens and the CT-KIP server key: a super admin's page. */
export function settingsRoutes(app: FastifyInstance, services: Services): void {
  const show = async (request: FastifyRequest, reply: FastifyReply, extra: Partial<SettingsData> = {}) => {
    const actor = actorOf(request);
    // The page is the RADIUS and API token lists: a role that may see neither is refused by the domain.
    const [radiusClients, apiTokens] = await Promise.all([
      can(actor, 'radius.manage') || !can(actor, 'apitokens.manage') ? services.radiusClients.list(actor) : [],
      can(actor, 'apitokens.manage') ? services.apiTokens.list(actor) : [],
    ]);
    return page(
      reply,
      settingsPage(viewerOf(request), { radiusClients, apiTokens, notice: noticeFrom(request), ...extra }),
      extra.error?.status,
    );
  };

  app.get('/settings', { config: { permission: 'radius.manage' } }, async (request, reply) => show(request, reply));

  app.post<{ Body: { name: string; address: string; secret: string; requireMessageAuthenticator?: string } }>(
    '/settings/radius-clients',
    {
      config: { permission: 'radius.manage' },
      schema: {
        body: formSchema(
          {
            name: { maxLength: 128 },
            address: { maxLength: 64 },
            secret: { maxLength: 128 },
            requireMessageAuthenticator: { maxLength: 8 },
          },
          ['name', 'address', 'secret'],
        ),
      },
    },
    async (request, reply) => {
      const body = request.body;
      try {
        await services.radiusClients.create(actorOf(request), {
          name: body.name.trim(),
          address: body.address.trim(),
          secret: body.secret,
          requireMessageAuthenticator: body.requireMessageAuthenticator === 'yes',
        });
      } catch (error) {
        return show(request, reply, { error: fixable(error, INPUT_ERRORS), radiusForm: { name: body.name, address: body.address } });
      }
      return redirect(reply, link('settings'), 'radius-client-added');
    },
  );

  app.post<{ Body: { name: string } }>(
    '/settings/radius-clients/remove',
    { config: { permission: 'radius.manage' }, schema: { body: formSchema({ name: { maxLength: 128 } }) } },
    async (request, reply) => {
      try {
        await services.radiusClients.remove(actorOf(request), request.body.name);
      } catch (error) {
        return show(request, reply, { error: fixable(error, ['RADIUS_CLIENT_NOT_FOUND']) });
      }
      return redirect(reply, link('settings'), 'radius-client-removed');
    },
  );

  app.post<{ Body: { name: string; role: string } }>(
    '/settings/api-tokens',
    { config: { permission: 'apitokens.manage' }, schema: { body: formSchema({ name: { maxLength: 128 }, role: { maxLength: 16 } }) } },
    async (request, reply) => {
      try {
        const created = await services.apiTokens.create(actorOf(request), {
          name: request.body.name.trim(),
          role: request.body.role as ApiTokenRole,
        });
        return page(reply, apiTokenCreatedPage(viewerOf(request), created));
      } catch (error) {
        return show(request, reply, { error: fixable(error, INPUT_ERRORS), apiTokenForm: request.body });
      }
    },
  );

  app.post<{ Params: { id: string } }>(
    '/settings/api-tokens/:id/revoke',
    { config: { permission: 'apitokens.manage' }, schema: { params: IdParams, body: formSchema({}) } },
    async (request, reply) => {
      try {
        await services.apiTokens.revoke(actorOf(request), Number(request.params.id));
      } catch (error) {
        return show(request, reply, { error: fixable(error, ['API_TOKEN_NOT_FOUND', 'CONFLICT']) });
      }
      return redirect(reply, link('settings'), 'api-token-revoked');
    },
  );

  app.post('/settings/ctkip-key', { config: { permission: 'ctkip.manage' }, schema: { body: formSchema({}) } }, async (request, reply) => {
    await services.provisioning.rotateServerKey(actorOf(request));
    return redirect(reply, link('settings'), 'ctkip-key-rotated');
  });
}
