import { pino, type Logger, type LoggerOptions } from 'pino';

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

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths(), censor: '[redacted]' },
    base: { service: 'tally' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

export type { Logger };
