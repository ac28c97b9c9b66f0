import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseUsernameList } from '../../../../domain/bulk-distribution.js';
import { parseDirectoryGroup } from '../../../../domain/directory.js';
import type { Services } from '../../../../domain/services.js';
import { type ErrorCode, invalidField, type TallyError } from '../../../../errors.js';
import { BULK_ITEM_RESULTS, type BulkItemResult } from '../../../../model/vocabulary.js';
import { formSchema } from '../../../web/console.js';
import { actorOf, consoleUploads, fixable, IdParams, INPUT_ERRORS, type MultipartForm, page, viewerOf } from '../http.js';
import { BULK_ITEMS_PAGE, bulkPage, bulkRunPage } from '../views/bulk.js';
import { link } from '../views/kit.js';

const RunQuery = {
  type: 'object',
  properties: { result: { type: 'string', enum: BULK_ITEM_RESULTS }, offset: { type: 'string', pattern: '^[0-9]{0,9}$' } },
  additionalProperties: false,
} as const;
type RunQueryString = { result?: BulkItemResult; offset?: string };
/** Why a credentials file is not given, shown on the run's page. */
const CREDENTIALS_REFUSALS: ErrorCode[] = ['BULK_CREDENTIALS_DOWNLOADED', 'BULK_CREDENTIALS_EXPIRED', 'CONFLICT', 'FORBIDDEN'];
/** How often the progress page reloads itself while a run goes on. */
const REFRESH_SECONDS = 2;

/** Bulk distribution: a token for each user of a list, with a progress page and a report per user. */
export function bulkRoutes(app: FastifyInstance, services: Services): void {
  const showForm = async (actor: ReturnType<typeof actorOf>) => ({
    profiles: await services.profiles.list(actor),
    runs: await services.bulk.list(actor),
  });

  app.get('/bulk', { config: { permission: 'tokens.read' } }, async (request, reply) =>
    page(reply, bulkPage(viewerOf(request), await showForm(actorOf(request)))),
  );

  consoleUploads(app, (uploads) => {
    uploads.post<{ Body: MultipartForm }>('/bulk', { config: { permission: 'tokens.distribute' } }, async (request, reply) => {
      const form = request.body ?? {};
      // Each list on its own: a file's header is its first line, not a line after the typed names.
      const usernames = [...parseUsernameList(form.usernames ?? ''), ...parseUsernameList(form.file?.content.toString('utf8') ?? '')];
      const group = (form.group ?? '').trim();
      try {
        if (group !== '' && usernames.length > 0) throw invalidField('group', 'bulkUsernamesOrGroup');
        const bulk =
          group === ''
            ? await services.bulk.start(actorOf(request), form.profile ?? '', usernames)
            : await services.bulk.startForGroup(actorOf(request), form.profile ?? '', parseDirectoryGroup(group));
        return reply.redirect(link('bulk', bulk.id), 303);
      } catch (error) {
        const refused = fixable(error, [...INPUT_ERRORS, 'DIRECTORY_UNAVAILABLE', 'IDENTITY_SOURCE_NOT_FOUND']);
        return page(
          reply,
          bulkPage(viewerOf(request), {
            ...(await showForm(actorOf(request))),
            form: { profile: form.profile, usernames: form.usernames, group: form.group },
            error: refused,
          }),
          refused.status,
        );
      }
    });
  });

  const runPage = async (request: FastifyRequest, id: number, query: RunQueryString, error?: TallyError) => {
    const actor = actorOf(request);
    const offset = Number(query.offset || 0);
    const bulk = await services.bulk.get(actor, id);
    const items = await services.bulk.items(actor, id, { result: query.result, limit: BULK_ITEMS_PAGE + 1, offset });
    return {
      bulk,
      page: bulkRunPage(viewerOf(request, 'tokens'), {
        bulk,
        items: items.slice(0, BULK_ITEMS_PAGE),
        result: query.result ?? 'all',
        offset,
        more: items.length > BULK_ITEMS_PAGE,
        error,
      }),
    };
  };

  app.get<{ Params: { id: string }; Querystring: RunQueryString }>(
    '/bulk/:id',
    { config: { permission: 'tokens.read' }, schema: { params: IdParams, querystring: RunQuery } },
    async (request, reply) => {
      const shown = await runPage(request, Number(request.params.id), request.query);
      // A refresh header, not a script: the page follows the run with scripts off, under the strict CSP.
      if (shown.bulk.state === 'running') void reply.header('refresh', String(REFRESH_SECONDS));
      return page(reply, shown.page);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/bulk/:id/credentials',
    { config: { permission: 'tokens.distribute' }, schema: { params: IdParams, body: formSchema({}) } },
    async (request, reply) => {
      const id = Number(request.params.id);
      try {
        const file = await services.bulk.downloadCredentials(actorOf(request), id);
        return reply
          .header('content-type', file.contentType)
          .header('content-disposition', `attachment; filename="${file.fileName}"`)
          .header('cache-control', 'no-store')
          .send(file.body);
      } catch (error) {
        const refused = fixable(error, CREDENTIALS_REFUSALS);
        return page(reply, (await runPage(request, id, {}, refused)).page, refused.status);
      }
    },
  );

  app.post<{ Params: { id: string } }>(
    '/bulk/:id/resume',
    { config: { permission: 'tokens.distribute' }, schema: { params: IdParams, body: formSchema({}) } },
    async (request, reply) => {
      await services.bulk.resume(actorOf(request), Number(request.params.id));
      return reply.redirect(link('bulk', request.params.id), 303);
    },
  );
}
