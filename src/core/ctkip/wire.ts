import type { ErrorCode } from '../../errors.js';
import { findDescendant, parseStrictXml } from '../xml/strict.js';
import {
  buildServerFinished,
  buildServerHello,
  buildServerProvisioningData,
  buildServerResponse,
  buildSoapFault,
  type ClientMessage,
  faultReasonFor,
  type PinSettings,
  parseClientMessage,
  parseClientRequest,
  type ServerFinishedFields,
  type ServerHelloFields,
} from './messages.js';

/**
 * The server side of the wire: one CT-KIP POST body decoded into a typed request, and typed
 * replies and faults encoded into the SOAP documents to send back. The HTTP adapter uses these;
 * the domain sees only the typed values.
 */

/** A client's SOAP request, decoded. */
export interface DecodedClientRequest {
  /** The activation code as the envelope's AuthData carries it (trimmed). */
  activationCode: string;
  /** The client's description of itself (clientVersion, clientManufacturer, clientFormFactor), for the audit trail only. */
  client: Record<string, string>;
  /** The client's ProvisioningData document, which the first response echoes. */
  provisioningData: string;
  /** The inner message, ClientHello or ClientNonce. */
  message: ClientMessage;
}

/** What the server answers: a ServerHello to a ClientHello, a ServerFinished with the PIN settings to a ClientNonce. */
export type ServerReply =
  | { type: 'ServerHello'; hello: ServerHelloFields }
  | { type: 'ServerFinished'; finished: ServerFinishedFields; pin: PinSettings };

/** Decodes the envelope and its inner message; malformed input is a typed error (CTKIP_BAD_MESSAGE, FORMAT_INVALID…). */
export function decodeClientRequest(body: string | Uint8Array): DecodedClientRequest {
  const envelope = parseClientRequest(body);
  const message = parseClientMessage(envelope.request);
  return {
    activationCode: envelope.authData,
    client: clientSoftware(envelope.provisioningData),
    provisioningData: envelope.provisioningData,
    message,
  };
}

/**
 * The SOAP response to `request`. Both echo its AuthData; a ServerHello also echoes its
 * ProvisioningData, a ServerFinished carries the PIN settings instead.
 */
export function encodeServerReply(request: DecodedClientRequest, reply: ServerReply): string {
  const authData = request.activationCode;
  if (reply.type === 'ServerHello') {
    return buildServerResponse({ authData, provisioningData: request.provisioningData, response: buildServerHello(reply.hello) });
  }
  return buildServerResponse({
    authData,
    provisioningData: buildServerProvisioningData(reply.pin),
    response: buildServerFinished(reply.finished),
  });
}

/**
 * The SOAP fault for a refusal, sent with HTTP 200: RSA's own reason for a wrong activation code,
 * otherwise the stable code and the catalogue's message (never the thrown error's own message).
 */
export function encodeFault(code: ErrorCode): string {
  return buildSoapFault(faultReasonFor(code));
}

/** The client's own description of itself (version, maker), for the audit trail only; never refuses. */
function clientSoftware(provisioningData: string): Record<string, string> {
  try {
    const root = parseStrictXml(provisioningData, { maxBytes: 4096, maxDepth: 4 });
    const facts: Record<string, string> = {};
    for (const name of ['Version', 'Manufacturer', 'FormFactor']) {
      const text = findDescendant(root, name)?.text.trim();
      if (text) facts[`client${name}`] = text.slice(0, 64);
    }
    return facts;
  } catch {
    return {};
  }
}
