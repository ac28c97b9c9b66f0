import type { FastifyInstance } from 'fastify';
import type { Services } from '../../domain/services.js';
import { downloadPage } from './self-service/views.js';

type LinkRoute = { Params: { token: string } };

const LINK_PARAMS = {
  type: 'object',
  properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]{20,64}$' } },
  required: ['token'],
} as const;
/** The Download button's form has no fields; a browser still sends it as a (tiny) urlencoded body. */
const BUTTON_BODY_LIMIT = 1024;

/**
 * One-time token file downloads. `GET` (and `HEAD`) `/download/<token>` answer a page with a
 * `Download` button and change nothing, so mail scanners and link previews, which follow links,
 * do not use them up; the button's `POST` to the same address redeems the link and hands the file
 * to the first caller only.
 */
export async function downloadRoutes(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: BUTTON_BODY_LIMIT },
      (_request, _body, done) => done(null, undefined),
    );

    scope.get<LinkRoute>('/download/:token', { schema: { params: LINK_PARAMS } }, async (request, reply) => {
      const link = await services.distribution.checkDownload(request.params.token);
      return (
        reply
          .type('text/html; charset=utf-8')
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer')
          // Relative to the page's own address, so it holds behind a proxy that adds a path.
          .send(downloadPage({ csrfToken: '' }, { action: request.params.token, expiresAt: link.expiresAt }).text)
      );
    });

    scope.post<LinkRoute>('/download/:token', { schema: { params: LINK_PARAMS } }, async (request, reply) => {
      const file = await services.distribution.redeemDownload(
        { kind: 'anonymous', name: 'download link', role: 'user', source: request.ip, requestId: request.id },
        request.params.token,
      );
      return reply
        .header('content-type', file.contentType)
        .header('content-disposition', `attachment; filename="${file.fileName}"`)
        .header('cache-control', 'no-store')
        .send(file.body);
    });
  });
}
