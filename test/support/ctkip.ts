import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { type ActivatedToken, type ClientSession, clientFinish, clientHello, clientNonce } from '../../src/core/ctkip/exchange.js';
import {
  buildClientRequest,
  DEFAULT_CLIENT_PROVISIONING_DATA,
  parseServerFinished,
  parseServerHello,
  parseServerProvisioningData,
  parseServerResponse,
  parseSoapFault,
} from '../../src/core/ctkip/messages.js';

export const CTKIP_URL = '/ctkip/services/CtkipService';

/** One POST, as the SecurID apps send it. Returns the HTTP status and the SOAP body. */
export async function postCtkip(
  app: FastifyInstance,
  code: string,
  innerXml: string,
  action: 'StartService' | 'ServerFinished',
  remoteAddress = '127.0.0.1',
): Promise<{ status: number; body: string; contentType: string }> {
  const response = await app.inject({
    method: 'POST',
    remoteAddress,
    url: CTKIP_URL,
    headers: { authorization: code, soapaction: action, 'content-type': 'application/vnd.otps.ct-kip', 'user-agent': 'HTTPPOST' },
    payload: buildClientRequest({ authData: code, provisioningData: DEFAULT_CLIENT_PROVISIONING_DATA, request: innerXml }),
  });
  return { status: response.statusCode, body: response.body, contentType: String(response.headers['content-type']) };
}

/** The fault's reason, or undefined when the body is no fault. */
export function faultReason(body: string): string | undefined {
  return body.includes('Fault>') ? parseSoapFault(body).reason : undefined;
}

/** First pass: ClientHello → the client's session state (or the fault reason). */
export async function startExchange(
  app: FastifyInstance,
  code: string,
  remoteAddress?: string,
): Promise<{ session?: ClientSession; requestXml?: string; fault?: string }> {
  const first = await postCtkip(app, code, clientHello(), 'StartService', remoteAddress);
  const fault = faultReason(first.body);
  if (fault) return { fault };
  const hello = parseServerHello(parseServerResponse(first.body).response);
  const { requestXml, session } = clientNonce({ hello, clientNonce: randomBytes(16) });
  return { session, requestXml };
}

/** Second pass: ClientNonce → the token the client derived (or the fault reason). */
export async function finishExchange(
  app: FastifyInstance,
  code: string,
  session: ClientSession,
  requestXml: string,
  remoteAddress?: string,
): Promise<{ token?: ActivatedToken; fault?: string }> {
  const second = await postCtkip(app, code, requestXml, 'ServerFinished', remoteAddress);
  const fault = faultReason(second.body);
  if (fault) return { fault };
  const response = parseServerResponse(second.body);
  if (response.authData !== code) throw new Error('AuthData not echoed');
  return {
    token: clientFinish({
      session,
      message: parseServerFinished(response.response),
      pin: parseServerProvisioningData(response.provisioningData),
    }),
  };
}

/** A whole activation, from `remoteAddress` (127.0.0.1 unless given). */
export async function activate(
  app: FastifyInstance,
  code: string,
  remoteAddress?: string,
): Promise<{ token?: ActivatedToken; fault?: string }> {
  const started = await startExchange(app, code, remoteAddress);
  if (!started.session || !started.requestXml) return { fault: started.fault };
  return finishExchange(app, code, started.session, started.requestXml, remoteAddress);
}
