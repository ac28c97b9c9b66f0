import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AttributeMapping, IdentitySourceInput, RoleGroups } from '../../../../domain/directory.js';
import type { Services } from '../../../../domain/services.js';
import { invalidField, TallyError } from '../../../../errors.js';
import { DIRECTORY_PRESETS, type DirectoryPreset } from '../../../../model/vocabulary.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, fixable, given, INPUT_ERRORS, noticeFrom, page, redirect, viewerOf, wholeNumber } from '../http.js';
import {
  identitySourceFormPage,
  identitySourcesPage,
  identitySourceTestPage,
  MAPPING_KEYS,
  presetForm,
  removeSourcePage,
  type SourceForm,
  type SourcesData,
  sourceForm,
  syncReportPage,
} from '../views/identity-sources.js';
import { link } from '../views/kit.js';

const NameParams = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['name'],
  additionalProperties: false,
} as const;
type NameRoute = { Params: { name: string } };
const PresetQuery = {
  type: 'object',
  properties: { preset: { type: 'string', enum: [...DIRECTORY_PRESETS] } },
  additionalProperties: false,
} as const;
type PresetRoute = { Querystring: { preset?: DirectoryPreset } };

const SOURCE_FIELDS = {
  preset: { maxLength: 16 },
  urls: { maxLength: 2100 },
  startTls: { maxLength: 8 },
  allowPlain: { maxLength: 8 },
  caFile: { maxLength: 1024 },
  timeoutSeconds: { maxLength: 8 },
  bindDn: { maxLength: 1024 },
  bindPassword: { maxLength: 1024 },
  baseDn: { maxLength: 1024 },
  userFilter: { maxLength: 1024 },
  ...Object.fromEntries(MAPPING_KEYS.map((key) => [`attr_${key}`, { maxLength: 128 }])),
  superadminGroup: { maxLength: 1024 },
  helpdeskGroup: { maxLength: 1024 },
};
type SourceBody = Partial<Record<keyof typeof SOURCE_FIELDS | `attr_${keyof AttributeMapping}` | 'name', string>>;

/** Codes the add/edit form can be refused with: the form is shown again, as sent, with the domain's message. */
const SOURCE_FORM_ERRORS = [...INPUT_ERRORS, 'IDENTITY_SOURCE_NOT_FOUND' as const];
/** What a test or a sync may meet at the directory: said plainly on the page, never the directory's own text. */
const DIRECTORY_ERRORS = ['USER_NOT_FOUND', 'IDENTITY_SOURCE_UNREACHABLE', 'DIRECTORY_BIND_REFUSED', 'DIRECTORY_UNAVAILABLE'] as const;

/** The form as sent, to show again when refused (never the bind password). */
function formOf(body: SourceBody): SourceForm {
  const preset = (DIRECTORY_PRESETS as readonly string[]).includes(body.preset ?? '') ? (body.preset as DirectoryPreset) : 'openldap';
  return {
    name: body.name ?? '',
    preset,
    urls: body.urls ?? '',
    startTls: body.startTls === 'yes',
    allowPlain: body.allowPlain === 'yes',
    caFile: body.caFile ?? '',
    bindDn: body.bindDn ?? '',
    baseDn: body.baseDn ?? '',
    userFilter: body.userFilter ?? '',
    attributes: Object.fromEntries(MAPPING_KEYS.map((key) => [key, body[`attr_${key}`] ?? ''])) as unknown as AttributeMapping,
    superadminGroup: body.superadminGroup ?? '',
    helpdeskGroup: body.helpdeskGroup ?? '',
    timeoutSeconds: body.timeoutSeconds ?? '',
  };
}

type SourceSettings = Omit<IdentitySourceInput, 'name' | 'type' | 'bindPassword' | 'loginAttribute'> & { bindPassword?: string };

/** The form's settings as the directory service takes them; an empty bind password means "keep". */
function settingsOf(form: SourceForm, bindPassword: string | undefined): SourceSettings {
  const roleGroups: RoleGroups = {
    ...(given(form.superadminGroup) ? { superadmin: form.superadminGroup.trim() } : {}),
    ...(given(form.helpdeskGroup) ? { helpdesk: form.helpdeskGroup.trim() } : {}),
  };
  return {
    preset: form.preset,
    urls: form.urls
      .split(/\s+/)
      .map((url) => url.trim())
      .filter(Boolean),
    startTls: form.startTls,
    allowPlain: form.allowPlain,
    caFile: given(form.caFile) ?? null,
    bindDn: form.bindDn.trim(),
    ...(bindPassword ? { bindPassword } : {}),
    baseDn: form.baseDn.trim(),
    userFilter: form.userFilter.trim(),
    attributes: Object.fromEntries(MAPPING_KEYS.map((key) => [key, form.attributes[key].trim()])) as unknown as AttributeMapping,
    roleGroups,
    timeoutSeconds: wholeNumber('timeoutSeconds', form.timeoutSeconds),
  };
}

/**
 * Identity sources, a super admin's: the internal store and the directories in order, adding and
 * editing them (with the Active Directory and OpenLDAP presets), moving, removing, testing ("bind
 * and find this user") and syncing. Every change goes through the directory service, which audits it.
 */
export function identitySourceRoutes(app: FastifyInstance, services: Services): void {
  const config = { permission: 'identitySources.manage' } as const;
  const find = async (request: FastifyRequest<NameRoute>) => {
    const sources = await services.directory.list(actorOf(request));
    const source = sources.find((candidate) => candidate.name === request.params.name);
    if (!source) throw new TallyError('IDENTITY_SOURCE_NOT_FOUND', `No identity source named ${request.params.name}.`);
    return { source, sources };
  };
  const list = async (request: FastifyRequest, reply: FastifyReply, extra: Partial<SourcesData> = {}) => {
    const actor = actorOf(request);
    const sources = await services.directory.list(actor);
    return page(reply, identitySourcesPage(viewerOf(request), { sources, notice: noticeFrom(request), ...extra }), extra.error?.status);
  };

  app.get('/identity-sources', { config }, async (request, reply) => list(request, reply));

  app.get<PresetRoute>('/identity-sources/new', { config, schema: { querystring: PresetQuery } }, async (request, reply) =>
    page(reply, identitySourceFormPage(viewerOf(request), { form: presetForm(request.query.preset ?? 'openldap') })),
  );

  app.post<{ Body: SourceBody }>(
    '/identity-sources',
    { config, schema: { body: formSchema({ name: { maxLength: 64 }, ...SOURCE_FIELDS }, ['name']) } },
    async (request, reply) => {
      const form = formOf(request.body);
      try {
        const settings = settingsOf(form, request.body.bindPassword);
        await services.directory.create(actorOf(request), {
          ...settings,
          name: form.name.trim(),
          type: 'ldap',
          bindPassword: request.body.bindPassword ?? '',
        });
      } catch (error) {
        const refused = fixable(error, SOURCE_FORM_ERRORS);
        return page(reply, identitySourceFormPage(viewerOf(request), { form, error: refused }), refused.status);
      }
      return redirect(reply, link('identity-sources'), 'identity-source-added');
    },
  );

  app.get<NameRoute & PresetRoute>(
    '/identity-sources/:name/edit',
    { config, schema: { params: NameParams, querystring: PresetQuery } },
    async (request, reply) => {
      const { source } = await find(request);
      return page(
        reply,
        identitySourceFormPage(viewerOf(request), { editing: source.name, form: sourceForm(source, request.query.preset) }),
      );
    },
  );

  app.post<NameRoute & { Body: SourceBody }>(
    '/identity-sources/:name/edit',
    { config, schema: { params: NameParams, body: formSchema(SOURCE_FIELDS, []) } },
    async (request, reply) => {
      const form = { ...formOf(request.body), name: request.params.name };
      try {
        await services.directory.update(actorOf(request), request.params.name, settingsOf(form, request.body.bindPassword));
      } catch (error) {
        const refused = fixable(error, SOURCE_FORM_ERRORS);
        return page(
          reply,
          identitySourceFormPage(viewerOf(request), { editing: request.params.name, form, error: refused }),
          refused.status,
        );
      }
      return redirect(reply, link('identity-sources'), 'identity-source-saved');
    },
  );

  app.post<NameRoute & { Body: { direction: string } }>(
    '/identity-sources/:name/move',
    { config, schema: { params: NameParams, body: formSchema({ direction: { maxLength: 8 } }) } },
    async (request, reply) => {
      const { sources } = await find(request);
      const order = sources.map((source) => source.name);
      const from = order.indexOf(request.params.name);
      const to = from + (request.body.direction === 'up' ? -1 : request.body.direction === 'down' ? 1 : 0);
      try {
        if (to === from) throw invalidField('direction', 'oneOf', { choices: 'up, down' });
        const other = order[to];
        if (other === undefined) throw invalidField('direction', 'sourceAtEnd');
        order[to] = request.params.name;
        order[from] = other;
        await services.directory.reorder(actorOf(request), order);
      } catch (error) {
        return list(request, reply, { error: fixable(error, INPUT_ERRORS) });
      }
      return redirect(reply, link('identity-sources'), 'identity-sources-ordered');
    },
  );

  app.get<NameRoute>('/identity-sources/:name/remove', { config, schema: { params: NameParams } }, async (request, reply) =>
    page(reply, removeSourcePage(viewerOf(request), (await find(request)).source)),
  );

  app.post<NameRoute & { Body: { confirm?: string } }>(
    '/identity-sources/:name/remove',
    { config, schema: { params: NameParams, body: formSchema({ confirm: { maxLength: 8 } }, []) } },
    async (request, reply) => {
      const { source } = await find(request);
      try {
        if (request.body.confirm !== 'yes') throw invalidField('confirm', 'confirmRemoveSource');
        await services.directory.remove(actorOf(request), source.name);
      } catch (error) {
        const refused = fixable(error, INPUT_ERRORS);
        return page(reply, removeSourcePage(viewerOf(request), source, refused), refused.status);
      }
      return redirect(reply, link('identity-sources'), 'identity-source-removed');
    },
  );

  app.get<NameRoute>('/identity-sources/:name/test', { config, schema: { params: NameParams } }, async (request, reply) =>
    page(reply, identitySourceTestPage(viewerOf(request), { source: (await find(request)).source })),
  );

  app.post<NameRoute & { Body: { username: string } }>(
    '/identity-sources/:name/test',
    { config, schema: { params: NameParams, body: formSchema({ username: { maxLength: 256 } }) } },
    async (request, reply) => {
      const { source } = await find(request);
      const username = request.body.username.trim();
      try {
        const result = await services.directory.test(actorOf(request), source.name, username);
        return page(reply, identitySourceTestPage(viewerOf(request), { source, username, result }));
      } catch (error) {
        const refused = fixable(error, [...DIRECTORY_ERRORS]);
        return page(reply, identitySourceTestPage(viewerOf(request), { source, username, error: refused }), refused.status);
      }
    },
  );

  app.post<NameRoute>(
    '/identity-sources/:name/sync',
    { config, schema: { params: NameParams, body: formSchema({}) } },
    async (request, reply) => {
      try {
        return page(reply, syncReportPage(viewerOf(request), await services.directory.sync(actorOf(request), request.params.name)));
      } catch (error) {
        return list(request, reply, { error: fixable(error, [...DIRECTORY_ERRORS, 'IDENTITY_SOURCE_NOT_FOUND']) });
      }
    },
  );
}
