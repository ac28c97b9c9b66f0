import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { SETTING_NAMES, SETTINGS, type SettingName } from '../../../domain/settings.js';
import { actorOf } from './auth.js';

function valueSchema(name: SettingName): TSchema {
  const setting = SETTINGS[name];
  return setting.kind === 'boolean'
    ? Type.Boolean({ description: setting.doc })
    : Type.Integer({ minimum: setting.min, maximum: setting.max, description: setting.doc });
}

/** The settings to change, each optional; the ones not named keep their value. */
const SettingsBody = Type.Partial(Type.Object(Object.fromEntries(SETTING_NAMES.map((name) => [name, valueSchema(name)]))), {
  additionalProperties: false,
  minProperties: 1,
});
const SettingView = Type.Object({
  name: Type.String(),
  value: Type.Union([Type.Integer(), Type.Boolean()]),
  default: Type.Union([Type.Integer(), Type.Boolean()]),
  doc: Type.String(),
  updatedAt: Type.Union([Type.String(), Type.Null()]),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
});
const SettingsReply = Type.Object({ settings: Type.Array(SettingView) });

/** The store-backed settings (per-user token limit, self-service switches): read by admins, changed by a super admin. */
export function settingsRoutes(app: FastifyInstance, services: Services): void {
  app.get(
    '/settings',
    {
      config: { permission: 'settings.read' },
      schema: {
        tags: ['settings'],
        summary: 'The settings every node applies (per-user token limit, self-service switches), with defaults and last change',
        response: { 200: SettingsReply },
      },
    },
    async (request) => ({ settings: await services.settings.list(actorOf(request)) }),
  );
  app.put<{ Body: Static<typeof SettingsBody> }>(
    '/settings',
    {
      config: { permission: 'settings.change' },
      schema: {
        tags: ['settings'],
        summary: 'Change the settings named in the body (all or none); the others keep their value',
        body: SettingsBody,
        response: { 200: SettingsReply },
      },
    },
    async (request) => ({ settings: await services.settings.change(actorOf(request), request.body) }),
  );
}
