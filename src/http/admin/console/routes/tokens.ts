import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mayBeShown, type Permission } from '../../../../domain/actor.js';
import type { DistributionResult } from '../../../../domain/distribution.js';
import type { Services } from '../../../../domain/services.js';
import { invalidField, type TallyError } from '../../../../errors.js';
import { TOKEN_STATES, type TokenState } from '../../../../model/vocabulary.js';
import { TOKEN_TYPES } from '../../../../tokens/registry.js';
import type { TokenType } from '../../../../tokens/types.js';
import { formSchema } from '../../../web/console.js';
import {
  actorOf,
  consoleUploads,
  fixable,
  given,
  INPUT_ERRORS,
  type MultipartForm,
  type NoticeName,
  noticeFrom,
  page,
  redirect,
  viewerOf,
  wholeNumber,
} from '../http.js';
import { assignmentReportPage, assignmentsPage } from '../views/assignments.js';
import { link } from '../views/kit.js';
import {
  distributionPage,
  generatedPage,
  generatePage,
  importReportPage,
  importTokensPage,
  lostPage,
  TOKENS_PAGE,
  type TokenFilter,
  tokenPage,
  tokensPage,
} from '../views/tokens.js';

const SerialParams = {
  type: 'object',
  properties: { serial: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } },
  required: ['serial'],
  additionalProperties: false,
} as const;
type TokenRoute = { Params: { serial: string } };
const ListQuery = {
  type: 'object',
  properties: {
    serial: { type: 'string', maxLength: 64 },
    username: { type: 'string', maxLength: 128 },
    state: { type: 'string', enum: ['', ...TOKEN_STATES] },
    type: { type: 'string', enum: ['', ...TOKEN_TYPES] },
    after: { type: 'string', maxLength: 64 },
    notice: { type: 'string', maxLength: 32 },
  },
  additionalProperties: false,
} as const;
type ListRoute = { Querystring: { serial?: string; username?: string; state?: string; type?: string; after?: string } };

/** What a distribution gives the admin, shown in this answer and nowhere else. */
export async function distributionResultPage(
  request: FastifyRequest,
  reply: FastifyReply,
  services: Services,
  result: DistributionResult,
  username: string | null,
  heading: string,
) {
  return page(reply, distributionPage(viewerOf(request), { result, username, heading, publicUrl: services.options.publicUrl }));
}

/** Tokens: search, generate, import, and each token's life cycle from its page. */
export function tokenRoutes(app: FastifyInstance, services: Services): void {
  app.get<ListRoute>('/tokens', { config: { permission: 'tokens.read' }, schema: { querystring: ListQuery } }, async (request, reply) => {
    const q = request.query;
    const filter: TokenFilter = {
      serial: given(q.serial),
      username: given(q.username),
      state: (q.state || undefined) as TokenState | undefined,
      tokenType: (q.type || undefined) as TokenType | undefined,
    };
    const after = given(q.after);
    try {
      const found = await services.tokens.list(actorOf(request), {
        serialPrefix: filter.serial,
        username: filter.username,
        state: filter.state,
        tokenType: filter.tokenType,
        after,
        limit: TOKENS_PAGE + 1,
      });
      return page(
        reply,
        tokensPage(viewerOf(request), {
          tokens: found.slice(0, TOKENS_PAGE),
          filter,
          after,
          more: found.length > TOKENS_PAGE,
          notice: noticeFrom(request),
        }),
      );
    } catch (error) {
      const refused = fixable(error, ['USER_NOT_FOUND']);
      return page(reply, tokensPage(viewerOf(request), { tokens: [], filter, more: false, error: refused }), refused.status);
    }
  });

  app.get('/tokens/generate', { config: { permission: 'tokens.create' } }, async (request, reply) =>
    page(reply, generatePage(viewerOf(request), await services.profiles.list(actorOf(request)))),
  );

  app.post<{ Body: { profile: string; count: string } }>(
    '/tokens/generate',
    {
      config: { permission: 'tokens.create' },
      schema: { body: formSchema({ profile: { maxLength: 128, minLength: 1 }, count: { maxLength: 9 } }) },
    },
    async (request, reply) => {
      try {
        const count = wholeNumber('How many', request.body.count) ?? 0;
        return page(
          reply,
          generatedPage(viewerOf(request), await services.distribution.createUnassigned(actorOf(request), request.body.profile, count)),
        );
      } catch (error) {
        const refused = fixable(error, INPUT_ERRORS);
        return page(
          reply,
          generatePage(viewerOf(request), await services.profiles.list(actorOf(request)), request.body, refused),
          refused.status,
        );
      }
    },
  );

  app.get('/tokens/import', { config: { permission: 'tokens.read' } }, async (request, reply) =>
    page(reply, importTokensPage(viewerOf(request))),
  );

  consoleUploads(app, (uploads) => {
    uploads.post<{ Body: MultipartForm }>('/tokens/import', { config: { permission: 'tokens.import' } }, async (request, reply) => {
      const form = request.body ?? {};
      try {
        if (!form.file) throw invalidField('file', 'tokenFileMissing');
        const report = await services.tokens.importFile(actorOf(request), {
          content: form.file.content,
          fileName: form.file.fileName,
          password: form.password || undefined,
          replace: form.replace === 'yes',
        });
        return page(reply, importReportPage(viewerOf(request), report));
      } catch (error) {
        const refused = fixable(error, [
          ...INPUT_ERRORS,
          'FORMAT_INVALID',
          'XML_FORBIDDEN_CONSTRUCT',
          'PASSWORD_REQUIRED',
          'WRONG_PASSWORD',
          'INTEGRITY_CHECK_FAILED',
          'UNSUPPORTED_ALGORITHM',
        ]);
        return page(reply, importTokensPage(viewerOf(request), refused), refused.status);
      }
    });
  });

  app.get('/tokens/assignments', { config: { permission: 'tokens.distribute' } }, async (request, reply) =>
    page(reply, assignmentsPage(viewerOf(request))),
  );

  consoleUploads(app, (uploads) => {
    uploads.post<{ Body: MultipartForm }>(
      '/tokens/assignments',
      { config: { permission: 'tokens.distribute' } },
      async (request, reply) => {
        const form = request.body ?? {};
        const text = form.file ? form.file.content.toString('utf8') : (form.csv ?? '');
        try {
          if (!text.trim()) throw invalidField('file', 'userFileMissing');
          return page(reply, assignmentReportPage(viewerOf(request), await services.assignments.importCsv(actorOf(request), text)));
        } catch (error) {
          const refused = fixable(error, [...INPUT_ERRORS, 'FORMAT_INVALID']);
          return page(reply, assignmentsPage(viewerOf(request), refused, form.file ? undefined : form.csv), refused.status);
        }
      },
    );
  });

  const showToken = async (request: FastifyRequest<TokenRoute>, reply: FastifyReply, error?: TallyError) => {
    const actor = actorOf(request);
    const details = await services.tokens.details(actor, request.params.serial);
    const history = await services.audit.list(actor, { target: request.params.serial, targetType: 'token', limit: 50 });
    const emergencyCodes = mayBeShown(actor, 'emergency-code', services.options.helpdeskCredentials ?? 'none');
    return page(
      reply,
      tokenPage(viewerOf(request, 'tokens'), { details, history, notice: noticeFrom(request), error, emergencyCodes }),
      error?.status,
    );
  };

  app.get<TokenRoute>(
    '/tokens/:serial',
    { config: { permission: 'tokens.read' }, schema: { params: SerialParams } },
    async (request, reply) => showToken(request, reply),
  );

  /** A token action that ends on the token's page, or shows the token page with what went wrong. */
  const tokenAction = <B extends Record<string, string | undefined>>(
    name: string,
    permission: Permission,
    fields: Record<string, { maxLength: number; minLength?: number }>,
    required: string[],
    act: (request: FastifyRequest<TokenRoute & { Body: B }>, reply: FastifyReply) => Promise<FastifyReply | NoticeName>,
  ) =>
    app.post<TokenRoute & { Body: B }>(
      `/tokens/:serial/${name}`,
      { config: { permission }, schema: { params: SerialParams, body: formSchema(fields, required) } },
      async (request, reply) => {
        let outcome: FastifyReply | NoticeName;
        try {
          outcome = await act(request, reply);
        } catch (error) {
          return showToken(request, reply, fixable(error, [...INPUT_ERRORS, 'DOWNLOAD_LINK_INVALID']));
        }
        return typeof outcome === 'string' ? redirect(reply, link('tokens', request.params.serial), outcome) : outcome;
      },
    );

  tokenAction<{ username: string }>(
    'assign',
    'tokens.distribute',
    { username: { maxLength: 128, minLength: 1 } },
    ['username'],
    async (request, reply) => {
      const result = await services.distribution.assign(actorOf(request), request.params.serial, request.body.username.trim());
      return distributionResultPage(request, reply, services, result, request.body.username.trim(), 'Token assigned');
    },
  );
  tokenAction<{ confirm?: string }>('reissue', 'tokens.distribute', { confirm: { maxLength: 8 } }, [], async (request, reply) => {
    if (request.body.confirm !== 'yes') throw invalidField('confirm', 'confirmReissue');
    const result = await services.distribution.reissue(actorOf(request), request.params.serial);
    const token = await services.tokens.get(actorOf(request), request.params.serial);
    return distributionResultPage(request, reply, services, result, token.username, 'Token reissued');
  });
  tokenAction('download', 'tokens.seeds', {}, [], async (request, reply) => {
    const file = await services.distribution.adminDownload(actorOf(request), request.params.serial);
    return reply
      .header('content-type', file.contentType)
      .header('content-disposition', `attachment; filename="${file.fileName}"`)
      .send(file.body);
  });
  tokenAction('enable', 'tokens.manage', {}, [], async (request) => {
    await services.tokenAdmin.setEnabled(actorOf(request), request.params.serial, true);
    return 'token-enabled';
  });
  tokenAction<{ confirm?: string }>('disable', 'tokens.manage', { confirm: { maxLength: 8 } }, [], async (request) => {
    if (request.body.confirm !== 'yes') throw invalidField('confirm', 'confirmDisable');
    await services.tokenAdmin.setEnabled(actorOf(request), request.params.serial, false);
    return 'token-disabled';
  });
  tokenAction<{ emergency: string; days: string }>(
    'lost',
    'tokens.manage',
    { emergency: { maxLength: 16 }, days: { maxLength: 4 } },
    ['emergency'],
    async (request, reply) => {
      const emergency = request.body.emergency;
      if (emergency !== 'none' && emergency !== 'one-time' && emergency !== 'fixed')
        throw invalidField('emergency', 'emergencyChoiceMissing');
      const lost = await services.tokenAdmin.reportLost(actorOf(request), request.params.serial, {
        emergency,
        days: wholeNumber('Days', request.body.days),
      });
      return page(reply, lostPage(viewerOf(request), lost));
    },
  );
  tokenAction<{ code1: string; code2: string }>(
    'resync',
    'tokens.manage',
    { code1: { maxLength: 16 }, code2: { maxLength: 16 } },
    ['code1', 'code2'],
    async (request) => {
      await services.tokenAdmin.resync(
        actorOf(request),
        request.params.serial,
        request.body.code1.replace(/\s+/g, ''),
        request.body.code2.replace(/\s+/g, ''),
      );
      return 'token-resynced';
    },
  );
  tokenAction('reset-pin', 'tokens.manage', {}, [], async (request) => {
    await services.tokenAdmin.resetPin(actorOf(request), request.params.serial);
    return 'pin-reset';
  });
  tokenAction('unlock', 'tokens.manage', {}, [], async (request) => {
    await services.tokenAdmin.unlockToken(actorOf(request), request.params.serial);
    return 'token-unlocked';
  });
  tokenAction('reset-activation', 'tokens.distribute', {}, [], async (request) => {
    await services.provisioning.resetActivationAttempts(actorOf(request), request.params.serial);
    return 'activation-reset';
  });
  tokenAction<{ confirm?: string }>('unassign', 'tokens.distribute', { confirm: { maxLength: 8 } }, [], async (request) => {
    if (request.body.confirm !== 'yes') throw invalidField('confirm', 'confirmUnassign');
    await services.distribution.unassign(actorOf(request), request.params.serial);
    return 'token-unassigned';
  });
  tokenAction<{ confirm?: string }>('delete', 'tokens.delete', { confirm: { maxLength: 8 } }, [], async (request, reply) => {
    if (request.body.confirm !== 'yes') throw invalidField('confirm', 'confirmDelete');
    await services.tokens.delete(actorOf(request), request.params.serial);
    return redirect(reply, link('tokens'), 'token-deleted');
  });
}
