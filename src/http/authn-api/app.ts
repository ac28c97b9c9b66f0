import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeAuthnRequest, encodeAuthnResponse, encodeRefusal, type RefusalReason } from '../../core/rsa-authn/messages.js';
import { SIGNATURE_HEADER } from '../../core/rsa-authn/signature.js';
import type { Services } from '../../domain/services.js';
import type { ErrorCode } from '../../errors.js';
import { toTallyError } from '../errors.js';
import { createFastify, type ListenerOptions } from '../fastify.js';

export const AUTHN_API_PREFIX = '/mfa/v1_1/authn';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as sent: a signature signs these bytes, not their parse. */
    rawBody?: string;
  }
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** How each refusal is told to an agent: RSA's response shape with a reason code, never Tally's message or a detail. */
const REFUSALS: Partial<Record<ErrorCode, RefusalReason>> = {
  AUTHN_AGENT_DENIED: 'ACCESS_DENIED',
  AUTHN_ATTEMPT_NOT_CONTINUABLE: 'ATTEMPT_NOT_CONTINUABLE',
  VALIDATION_FAILED: 'INVALID_REQUEST',
  MALFORMED_JSON: 'INVALID_REQUEST',
  UNSUPPORTED_MEDIA_TYPE: 'INVALID_REQUEST',
  BODY_TOO_LARGE: 'INVALID_REQUEST',
  // The authentication service's queue is full: the agent may send again.
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
};

/**
 * The RSA SecurID Authentication API listener: `initialize`, `verify` and `cancel`, each decoded by
 * `core/rsa-authn`, the agent checked by its `client-key`, then one call to `services.authnApi`.
 * The body is decoded there rather than by a route schema: agents send fields Tally does not read
 * (`keepAttempt`, `authnAttemptTimeout`, ...), and the decoder reads only what it names.
 */
export async function buildAuthnApiApp(services: Services, options: ListenerOptions): Promise<FastifyInstance> {
  const app = createFastify({ ...options, bodyLimit: options.bodyLimit ?? 16_384 });
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const tallyError = toTallyError(error);
    const reason = REFUSALS[tallyError.code];
    if (!reason) request.log.error({ err: error }, 'authn-api request failed');
    return reply.status(reason ? tallyError.status : 500).send(encodeRefusal(reason ?? 'SERVER_ERROR'));
  });
  app.setNotFoundHandler((_request, reply) => reply.status(404).send(encodeRefusal('INVALID_REQUEST')));
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.get('/healthz', async () => ({ status: 'ok' }));

  for (const call of ['initialize', 'verify', 'cancel'] as const) {
    app.post(`${AUTHN_API_PREFIX}/${call}`, async (request) => {
      const message = decodeAuthnRequest(request.body, call);
      const agent = await services.authnApi.authenticateAgent(message.clientId, header(request, 'client-key'), request.ip, {
        method: request.method,
        path: request.url.split('?')[0] ?? request.url,
        date: header(request, 'date'),
        body: request.rawBody ?? '',
        signature: header(request, SIGNATURE_HEADER),
      });
      const { context, outcome } = await services.authnApi[call](agent, message);
      return encodeAuthnResponse(context, outcome);
    });
  }
  return app;
}
