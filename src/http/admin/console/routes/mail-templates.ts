import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../../domain/services.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, fixable, INPUT_ERRORS, noticeFrom, page, redirect, viewerOf } from '../http.js';
import { link } from '../views/kit.js';
import { type MailTemplateEditor, mailTemplatePage, mailTemplatesPage } from '../views/mail-templates.js';

type KindRequest = FastifyRequest<{ Params: { kind: string } }>;
type DraftRequest = FastifyRequest<{ Params: { kind: string }; Body: { subject?: string; text: string } }>;

const KindParams = { type: 'object', properties: { kind: { type: 'string', maxLength: 64 } }, required: ['kind'] } as const;
const DraftBody = formSchema({ subject: { maxLength: 1024 }, text: { maxLength: 20_000 } }, ['text']);

/** The mail templates: a list, and an editor per kind of mail with a preview and a reset. */
export function mailTemplateRoutes(app: FastifyInstance, services: Services): void {
  const config = { permission: 'mailTemplates.manage' } as const;
  const editor = async (request: KindRequest, reply: FastifyReply, extra: Omit<MailTemplateEditor, 'template'> = {}) => {
    const template = await services.mailTemplates.get(actorOf(request), request.params.kind);
    return page(reply, mailTemplatePage(viewerOf(request), { template, notice: noticeFrom(request), ...extra }), extra.error?.status);
  };

  app.get('/mail-templates', { config }, async (request, reply) =>
    page(reply, mailTemplatesPage(viewerOf(request), await services.mailTemplates.list(actorOf(request)), noticeFrom(request))),
  );

  app.get<{ Params: { kind: string } }>('/mail-templates/:kind', { config, schema: { params: KindParams } }, async (request, reply) =>
    editor(request, reply),
  );

  app.post<{ Params: { kind: string }; Body: { subject?: string; text: string } }>(
    '/mail-templates/:kind',
    { config, schema: { params: KindParams, body: DraftBody } },
    async (request: DraftRequest, reply) => {
      try {
        await services.mailTemplates.put(actorOf(request), request.params.kind, request.body);
      } catch (error) {
        return editor(request, reply, { error: fixable(error, INPUT_ERRORS), draft: request.body });
      }
      return redirect(reply, link('mail-templates', request.params.kind), 'mail-template-saved');
    },
  );

  app.post<{ Params: { kind: string }; Body: { subject?: string; text: string } }>(
    '/mail-templates/:kind/preview',
    { config, schema: { params: KindParams, body: DraftBody } },
    async (request: DraftRequest, reply) => {
      try {
        const preview = await services.mailTemplates.preview(actorOf(request), request.params.kind, request.body);
        return editor(request, reply, { preview, draft: request.body });
      } catch (error) {
        return editor(request, reply, { error: fixable(error, INPUT_ERRORS), draft: request.body });
      }
    },
  );

  app.post<{ Params: { kind: string } }>(
    '/mail-templates/:kind/reset',
    { config, schema: { params: KindParams, body: formSchema({}) } },
    async (request, reply) => {
      await services.mailTemplates.reset(actorOf(request), request.params.kind);
      return redirect(reply, link('mail-templates', request.params.kind), 'mail-template-reset');
    },
  );
}
