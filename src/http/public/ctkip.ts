import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { MAX_MESSAGE_BYTES } from '../../core/ctkip/messages.js';
import { decodeClientRequest, encodeFault, encodeServerReply, type ServerReply } from '../../core/ctkip/wire.js';
import { CTKIP_PATH } from '../../domain/distribution.js';
import type { Services } from '../../domain/services.js';
import { toTallyError } from '../errors.js';
import { sharedRateLimitStore } from '../web/shared-rate-limit.js';

/**
 * CT-KIP at /ctkip/services/CtkipService: decode the SOAP request, call the provisioning service,
 * encode its answer. Every answer is HTTP 200 with text/xml, faults included: token apps raise on
 * a non-2xx status before they read the reason (spec/ctkip.md). Every refusal, from the decoder,
 * the service or the rate limit, reaches the one error handler below, which is the only place a
 * fault is built. Requests are limited per client address (`rateLimit` a minute), counted in the
 * store across nodes; a request over the limit gets a RATE_LIMITED fault before its body is read.
 */
export async function ctkipRoutes(app: FastifyInstance, services: Services, settings: { rateLimit: number }): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(rateLimit, { global: false, store: sharedRateLimitStore(services.rateLimits) });
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_MESSAGE_BYTES }, (_request, body, done) => done(null, body));
    scope.setErrorHandler((error, request, reply) => {
      const tallyError = toTallyError(error);
      if (tallyError.code === 'INTERNAL') request.log.error({ err: error }, 'CT-KIP request failed');
      const code = tallyError.code === 'BODY_TOO_LARGE' ? 'INPUT_TOO_LARGE' : tallyError.code;
      services.observer.ctkip('refused', code);
      void reply.status(200).type('text/xml; charset=utf-8').send(encodeFault(code));
    });
    scope.post(CTKIP_PATH, { config: { rateLimit: { max: settings.rateLimit, timeWindow: 60_000 } } }, async (request, reply) => {
      // Set first: the error handler keeps it, so a refusal of a read request is not cached either.
      void reply.header('cache-control', 'no-store');
      const decoded = decodeClientRequest(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      const common = { activationCode: decoded.activationCode, client: decoded.client, source: request.ip, requestId: request.id };
      let answer: ServerReply;
      if (decoded.message.type === 'ClientHello')
        answer = { type: 'ServerHello', hello: await services.provisioning.hello({ ...common, message: decoded.message }) };
      else {
        answer = { type: 'ServerFinished', ...(await services.provisioning.finish({ ...common, message: decoded.message })) };
        services.observer.ctkip('activated');
      }
      return reply.status(200).type('text/xml; charset=utf-8').header('cache-control', 'no-store').send(encodeServerReply(decoded, answer));
    });
  });
}
