import { type Logger, type LoggerOptions, pino } from 'pino';

/**
 * JSON logs through pino. Secrets never reach a log: every field named below is censored at any
 * depth pino can address, and adapters log only what they choose (no bodies).
 */
export const REDACTED_KEYS = [
  'password',
  'newPassword',
  'passcode',
  'otp',
  'tokencode',
  'pin',
  'newPin',
  'seed',
  'secret',
  'activationCode',
  'authorization',
  'cookie',
  'token',
  'filePassword',
  'masterKey',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of REDACTED_KEYS) {
    paths.push(key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`);
  }
  paths.push('req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]');
  return paths;
}

/** Paths whose next segment is a one-time secret (a download link's token). */
const ONE_TIME_PATHS = ['/download/'] as const;
const SECRET_QUERY = new RegExp(`([?&](?:${REDACTED_KEYS.join('|')})=)[^&#]*`, 'gi');

/**
 * A request URL as logs may show it: the token of a one-time link becomes `[redacted]`
 * (`/download/[redacted]`), and so does the value of a query parameter named like a secret.
 */
export function redactUrl(url: string): string {
  let out = url;
  for (const prefix of ONE_TIME_PATHS) {
    const at = out.indexOf(prefix);
    if (at < 0) continue;
    const start = at + prefix.length;
    const end = out.slice(start).search(/[/?#]/);
    out = `${out.slice(0, start)}[redacted]${end < 0 ? '' : out.slice(start + end)}`;
  }
  return out.replace(SECRET_QUERY, '$1[redacted]');
}

interface LoggedRequest {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  socket?: { remotePort?: number };
}

/**
 * Fastify's own request serializer (it logs `req` on every incoming request), with the URL
 * passed through `redactUrl`. Given to the root logger, it wins over fastify's default.
 */
function serializeRequest(request: LoggedRequest) {
  return {
    method: request.method,
    url: typeof request.url === 'string' ? redactUrl(request.url) : request.url,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths(), censor: '[redacted]' },
    serializers: { req: serializeRequest },
    base: { service: 'tally' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

export type { Logger };
