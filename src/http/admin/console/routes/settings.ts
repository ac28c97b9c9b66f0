import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { can } from '../../../../domain/actor.js';
import type { Services } from '../../../../domain/services.js';
import { parseSettingValue, SETTING_NAMES, SETTINGS } from '../../../../domain/settings.js';
import type { ApiTokenRole } from '../../../../model/vocabulary.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, fixable, IdParams, INPUT_ERRORS, noticeFrom, page, redirect, viewerOf } from '../http.js';
import { link } from '../views/kit.js';
import { apiTokenCreatedPage, type SettingsData, settingsPage } from '../views/settings.js';

/**
 * The settings page, a super admin's: the token limit and the self-service switches, RADIUS
 * clients, API tokens and the CT-KIP server key. (The help desk reads the settings over REST, and
 * each refusal by the limit states it.)
 */
export function settingsRoutes(app: FastifyInstance, services: Services): void {
  const show = async (request: FastifyRequest, reply: FastifyReply, extra: Partial<SettingsData> = {}) => {
    const actor = actorOf(request);
    const [settings, radiusClients, apiTokens] = await Promise.all([
      can(actor, 'settings.change') ? services.settings.list(actor) : [],
      can(actor, 'radius.manage') ? services.radiusClients.list(actor) : [],
      can(actor, 'apitokens.manage') ? services.apiTokens.list(actor) : [],
    ]);
    return page(
      reply,
      settingsPage(viewerOf(request), { settings, radiusClients, apiTokens, notice: noticeFrom(request), ...extra }),
      extra.error?.status,
    );
  };

  app.get('/settings', { config: { permission: 'settings.change' } }, async (request, reply) => show(request, reply));

  // A box left unticked is not sent: every switch is set by the form, ticked or not.
  app.post<{ Body: Record<string, string> }>(
    '/settings/values',
    {
      config: { permission: 'settings.change' },
      schema: { body: formSchema(Object.fromEntries(SETTING_NAMES.map((name) => [name, { maxLength: 16 }])), []) },
    },
    async (request, reply) => {
      const changes = Object.fromEntries(
        SETTING_NAMES.map((name) => [
          name,
          SETTINGS[name].kind === 'boolean' ? request.body[name] === 'yes' : parseSettingValue(name, request.body[name] ?? ''),
        ]),
      );
      try {
        await services.settings.change(actorOf(request), changes);
      } catch (error) {
        return show(request, reply, { error: fixable(error, INPUT_ERRORS), valuesForm: request.body });
      }
      return redirect(reply, link('settings'), 'settings-saved');
    },
  );

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
