import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/services.js';
import { MAIL_TEMPLATE_KINDS } from '../../../model/vocabulary.js';
import { actorOf } from './auth.js';
import { oneOf } from './vocabulary.js';

const nullableString = Type.Union([Type.String(), Type.Null()]);
// Bounds for the body only; the domain's limits are tighter and say why.
const Subject = Type.Union([Type.String({ maxLength: 1024 }), Type.Null()], {
  description: 'One line; null or absent for a steps-* template, which is a part of other mails',
});
const Text = Type.String({ maxLength: 20_000, description: 'Plain text with variables written as {{name}}' });

const TemplateView = Type.Object({
  kind: oneOf(MAIL_TEMPLATE_KINDS),
  title: Type.String(),
  when: Type.String({ description: 'When Tally sends this mail, or which mails this part goes into' }),
  subject: nullableString,
  text: Type.String(),
  variables: Type.Array(Type.Object({ name: Type.String(), description: Type.String() })),
  edited: Type.Boolean({ description: "false: Tally's own text" }),
  updatedAt: nullableString,
  updatedBy: nullableString,
});
const KindParams = Type.Object({ kind: Type.String({ maxLength: 64 }) });
const PutBody = Type.Object({ subject: Type.Optional(Subject), text: Text }, { additionalProperties: false });
const PreviewBody = Type.Object({ subject: Type.Optional(Subject), text: Type.Optional(Text) }, { additionalProperties: false });
const Preview = Type.Object({ subject: nullableString, text: Type.String() });

/** What each mail to a token holder says: list, read, edit, reset to Tally's text, preview with sample values. */
export function mailTemplateRoutes(app: FastifyInstance, services: Services): void {
  const config = { permission: 'mailTemplates.manage' } as const;
  app.get(
    '/mail-templates',
    {
      config,
      schema: {
        tags: ['mail'],
        summary: 'List the mail templates, one per kind of mail, with the variables each may use',
        response: { 200: Type.Object({ mailTemplates: Type.Array(TemplateView) }) },
      },
    },
    async (request) => ({ mailTemplates: await services.mailTemplates.list(actorOf(request)) }),
  );
  app.get<{ Params: Static<typeof KindParams> }>(
    '/mail-templates/:kind',
    {
      config,
      schema: { tags: ['mail'], summary: 'Read the template of one kind of mail', params: KindParams, response: { 200: TemplateView } },
    },
    async (request) => services.mailTemplates.get(actorOf(request), request.params.kind),
  );
  app.put<{ Params: Static<typeof KindParams>; Body: Static<typeof PutBody> }>(
    '/mail-templates/:kind',
    {
      config,
      schema: {
        tags: ['mail'],
        summary: 'Change what a kind of mail says',
        description: 'Refused (400) when the subject or text uses a variable the mail does not have, or the subject is not one line.',
        params: KindParams,
        body: PutBody,
        response: { 200: TemplateView },
      },
    },
    async (request) => services.mailTemplates.put(actorOf(request), request.params.kind, request.body),
  );
  app.delete<{ Params: Static<typeof KindParams> }>(
    '/mail-templates/:kind',
    {
      config,
      schema: {
        tags: ['mail'],
        summary: "Reset a kind of mail to Tally's own text; answers with that text",
        params: KindParams,
        response: { 200: TemplateView },
      },
    },
    async (request) => services.mailTemplates.reset(actorOf(request), request.params.kind),
  );
  app.post<{ Params: Static<typeof KindParams>; Body: Static<typeof PreviewBody> }>(
    '/mail-templates/:kind/preview',
    {
      config,
      schema: {
        tags: ['mail'],
        summary: 'Render a template with sample values: the one in use, or the subject and text given (not saved)',
        params: KindParams,
        body: PreviewBody,
        response: { 200: Preview },
      },
    },
    async (request) => services.mailTemplates.preview(actorOf(request), request.params.kind, request.body),
  );
}
