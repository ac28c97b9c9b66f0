import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What an incoming X-Request-Id may be to be kept: up to 128 characters that are safe in a log
 * line, a CSV cell and a header (letters, digits, `. _ : + / = -`), starting with a letter or digit
 * (so a spreadsheet never reads it as a formula). UUIDs, hex and base64 ids all pass.
 */
const WELL_FORMED = /^[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}$/;

/**
 * The id of a request: the one a proxy or client sent in X-Request-Id when it is well formed (so
 * one id follows a request through the load balancer and every node), else a fresh random UUID,
 * unique across listeners and nodes.
 */
export function requestIdFor(request: Pick<IncomingMessage, 'headers'>): string {
  const sent = request.headers[REQUEST_ID_HEADER];
  return typeof sent === 'string' && WELL_FORMED.test(sent) ? sent : randomUUID();
}
