/**
 * `tally token activate`: the client side of CT-KIP in the SecurID dialect (ctkip.md), two HTTP
 * POSTs to the service URL, as the SecurID apps and `rsa_ct_kip` make them. The message work is
 * core/ctkip's; this file is the transport and the order of the steps.
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../core/crypto/random.js';
import { type ActivatedToken, clientFinish, clientHello, clientNonce, NONCE_BYTES } from '../core/ctkip/exchange.js';
import { parseAppLink } from '../core/ctkip/links.js';
import {
  buildClientRequest,
  DEFAULT_CLIENT_PROVISIONING_DATA,
  MAX_MESSAGE_BYTES,
  parseServerFinished,
  parseServerHello,
  parseServerProvisioningData,
  parseServerResponse,
  type ServerResponse,
  type SoapFault,
} from '../core/ctkip/messages.js';
import { checkSecurIdToken, type SecurIdToken } from '../core/securid/index.js';
import { invalidInput, TallyError } from '../errors.js';

export interface ActivationTarget {
  serviceUrl: string;
  activationCode: string;
}

const ACTIVATION_CODE = /^[\x21-\x7e]{1,256}$/;

/**
 * The service URL and code from what the user gave: a plain URL or an app link, and the code
 * separately or inside the link (`com.rsa.securid://ctkip?...&activationCode=...`).
 */
export function activationTarget(urlOrLink: string, activationCode?: string): ActivationTarget {
  const link = parseAppLink(urlOrLink);
  if (link.kind === 'ctf') {
    throw new TallyError('FORMAT_INVALID', 'This link carries a token (ctfData), not an activation; use `tally token import`.');
  }
  const given = activationCode?.trim();
  if (given && link.activationCode && given !== link.activationCode) {
    throw invalidInput('activationCodeDiffers');
  }
  const code = given || link.activationCode;
  if (!code) throw invalidInput('activationCodeMissing');
  // The code goes into an HTTP header, so it may hold no spaces or control characters.
  if (!ACTIVATION_CODE.test(code)) throw invalidInput('activationCodeShape');
  return { serviceUrl: link.serviceUrl, activationCode: code };
}

export interface ActivationOptions {
  fetch?: typeof fetch;
  /** Per request; default 30 s. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

type SoapAction = 'StartService' | 'ServerFinished';

/**
 * The server's own words, minus the activation code in case it repeats what it was sent, and minus
 * control characters, which a terminal would act on.
 */
function faultMessage(fault: SoapFault | undefined, status: unknown, code: string): string {
  if (fault) {
    const reason = fault.reason
      .split(code)
      .join('[activation code]')
      .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
    return `The CT-KIP server refused the activation: ${reason}`;
  }
  return `The CT-KIP server refused the activation (status ${typeof status === 'string' && status ? status : 'unknown'}).`;
}

/** Turns the core's fault error into one whose message carries the server's reason. */
function explained<T>(step: () => T, code: string): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof TallyError && error.code === 'CTKIP_SERVER_FAULT') {
      throw new TallyError(
        'CTKIP_SERVER_FAULT',
        faultMessage(error.details?.fault as SoapFault | undefined, error.details?.status, code),
        error.details,
      );
    }
    if (
      error instanceof TallyError &&
      (error.code === 'FORMAT_INVALID' || error.code === 'XML_FORBIDDEN_CONSTRUCT' || error.code === 'INPUT_TOO_LARGE')
    ) {
      throw new TallyError('CTKIP_BAD_MESSAGE', `The server's answer is not a CT-KIP message: ${error.message}`);
    }
    throw error;
  }
}

async function readBounded(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_MESSAGE_BYTES)
    throw new TallyError('CTKIP_BAD_MESSAGE', `The server's answer is larger than ${MAX_MESSAGE_BYTES} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > MAX_MESSAGE_BYTES)
        throw new TallyError('CTKIP_BAD_MESSAGE', `The server's answer is larger than ${MAX_MESSAGE_BYTES} bytes.`);
      chunks.push(Buffer.from(chunk));
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

function unreachable(serviceUrl: string, error: unknown, timeoutMs: number): TallyError {
  const where = new URL(serviceUrl).origin;
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new TallyError('CTKIP_UNREACHABLE', `The CT-KIP server at ${where} did not answer within ${timeoutMs / 1000} s.`);
  }
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const why = cause?.message ?? cause?.code ?? (error as Error).message;
  return new TallyError('CTKIP_UNREACHABLE', `Cannot reach the CT-KIP server at ${where}: ${why}.`);
}

/** One POST: the SOAP envelope in, the server's response envelope out (faults thrown as CTKIP_SERVER_FAULT). */
async function post(target: ActivationTarget, action: SoapAction, request: string, options: ActivationOptions): Promise<ServerResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const body = buildClientRequest({ authData: target.activationCode, provisioningData: DEFAULT_CLIENT_PROVISIONING_DATA, request });
  let response: Response;
  let text: string;
  try {
    response = await (options.fetch ?? fetch)(target.serviceUrl, {
      method: 'POST',
      headers: {
        Authorization: target.activationCode,
        SOAPAction: action,
        'Content-Type': 'application/vnd.otps.ct-kip',
        'User-Agent': 'HTTPPOST',
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await readBounded(response);
  } catch (error) {
    if (error instanceof TallyError) throw error;
    throw unreachable(target.serviceUrl, error, timeoutMs);
  }
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get('location');
    throw new TallyError(
      'CTKIP_SERVER_FAULT',
      `The CT-KIP server answered HTTP ${response.status}, a redirect${location ? ` to ${location}` : ''}; activate with that URL.`,
    );
  }
  const statusError = () =>
    new TallyError('CTKIP_SERVER_FAULT', `${`The CT-KIP server answered HTTP ${response.status} ${response.statusText}`.trimEnd()}.`);
  // Servers are meant to send faults with HTTP 200, but one that sends them with a 500 still says why.
  let answer: ServerResponse;
  try {
    answer = explained(() => parseServerResponse(text), target.activationCode);
  } catch (error) {
    if (response.ok || (error instanceof TallyError && error.code === 'CTKIP_SERVER_FAULT')) throw error;
    throw statusError();
  }
  if (!response.ok) throw statusError();
  if (!constantTimeEqual(answer.authData, target.activationCode)) {
    throw new TallyError('CTKIP_BAD_MESSAGE', 'The CT-KIP server answered for another activation code.');
  }
  return answer;
}

function toSecurIdToken(activated: ActivatedToken): SecurIdToken {
  const token: SecurIdToken = {
    serial: activated.serial.padStart(12, '0'),
    seed: activated.seed,
    digits: activated.digits,
    period: activated.period,
    addPin: activated.addPin,
    localPin: false,
    expiresOn: activated.expiresOn,
    ...(activated.userId ? { userLogin: activated.userId } : {}),
  };
  try {
    checkSecurIdToken(token);
  } catch (error) {
    throw new TallyError('CTKIP_BAD_MESSAGE', `The server's token cannot be used: ${(error as Error).message}`);
  }
  return token;
}

/**
 * Runs the exchange: ClientHello → ServerHello, ClientNonce → ServerFinished, then checks the
 * server's MAC before anything is returned. The seed is derived on both sides and never sent.
 */
export async function activateToken(target: ActivationTarget, options: ActivationOptions = {}): Promise<SecurIdToken> {
  const code = target.activationCode;
  const first = await post(target, 'StartService', clientHello(), options);
  const hello = explained(() => parseServerHello(first.response), code);
  const { requestXml, session } = explained(() => clientNonce({ hello, clientNonce: randomBytes(NONCE_BYTES) }), code);

  const second = await post(target, 'ServerFinished', requestXml, options);
  const activated = explained(
    () =>
      clientFinish({
        session,
        message: parseServerFinished(second.response),
        pin: parseServerProvisioningData(second.provisioningData),
      }),
    code,
  );
  return toSecurIdToken(activated);
}
