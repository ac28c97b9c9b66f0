import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../../../domain/actor.js';
import { type ErrorCode, invalidField, isTallyError, TallyError } from '../../../errors.js';
import { MAX_TOKEN_FILE_BYTES } from '../../../formats/detect.js';
import { readMultipart, type UploadLimits, uploadRoutes } from '../../multipart.js';
import { checkFormToken } from '../../web/console.js';
import type { Html } from '../../web/html.js';
import type { Notice } from '../../web/layout.js';
import type { Section, Viewer } from './views/kit.js';

/** What the Security Console's routes share: the viewer, pages, notices by name, and upload forms. */

/** Path parameters of a page about one numbered thing (a bulk run, a request, an API token). */
export const IdParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$' } },
  required: ['id'],
  additionalProperties: false,
} as const;

export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new TallyError('UNAUTHENTICATED');
  return request.actor;
}

export function viewerOf(request: FastifyRequest, section?: Section): Viewer {
  return { actor: request.webSession?.actor, csrfToken: request.csrfToken, section };
}

export function page(reply: FastifyReply, body: Html, status = 200): FastifyReply {
  return reply.status(status).type('text/html; charset=utf-8').send(body.text);
}

/** An error the admin can fix on the same page (shown there with the form), rather than on an error page. */
export function fixable(error: unknown, codes: ErrorCode[]): TallyError {
  if (isTallyError(error) && codes.includes(error.code)) return error;
  throw error;
}

/** Codes a form's input causes: the page shows the form again with the message. */
export const INPUT_ERRORS: ErrorCode[] = [
  'VALIDATION_FAILED',
  'CONFLICT',
  'USER_EXISTS',
  'USER_NOT_FOUND',
  'PROFILE_EXISTS',
  'PROFILE_NOT_FOUND',
  'DEVICE_TYPE_NOT_FOUND',
  'DELIVERY_NOT_SUPPORTED',
  'TOKEN_STATE_INVALID',
  'TOKENCODE_INVALID',
  'INPUT_TOO_LARGE',
  'TOKEN_LIMIT_REACHED',
];

/** Messages a redirect asks for by name: the text is ours, never the query string's. */
const NOTICES = {
  'session-ended': { kind: 'info', text: 'Your session has ended. Log on again to continue.' },
  'logged-off': { kind: 'success', text: 'You have logged off.' },
  'user-created': { kind: 'success', text: 'The user has been created.' },
  'user-updated': { kind: 'success', text: 'The changes have been saved.' },
  'user-disabled': { kind: 'success', text: 'The user is disabled: no log-on, no authentication.' },
  'user-enabled': { kind: 'success', text: 'The user is enabled again.' },
  'user-unlocked': { kind: 'success', text: 'The user is unlocked.' },
  'sessions-ended': { kind: 'success', text: "The user's console sessions have ended." },
  'token-enabled': { kind: 'success', text: 'The token is enabled.' },
  'token-disabled': { kind: 'success', text: 'The token is disabled.' },
  'token-unlocked': { kind: 'success', text: 'The wrong-passcode count is cleared.' },
  'pin-reset': { kind: 'success', text: 'The next authentication asks for a new PIN.' },
  'token-resynced': { kind: 'success', text: 'The token is resynchronised.' },
  'activation-reset': { kind: 'success', text: 'The activation can be tried again.' },
  'token-unassigned': { kind: 'success', text: 'The token is back in the unassigned inventory.' },
  'token-deleted': { kind: 'success', text: 'The token has been deleted.' },
  'profile-created': { kind: 'success', text: 'The profile has been created.' },
  'profile-updated': { kind: 'success', text: 'The profile has been saved. Tokens distributed from now on follow it.' },
  'device-saved': { kind: 'success', text: 'The device is saved in the capability table.' },
  'request-rejected': { kind: 'success', text: 'The request is rejected; the user is told why.' },
  'radius-client-added': { kind: 'success', text: 'The RADIUS client has been added.' },
  'radius-client-removed': { kind: 'success', text: 'The RADIUS client has been removed.' },
  'api-token-revoked': { kind: 'success', text: 'The API token is revoked.' },
  'ctkip-key-rotated': { kind: 'success', text: 'A new CT-KIP server key is in use.' },
  'mail-template-saved': { kind: 'success', text: 'The template is saved: mails from now on say this.' },
  'mail-template-reset': { kind: 'success', text: 'The template is back to Tally’s text.' },
  'settings-saved': { kind: 'success', text: 'The settings are saved; every node applies them from now on.' },
  'identity-source-added': { kind: 'success', text: 'The identity source is added, after the others. Test it with a user’s login name.' },
  'identity-source-saved': { kind: 'success', text: 'The identity source is saved.' },
  'identity-sources-ordered': { kind: 'success', text: 'The order is saved: users are looked for in this order from now on.' },
  'identity-source-removed': { kind: 'success', text: 'The identity source is removed; its users are disabled.' },
} satisfies Record<string, Notice>;

export type NoticeName = keyof typeof NOTICES;

export function noticeFrom(request: FastifyRequest): Notice | undefined {
  const name = (request.query as Record<string, unknown> | undefined)?.notice;
  return typeof name === 'string' && Object.hasOwn(NOTICES, name) ? NOTICES[name as NoticeName] : undefined;
}

export function redirect(reply: FastifyReply, url: string, notice?: NoticeName): FastifyReply {
  return reply.redirect(notice ? `${url}${url.includes('?') ? '&' : '?'}notice=${notice}` : url, 303);
}

/** A form value, or undefined when the field was left empty. */
export function given(value: string | undefined): string | undefined {
  const text = value?.trim();
  return text ? text : undefined;
}

export function wholeNumber(name: string, value: string | undefined): number | undefined {
  const text = given(value);
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text)) throw invalidField(name, 'wholeNumber');
  return Number(text);
}

export type { MultipartForm } from '../../multipart.js';

/** What a console upload may hold: one file, a few fields; pasted CSV text in a field. */
const CONSOLE_UPLOAD_LIMITS: UploadLimits = { fileBytes: MAX_TOKEN_FILE_BYTES, fields: 8, fieldBytes: 2 * 1024 * 1024 };

/**
 * The Security Console's file upload forms, in the one scope where multipart is parsed: the session
 * is checked first (onRequest), then the form token as the form's first part (the upload forms put
 * `_csrf` first), and only then the file.
 */
export function consoleUploads(app: FastifyInstance, routes: (scope: FastifyInstance) => void): void {
  uploadRoutes(app, (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, formTokenInParts: true };
    });
    scope.addHook('preValidation', async (request) => {
      request.body = await readMultipart(request, CONSOLE_UPLOAD_LIMITS, (sent) => checkFormToken(request, sent));
    });
    routes(scope);
  });
}
