import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type ErrorCode,
  errorCatalogue,
  invalidInput,
  isStoreUnreachable,
  isTallyError,
  isUnstorableText,
  STORE_RETRY_AFTER_SECONDS,
  TallyError,
  validationMessage,
} from '../errors.js';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** One schema violation as the validator reports it. */
interface SchemaViolation {
  instancePath?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/** The dotted path of the field a violation is about (`role`, `settings.digits`), if it names one. */
function fieldOf(violation: SchemaViolation | undefined): string | undefined {
  if (!violation) return undefined;
  const path = (violation.instancePath ?? '').split('/').filter(Boolean);
  const named = violation.params?.missingProperty ?? violation.params?.additionalProperty;
  if (named) path.push(named);
  return path.length ? path.join('.') : undefined;
}

/** Maps framework errors to catalogue codes; anything unknown is INTERNAL (logged, never shown). */
export function toTallyError(error: unknown): TallyError {
  if (isTallyError(error)) return error;
  const fastifyError = error as FastifyError & { validation?: SchemaViolation[]; validationContext?: string };
  if (fastifyError.validation) {
    const field = fieldOf(fastifyError.validation[0]);
    const details = { ...(field ? { field } : {}), ...(fastifyError.validationContext ? { in: fastifyError.validationContext } : {}) };
    return new TallyError('VALIDATION_FAILED', validationMessage('schemaRefused', { reason: fastifyError.message }), details);
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TallyError('MALFORMED_JSON', 'The request body is not valid JSON.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TallyError('BODY_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      // Multipart is parsed on upload routes only (http/multipart.ts); elsewhere it is refused unread.
      return new TallyError(
        'UNSUPPORTED_MEDIA_TYPE',
        'This address does not take a body of that content type: the REST API takes application/json, and only file uploads take multipart/form-data.',
      );
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new TallyError('INPUT_TOO_LARGE', 'The upload is larger than this form takes.');
    case 'FST_ERR_RATE_LIMIT_EXCEEDED':
      return new TallyError('RATE_LIMITED');
    default:
      break;
  }
  if (fastifyError.statusCode === 429) return new TallyError('RATE_LIMITED');
  if (error instanceof SyntaxError) return new TallyError('MALFORMED_JSON');
  if (isUnstorableText(error)) return invalidInput('unstorableCharacter');
  if (isStoreUnreachable(error)) return new TallyError('STORE_UNAVAILABLE', undefined, { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS });
  return new TallyError('INTERNAL');
}

/** A refusal that says when to try again (LOGON_DELAYED, STORE_UNAVAILABLE) carries it as Retry-After too. */
export function setRetryAfter(reply: FastifyReply, error: TallyError): void {
  const seconds = error.details?.retryAfterSeconds;
  if (typeof seconds === 'number') void reply.header('retry-after', String(seconds));
}

/**
 * An unexpected error is logged with its stack; a server-side refusal (the store unreachable) as a
 * warning with the driver's reason, which the client never sees.
 */
export function logRefusal(request: FastifyRequest, error: unknown, tallyError: TallyError): void {
  if (tallyError.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
  // Shedding load is counted by the HTTP metrics, not logged once per refused request.
  else if (tallyError.status >= 500 && tallyError.code !== 'OVERLOADED') {
    const cause = isTallyError(error) ? undefined : (error as Error).message;
    request.log.warn({ code: tallyError.code, msg: tallyError.message, ...(cause ? { cause } : {}) }, 'request failed');
  }
}

function errorBody(error: TallyError): ErrorBody {
  return { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } };
}

/** The JSON error envelope for every route of an app; stack traces go to the log only. */
export function installJsonErrors(app: FastifyInstance): void {
  installErrors(app, {});
}

/** Whether the client is a browser that would rather read a page than JSON. */
function prefersHtml(request: FastifyRequest): boolean {
  return /\btext\/html\b/.test(request.headers.accept ?? '');
}

/**
 * Every error of an app, mapped once: the JSON envelope, or with `htmlPage` an HTML page for
 * browsers (the public listener, whose links people open). Stack traces go to the log only.
 */
export function installErrors(app: FastifyInstance, options: { htmlPage?: (error: TallyError) => string }): void {
  const send = (request: FastifyRequest, reply: FastifyReply, tallyError: TallyError) => {
    setRetryAfter(reply, tallyError);
    if (options.htmlPage && prefersHtml(request))
      void reply.status(tallyError.status).type('text/html; charset=utf-8').send(options.htmlPage(tallyError));
    else void reply.status(tallyError.status).send(errorBody(tallyError));
  };
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const tallyError = toTallyError(error);
    logRefusal(request, error, tallyError);
    send(request, reply, tallyError);
  });
  app.setNotFoundHandler((request, reply) => {
    send(request, reply, new TallyError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`));
  });
}

export const errorResponseSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', enum: Object.keys(errorCatalogue) },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;
