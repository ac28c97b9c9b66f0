import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DeviceDefinition } from '../../../../domain/devices.js';
import type { NewProfile, ProfileChanges } from '../../../../domain/profiles.js';
import type { Services } from '../../../../domain/services.js';
import { invalidField, invalidInput, type TallyError } from '../../../../errors.js';
import { type Delivery, type FilePasswordPolicy, PROFILE_PIN_MODES } from '../../../../model/vocabulary.js';
import { TOKEN_TYPES, tokenType as tokenTypeModule } from '../../../../tokens/registry.js';
import type { TokenAlgorithm, TokenType } from '../../../../tokens/types.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, fixable, given, INPUT_ERRORS, noticeFrom, page, redirect, viewerOf, wholeNumber } from '../http.js';
import { link } from '../views/kit.js';
import {
  type DeviceForm,
  deviceStepPage,
  devicesPage,
  type EditorMode,
  type EditorSelection,
  formOfProfile,
  type ProfileForm,
  profileFormPage,
  profilePage,
  profilesPage,
} from '../views/profiles.js';

const NameParams = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['name'],
  additionalProperties: false,
} as const;
const EditorQuery = {
  type: 'object',
  properties: {
    deviceType: { type: 'string', maxLength: 32 },
    tokenType: { type: 'string', enum: ['', ...TOKEN_TYPES] },
    appVersion: { type: 'string', maxLength: 32 },
    step: { type: 'string', enum: ['device'] },
  },
  additionalProperties: false,
} as const;
type EditorQueryType = { deviceType?: string; tokenType?: string; appVersion?: string; step?: 'device' };

const PROFILE_FIELDS = Object.fromEntries(
  [
    'name',
    'description',
    'deviceType',
    'tokenType',
    'appVersion',
    'delivery',
    'digits',
    'period',
    'algorithm',
    'pinMode',
    'pinMinLength',
    'pinMaxLength',
    'pinCharset',
    'pinReuse',
    'pinGenerated',
    'tokenLifetimeDays',
    'activationLifetimeDays',
    'filePasswordPolicy',
    'filePassword',
    'ctkipUrl',
    'selfService',
    'requiresApproval',
    'mailCtkipUrl',
  ].map((name) => [name, { maxLength: name === 'ctkipUrl' || name === 'description' ? 512 : 128 }]),
);
type ProfileBody = Partial<Record<string, string>>;

function selectionOf(source: { deviceType?: string; tokenType?: string; appVersion?: string }): EditorSelection {
  return {
    deviceType: given(source.deviceType),
    tokenType: given(source.tokenType) as TokenType | undefined,
    appVersion: given(source.appVersion),
  };
}

/** The form as the profile it describes: fields a delivery does not use are left out. */
function profileFields(body: ProfileBody): Omit<NewProfile, 'name'> {
  const tokenType = (body.tokenType ?? '') as TokenType;
  const delivery = (body.delivery ?? '') as Delivery;
  if (!delivery) throw invalidField('delivery', 'deliveryMissing');
  // An unknown type is the domain's to refuse, with its own message.
  const module = TOKEN_TYPES.includes(tokenType) ? tokenTypeModule(tokenType) : undefined;
  const ctkip = module?.seedDerivedByCtkip(delivery) ?? false;
  return {
    description: given(body.description),
    tokenType,
    deviceType: body.deviceType ?? '',
    appVersion: given(body.appVersion),
    delivery,
    digits: wholeNumber('Digits', body.digits),
    period: module?.movingFactor === 'counter' ? undefined : wholeNumber('Code period', body.period),
    algorithm: module && module.algorithms.length < 2 ? undefined : (given(body.algorithm) as TokenAlgorithm | undefined),
    pinMode: PROFILE_PIN_MODES.find((pinMode) => pinMode === body.pinMode) ?? 'none',
    pinMinLength: wholeNumber('Shortest PIN', body.pinMinLength),
    pinMaxLength: wholeNumber('Longest PIN', body.pinMaxLength),
    pinCharset: body.pinCharset === 'alphanumeric' ? 'alphanumeric' : 'digits',
    pinReuse: body.pinReuse === 'yes',
    pinGenerated: body.pinGenerated === 'yes',
    tokenLifetimeDays: wholeNumber('Token lifetime', body.tokenLifetimeDays),
    activationLifetimeDays: wholeNumber('Activation open for', body.activationLifetimeDays),
    filePasswordPolicy: delivery === 'file' ? ((given(body.filePasswordPolicy) ?? 'none') as FilePasswordPolicy) : 'none',
    filePassword: delivery === 'file' && body.filePasswordPolicy === 'admin' ? given(body.filePassword) : undefined,
    ctkipUrl: ctkip ? given(body.ctkipUrl) : undefined,
    mailCtkipUrl: delivery === 'ctkip' && body.mailCtkipUrl === 'yes',
    selfService: body.selfService === 'yes',
    requiresApproval: body.requiresApproval === 'yes',
  };
}

/** An edit sets every field the form shows; an empty optional field returns to its default. */
function profileChanges(body: ProfileBody): ProfileChanges {
  const fields = profileFields(body);
  return {
    ...fields,
    description: fields.description ?? null,
    appVersion: fields.appVersion ?? null,
    tokenLifetimeDays: fields.tokenLifetimeDays ?? null,
    ctkipUrl: fields.ctkipUrl ?? null,
    digits: fields.digits ?? null,
    period: fields.period ?? null,
    algorithm: fields.algorithm ?? null,
    pinMinLength: fields.pinMinLength ?? null,
    pinMaxLength: fields.pinMaxLength ?? null,
  };
}

function formOf(body: ProfileBody): ProfileForm {
  return {
    ...body,
    selfService: body.selfService === 'yes',
    requiresApproval: body.requiresApproval === 'yes',
    mailCtkipUrl: body.mailCtkipUrl === 'yes',
    pinReuse: body.pinReuse === 'yes',
    pinGenerated: body.pinGenerated === 'yes',
  };
}

/** Lines of `key: a, b` as a map (the devices form). */
function lines(text: string | undefined): [string, string][] {
  return (text ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(':');
      if (colon < 1) throw invalidInput('keyValueLine', { line: line.slice(0, 60) });
      return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    });
}

/** Token profiles with the capability table guiding their editor, and the capability table itself. */
export function profileRoutes(app: FastifyInstance, services: Services): void {
  app.get('/profiles', { config: { permission: 'profiles.read' } }, async (request, reply) => {
    const actor = actorOf(request);
    return page(
      reply,
      profilesPage(viewerOf(request), await services.profiles.list(actor), await services.profiles.devices(), noticeFrom(request)),
    );
  });

  /** The editor: the device step until a device is chosen, then the profile form with the deliveries that device can take. */
  const editor = async (
    request: FastifyRequest,
    reply: FastifyReply,
    mode: EditorMode,
    selection: EditorSelection,
    form: ProfileForm,
    options: { deviceStep?: boolean; error?: TallyError } = {},
  ) => {
    const state = await services.profiles.editor(actorOf(request), selection);
    if (options.deviceStep || !state.device || !state.tokenType || state.appVersionProblem) {
      const problem = state.appVersionProblem ?? options.error;
      return page(reply, deviceStepPage(viewerOf(request), mode, state, selection, problem), problem?.status);
    }
    return page(
      reply,
      profileFormPage(
        viewerOf(request),
        mode,
        { ...state, device: state.device, tokenType: state.tokenType },
        selection,
        form,
        options.error,
      ),
      options.error?.status,
    );
  };

  app.get<{ Querystring: EditorQueryType }>(
    '/profiles/new',
    { config: { permission: 'profiles.manage' }, schema: { querystring: EditorQuery } },
    async (request, reply) =>
      editor(
        request,
        reply,
        { kind: 'new' },
        selectionOf(request.query),
        {},
        { deviceStep: request.query.step === 'device' || !request.query.deviceType },
      ),
  );

  app.post<{ Body: ProfileBody }>(
    '/profiles/new',
    { config: { permission: 'profiles.manage' }, schema: { body: formSchema(PROFILE_FIELDS, []) } },
    async (request, reply) => {
      try {
        const profile = await services.profiles.create(actorOf(request), {
          name: (request.body.name ?? '').trim(),
          ...profileFields(request.body),
        });
        return redirect(reply, link('profiles', profile.name), 'profile-created');
      } catch (error) {
        return editor(request, reply, { kind: 'new' }, selectionOf(request.body), formOf(request.body), {
          error: fixable(error, INPUT_ERRORS),
        });
      }
    },
  );

  app.get<{ Params: { name: string } }>(
    '/profiles/:name',
    { config: { permission: 'profiles.read' }, schema: { params: NameParams } },
    async (request, reply) => {
      const profile = await services.profiles.get(actorOf(request), request.params.name);
      const device = (await services.profiles.devices()).find((d) => d.deviceType === profile.deviceType);
      return page(reply, profilePage(viewerOf(request), profile, device, noticeFrom(request)));
    },
  );

  app.get<{ Params: { name: string }; Querystring: EditorQueryType }>(
    '/profiles/:name/edit',
    { config: { permission: 'profiles.manage' }, schema: { params: NameParams, querystring: EditorQuery } },
    async (request, reply) => {
      const actor = actorOf(request);
      // The editor first, so a role without it is refused before anything of the profile is read.
      await services.profiles.editor(actor);
      const profile = await services.profiles.get(actor, request.params.name);
      const selection = request.query.deviceType
        ? selectionOf(request.query)
        : { deviceType: profile.deviceType, tokenType: profile.tokenType, appVersion: profile.appVersion ?? undefined };
      return editor(request, reply, { kind: 'edit', name: profile.name }, selection, formOfProfile(profile), {
        deviceStep: request.query.step === 'device',
      });
    },
  );

  app.post<{ Params: { name: string }; Body: ProfileBody }>(
    '/profiles/:name/edit',
    { config: { permission: 'profiles.manage' }, schema: { params: NameParams, body: formSchema(PROFILE_FIELDS, []) } },
    async (request, reply) => {
      try {
        await services.profiles.update(actorOf(request), request.params.name, profileChanges(request.body));
        return redirect(reply, link('profiles', request.params.name), 'profile-updated');
      } catch (error) {
        const refused = fixable(
          error,
          INPUT_ERRORS.filter((code) => code !== 'PROFILE_NOT_FOUND'),
        );
        return editor(request, reply, { kind: 'edit', name: request.params.name }, selectionOf(request.body), formOf(request.body), {
          error: refused,
        });
      }
    },
  );

  app.get('/devices', { config: { permission: 'profiles.read' } }, async (request, reply) => {
    return page(
      reply,
      devicesPage(viewerOf(request, 'profiles'), await services.profiles.deviceTypes(actorOf(request)), {}, undefined, noticeFrom(request)),
    );
  });

  app.post<{ Body: { deviceType: string; label: string; tokenTypes?: string | string[]; versions: string; notes?: string } }>(
    '/devices',
    {
      config: { permission: 'profiles.manage' },
      schema: {
        body: {
          type: 'object',
          properties: {
            _csrf: { type: 'string', maxLength: 64 },
            deviceType: { type: 'string', maxLength: 32 },
            label: { type: 'string', maxLength: 128 },
            tokenTypes: {
              anyOf: [
                { type: 'string', maxLength: 8 },
                { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
              ],
            },
            versions: { type: 'string', maxLength: 1024 },
            notes: { type: 'string', maxLength: 2048 },
          },
          required: ['_csrf', 'deviceType', 'label', 'versions'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const tokenTypes = ([] as string[]).concat(body.tokenTypes ?? []);
      const form: DeviceForm = { deviceType: body.deviceType, label: body.label, tokenTypes, versions: body.versions, notes: body.notes };
      try {
        if (tokenTypes.length === 0) throw invalidField('tokenTypes', 'deviceTokenTypesMissing');
        const versions = Object.fromEntries(
          lines(body.versions).map(([version, deliveries]) => [version, deliveries.split(/[\s,]+/).filter(Boolean) as Delivery[]]),
        );
        const notes = Object.fromEntries(lines(body.notes)) as DeviceDefinition['notes'];
        await services.profiles.putDevice(actorOf(request), {
          deviceType: body.deviceType.trim(),
          label: body.label.trim(),
          tokenTypes: tokenTypes as TokenType[],
          versions,
          notes,
        });
      } catch (error) {
        const refused = fixable(error, INPUT_ERRORS);
        return page(reply, devicesPage(viewerOf(request, 'profiles'), await services.profiles.devices(), form, refused), refused.status);
      }
      return redirect(reply, link('devices'), 'device-saved');
    },
  );
}
