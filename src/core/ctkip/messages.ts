import { type ErrorCode, errorCatalogue, invalidInput, TallyError } from '../../errors.js';
import { childNamed, childrenNamed, escapeXml, findDescendant, localName, parseStrictXml, type XmlElement } from '../xml/strict.js';

const NS = {
  soapEnvelope: 'http://schemas.xmlsoap.org/soap/envelope/',
  ctkipService: 'http://ctkipservice.rsasecurity.com',
  ctkip200511: 'http://www.rsasecurity.com/rsalabs/otps/schemas/2005/11/ct-kip#',
  ctkip200512: 'http://www.rsasecurity.com/rsalabs/otps/schemas/2005/12/ct-kip#',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xsd: 'http://www.w3.org/2001/XMLSchema',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
} as const;

export const ALGORITHM = {
  securidAes: 'http://www.rsasecurity.com/rsalabs/otps/schemas/2005/09/otps-wst#SecurID-AES',
  /** Advertised by both sides although the nonce is really encrypted with RSAES-OAEP (SHA-1). */
  rsa15: 'http://www.w3.org/2001/04/xmlenc#rsa-1_5',
  prfAes200511: `${NS.ctkip200511}ct-kip-prf-aes`,
  prfAes200512: `${NS.ctkip200512}ct-kip-prf-aes`,
} as const;

/**
 * Envelopes and inner messages are a few kilobytes; anything far larger is refused before parsing.
 * The HTTP adapter can use the same bound for its body limit.
 */
export const MAX_MESSAGE_BYTES = 65_536;

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const SERVICE_ID = 'RSA CT-KIP';

// ---------------------------------------------------------------------------------------------
// Decoding helpers

function bad(message: string): TallyError {
  return new TallyError('CTKIP_BAD_MESSAGE', message);
}

/** Base64 as CT-KIP peers write it: line breaks and spaces anywhere are fine, anything else is not. */
export function decodeBase64(text: string, what: string): Buffer {
  const compact = text.replace(/[\t\n\r ]+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw bad(`${what} is not valid base64.`);
  }
  return Buffer.from(compact, 'base64');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeBase64Text(text: string, what: string): string {
  const bytes = decodeBase64(text, what);
  try {
    return utf8.decode(bytes);
  } catch {
    throw bad(`${what} is not UTF-8 text.`);
  }
}

function parse(xml: string | Uint8Array): XmlElement {
  return parseStrictXml(xml, { maxBytes: MAX_MESSAGE_BYTES });
}

function expectRoot(root: XmlElement, name: string): void {
  if (localName(root.name) !== name) throw bad(`Expected a ${name} message.`);
}

function required(parent: XmlElement, name: string): XmlElement {
  const child = childNamed(parent, name);
  if (!child) throw bad(`The ${localName(parent.name)} element has no ${name}.`);
  return child;
}

function requiredAttribute(element: XmlElement, name: string): string {
  const value = element.attributes[name]?.trim();
  if (!value) throw bad(`The ${localName(element.name)} element has no ${name} attribute.`);
  return value;
}

function optionalText(parent: XmlElement, name: string): string | undefined {
  return childNamed(parent, name)?.text.trim();
}

function parseCount(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text.trim())) throw bad(`${what} is not a number.`);
  return Number(text.trim());
}

// ---------------------------------------------------------------------------------------------
// Serialising

type Attributes = ReadonlyArray<readonly [string, string]>;

interface Node {
  name: string;
  attributes?: Attributes;
  text?: string;
  children?: Node[];
}

/**
 * `lineBreaks` gives the fake server's layout, which the official apps were reported to accept: a
 * newline after every end tag and empty-element tag below the root, and none after the root.
 */
function render(node: Node, lineBreaks: boolean): string {
  const attributes = (node.attributes ?? []).map(([key, value]) => ` ${key}="${escapeXml(value)}"`).join('');
  if (node.children) {
    const inner = node.children.map((child) => render(child, lineBreaks) + (lineBreaks ? '\n' : '')).join('');
    return `<${node.name}${attributes}>${inner}</${node.name}>`;
  }
  if (node.text === undefined) return `<${node.name}${attributes}/>`;
  return `<${node.name}${attributes}>${escapeXml(node.text)}</${node.name}>`;
}

// The fake server repeats these declarations on most elements; the apps' layout sensitivity makes
// copying them exactly the safe choice.
const DS_XSI: Attributes = [
  ['xmlns:ds', NS.ds],
  ['xmlns:xsi', NS.xsi],
];
const UNQUALIFIED: Attributes = [['xmlns', '']];
const UNQUALIFIED_DS_XSI: Attributes = [...UNQUALIFIED, ...DS_XSI];
const CTKIP12_DS_XSI: Attributes = [['xmlns', NS.ctkip200512], ...DS_XSI];

/** Base64 on one line followed by a newline, as both the Python client and the fake server send it. */
function base64Line(data: Uint8Array): string {
  return `${Buffer.from(data).toString('base64')}\n`;
}

function base64(data: Uint8Array): string {
  return Buffer.from(data).toString('base64');
}

// ---------------------------------------------------------------------------------------------
// SOAP envelopes

export interface ClientRequest {
  /** The activation code as the body carries it. */
  authData: string;
  /** The client's informational ProvisioningData document, decoded (checked to be well-formed). */
  provisioningData: string;
  /** The inner CT-KIP message (ClientHello or ClientNonce), decoded. */
  request: string;
}

export interface ServerResponse {
  authData: string;
  provisioningData: string;
  response: string;
}

function soapBody(xml: string | Uint8Array): XmlElement {
  const root = parse(xml);
  expectRoot(root, 'Envelope');
  return required(root, 'Body');
}

function wellFormed(xml: string): string {
  parse(xml);
  return xml;
}

export function parseClientRequest(xml: string | Uint8Array): ClientRequest {
  const request = required(soapBody(xml), 'ClientRequest');
  const provisioningData = decodeBase64Text(required(request, 'ProvisioningData').text, 'ProvisioningData');
  return {
    authData: required(request, 'AuthData').text.trim(),
    // Checked because the first response echoes it and the client XML-parses what it gets back.
    provisioningData: wellFormed(provisioningData),
    request: decodeBase64Text(required(request, 'Request').text, 'Request'),
  };
}

/**
 * The layout the `rsa_ct_kip` client sends, which RSA's own servers accept; Tally's client keeps
 * it byte for byte rather than guess what else they would take.
 */
export function buildClientRequest(request: ClientRequest): string {
  return (
    `${XML_DECLARATION}\n` +
    `      <soapenv:Envelope xmlns:soapenv="${NS.soapEnvelope}" xmlns:xsd="${NS.xsd}" xmlns:xsi="${NS.xsi}">\n` +
    `        <soapenv:Body>\n` +
    `          <ClientRequest xmlns="${NS.ctkipService}">\n` +
    `            <AuthData >${escapeXml(request.authData)}</AuthData>\n` +
    `            <ProvisioningData>${base64Line(Buffer.from(request.provisioningData, 'utf8'))}</ProvisioningData>\n` +
    `            <Request>${base64Line(Buffer.from(request.request, 'utf8'))}</Request>\n` +
    `          </ClientRequest>\n` +
    `        </soapenv:Body>\n` +
    `      </soapenv:Envelope>`
  );
}

/** The fake server's envelope, byte for byte. */
export function buildServerResponse(response: ServerResponse): string {
  return (
    `${XML_DECLARATION}\n` +
    `<soapenv:Envelope xmlns:soapenv="${NS.soapEnvelope}" xmlns:xsd="${NS.xsd}" xmlns:xsi="${NS.xsi}">\n` +
    `  <soapenv:Body>\n` +
    `    <ServerResponse xmlns="${NS.ctkipService}">\n` +
    `      <AuthData>${escapeXml(response.authData)}</AuthData>\n` +
    `      <ProvisioningData>${base64Line(Buffer.from(response.provisioningData, 'utf8'))}</ProvisioningData>\n` +
    `      <Response>${base64Line(Buffer.from(response.response, 'utf8'))}</Response>\n` +
    `    </ServerResponse>\n` +
    `  </soapenv:Body>\n` +
    `</soapenv:Envelope>`
  );
}

/**
 * For the client. A SOAP fault becomes CTKIP_SERVER_FAULT with the parsed fault in `details.fault`
 * (not in the message: the text is the server's and could repeat what the client sent).
 */
export function parseServerResponse(xml: string | Uint8Array): ServerResponse {
  const body = soapBody(xml);
  const fault = childNamed(body, 'Fault');
  if (fault) {
    throw new TallyError('CTKIP_SERVER_FAULT', undefined, { fault: faultFromElement(fault) });
  }
  const response = required(body, 'ServerResponse');
  return {
    authData: required(response, 'AuthData').text.trim(),
    provisioningData: decodeBase64Text(required(response, 'ProvisioningData').text, 'ProvisioningData'),
    response: decodeBase64Text(required(response, 'Response').text, 'Response'),
  };
}

// ---------------------------------------------------------------------------------------------
// SOAP faults

/** The reason a fault carries, which clients show as `exceptionClass: message`. */
export interface FaultReason {
  exceptionClass: string;
  message: string;
}

export interface SoapFault {
  faultCode: string;
  faultString: string;
  /** Present when the fault string has the RSA servers' shape. */
  exceptionClass?: string;
  /** The human-readable part: the message after the exception class, or the whole fault string. */
  reason: string;
}

const FAULT_CODE = 'soapenv:Server.userException';
const FAULT_PREFIX = 'java.rmi.RemoteException: The CT-KIP Web Service failed to process a client request.';
const NESTED = 'nested exception is:';

/** What RSA's servers answer to a wrong activation code; clients may recognise it. */
export const INVALID_AUTHORIZATION_CODE: FaultReason = {
  exceptionClass: 'com.rsa.command.exception.InsufficientPrivilegeException',
  message: 'Invalid authorization code.',
};

/**
 * The fault reason for a Tally error: RSA's own for a bad activation code, otherwise the stable
 * code and the catalogue's message (never the thrown error's message, which may carry details).
 */
export function faultReasonFor(code: ErrorCode): FaultReason {
  if (code === 'ACTIVATION_CODE_INVALID') return INVALID_AUTHORIZATION_CODE;
  return { exceptionClass: `tally.${code}`, message: errorCatalogue[code].message };
}

/** A fault in the real servers' shape (byte for byte the fake server's), for HTTP 200. */
export function buildSoapFault(reason: FaultReason): string {
  const detail = `${reason.exceptionClass}: ${reason.message}`;
  const faultString = `${FAULT_PREFIX} ${detail};${NESTED} \n\t${detail}`;
  return (
    `${XML_DECLARATION}\n` +
    `<soapenv:Envelope xmlns:soapenv="${NS.soapEnvelope}" xmlns:xsd="${NS.xsd}" xmlns:xsi="${NS.xsi}">\n` +
    `  <soapenv:Body>\n` +
    `    <soapenv:Fault>\n` +
    `      <faultcode>${FAULT_CODE}</faultcode>\n` +
    `      <faultstring>${escapeXml(faultString)}</faultstring>\n` +
    `    </soapenv:Fault>\n` +
    `  </soapenv:Body>\n` +
    `</soapenv:Envelope>`
  );
}

function faultFromElement(fault: XmlElement): SoapFault {
  const faultCode = childNamed(fault, 'faultcode')?.text.trim() ?? '';
  const faultString = childNamed(fault, 'faultstring')?.text ?? '';
  if (!faultString.startsWith(FAULT_PREFIX)) return { faultCode, faultString, reason: faultString.trim() };
  // The same reason is usually given twice, the second time after NESTED; either copy will do.
  let rest = faultString.slice(FAULT_PREFIX.length).trim();
  const nested = rest.indexOf(NESTED);
  if (nested >= 0) rest = rest.slice(nested + NESTED.length).trim();
  const separator = rest.indexOf(': ');
  if (separator < 0) return { faultCode, faultString, reason: rest };
  return { faultCode, faultString, exceptionClass: rest.slice(0, separator), reason: rest.slice(separator + 2) };
}

export function parseSoapFault(xml: string | Uint8Array): SoapFault {
  return faultFromElement(required(soapBody(xml), 'Fault'));
}

// ---------------------------------------------------------------------------------------------
// ProvisioningData documents

/** The document the `rsa_ct_kip` client sends; RSA's servers are known to accept it. */
export const DEFAULT_CLIENT_PROVISIONING_DATA =
  '<?xml version="1.0"?><ProvisioningData><Version>5.0.2.440</Version><Manufacturer>RSA Security Inc.</Manufacturer><FormFactor/></ProvisioningData>';

export interface PinSettings {
  pinType: number;
  addPin: boolean;
}

/** PinType is one digit. */
export function requirePinSettings(pin: PinSettings): void {
  if (!Number.isInteger(pin.pinType) || pin.pinType < 0 || pin.pinType > 9) {
    throw invalidInput('ctkipPinType');
  }
}

/** The second response's document, in the fake server's layout. */
export function buildServerProvisioningData(pin: PinSettings): string {
  requirePinSettings(pin);
  return (
    '<?xml version="1.0"?>\n<ProvisioningData>\n' +
    `<PinType>${pin.pinType}</PinType><AddPIN>${pin.addPin ? 1 : 0}</AddPIN></ProvisioningData>\n`
  );
}

export function parseServerProvisioningData(xml: string): Partial<PinSettings> {
  const root = parse(xml);
  expectRoot(root, 'ProvisioningData');
  const pinType = parseCount(optionalText(root, 'PinType'), 'PinType');
  const addPin = parseCount(optionalText(root, 'AddPIN'), 'AddPIN');
  return {
    ...(pinType === undefined ? {} : { pinType }),
    ...(addPin === undefined ? {} : { addPin: addPin !== 0 }),
  };
}

// ---------------------------------------------------------------------------------------------
// Inner messages

export interface ClientHello {
  type: 'ClientHello';
  version?: string;
  keyTypes: string[];
  encryptionAlgorithms: string[];
  macAlgorithms: string[];
}

export interface ClientNonce {
  type: 'ClientNonce';
  version?: string;
  sessionId: string;
  encryptedNonce: Buffer;
  /** R_S as the client echoes it in Extensions/Extension/Data. */
  echoedServerNonce?: Buffer;
}

export type ClientMessage = ClientHello | ClientNonce;

export interface ServerHello {
  sessionId: string;
  status: string;
  version?: string;
  keyType?: string;
  encryptionAlgorithm?: string;
  modulus: Buffer;
  exponent: Buffer;
  serverNonce: Buffer;
  macAlgorithm?: string;
}

export interface ServerFinished {
  sessionId: string;
  status: string;
  /** TokenID and KeyID decoded; clients take the serial from KeyID. */
  tokenId?: string;
  keyId?: string;
  keyExpiryDate?: string;
  serviceId?: string;
  userId?: string;
  otpFormat?: string;
  digits?: number;
  period?: number;
  mac?: Buffer;
  macAlgorithm?: string;
}

function algorithms(parent: XmlElement, name: string): string[] {
  const list = childNamed(parent, name);
  return list ? childrenNamed(list, 'Algorithm').map((algorithm) => algorithm.text.trim()) : [];
}

/** Dispatches on the root element, as the server must: clients' SOAPAction headers are not relied on. */
export function parseClientMessage(xml: string | Uint8Array): ClientMessage {
  const root = parse(xml);
  const version = root.attributes.Version;
  switch (localName(root.name)) {
    case 'ClientHello':
      return {
        type: 'ClientHello',
        version,
        keyTypes: algorithms(root, 'SupportedKeyTypes'),
        encryptionAlgorithms: algorithms(root, 'SupportedEncryptionAlgorithms'),
        macAlgorithms: algorithms(root, 'SupportedMACAlgorithms'),
      };
    case 'ClientNonce': {
      const extensions = childNamed(root, 'Extensions');
      const echo = extensions
        ? childrenNamed(extensions, 'Extension')
            .map((extension) => childNamed(extension, 'Data'))
            .find(Boolean)
        : undefined;
      return {
        type: 'ClientNonce',
        version,
        sessionId: requiredAttribute(root, 'SessionID'),
        encryptedNonce: decodeBase64(required(root, 'EncryptedNonce').text, 'EncryptedNonce'),
        ...(echo ? { echoedServerNonce: decodeBase64(echo.text, 'Extension Data') } : {}),
      };
    }
    default:
      throw bad('Expected a ClientHello or ClientNonce message.');
  }
}

/** The ClientHello the `rsa_ct_kip` client sends (no XML declaration), which RSA's servers accept. */
export function buildClientHello(): string {
  const offer = (name: string, uri: string): Node => ({
    name,
    attributes: UNQUALIFIED,
    children: [{ name: 'Algorithm', attributes: [['xsi:type', 'xsd:anyURI']], text: uri }],
  });
  return render(
    {
      name: 'ClientHello',
      attributes: [
        ['xmlns', NS.ctkip200511],
        ['xmlns:xsd', NS.xsd],
        ['xmlns:xsi', NS.xsi],
        ['Version', '1.0'],
      ],
      children: [
        offer('SupportedKeyTypes', ALGORITHM.securidAes),
        offer('SupportedEncryptionAlgorithms', ALGORITHM.rsa15),
        offer('SupportedMACAlgorithms', ALGORITHM.prfAes200511),
      ],
    },
    false,
  );
}

export interface ClientNonceFields {
  sessionId: string;
  encryptedNonce: Uint8Array;
  serverNonce: Uint8Array;
}

/** In the `rsa_ct_kip` client's layout, which RSA's servers accept. */
export function buildClientNonce(fields: ClientNonceFields): string {
  return (
    XML_DECLARATION +
    render(
      {
        name: 'ClientNonce',
        attributes: [
          ['xmlns', NS.ctkip200511],
          ['Version', '1.0'],
          ['SessionID', fields.sessionId],
        ],
        children: [
          { name: 'EncryptedNonce', attributes: UNQUALIFIED, text: base64Line(fields.encryptedNonce) },
          {
            name: 'Extensions',
            attributes: UNQUALIFIED_DS_XSI,
            children: [
              {
                name: 'Extension',
                attributes: [...UNQUALIFIED, ['xmlns:ct-kip', NS.ctkip200512], ...DS_XSI],
                children: [{ name: 'Data', text: base64Line(fields.serverNonce) }],
              },
            ],
          },
        ],
      },
      false,
    )
  );
}

/**
 * A server may abort with a ServerFinished carrying a failure Status where a ServerHello was due;
 * that is the server's refusal, not a malformed message.
 */
function refusedBy(root: XmlElement): TallyError | undefined {
  if (localName(root.name) !== 'ServerFinished') return undefined;
  const status = root.attributes.Status ?? '';
  if (status === 'Success') return undefined;
  return new TallyError('CTKIP_SERVER_FAULT', undefined, { status });
}

export function parseServerHello(xml: string | Uint8Array): ServerHello {
  const root = parse(xml);
  const refusal = refusedBy(root);
  if (refusal) throw refusal;
  expectRoot(root, 'ServerHello');
  const key = required(root, 'EncryptionKey');
  const modulus = findDescendant(key, 'Modulus');
  const exponent = findDescendant(key, 'Exponent');
  if (!modulus || !exponent) throw bad('The EncryptionKey element has no RSA modulus and exponent.');
  return {
    sessionId: requiredAttribute(root, 'SessionID'),
    status: root.attributes.Status ?? '',
    version: root.attributes.Version,
    keyType: optionalText(root, 'KeyType'),
    encryptionAlgorithm: optionalText(root, 'EncryptionAlgorithm'),
    modulus: decodeBase64(modulus.text, 'Modulus'),
    exponent: decodeBase64(exponent.text, 'Exponent'),
    serverNonce: decodeBase64(required(required(root, 'Payload'), 'Nonce').text, 'Nonce'),
    macAlgorithm: optionalText(root, 'MacAlgorithm'),
  };
}

export interface ServerHelloFields {
  sessionId: string;
  serverNonce: Uint8Array;
  /** Unsigned big-endian, without leading zero bytes. */
  modulus: Uint8Array;
  exponent: Uint8Array;
}

/** Byte for byte in the fake server's layout (see ctkip.md). */
export function buildServerHello(fields: ServerHelloFields): string {
  const nonce = base64(fields.serverNonce);
  return (
    XML_DECLARATION +
    render(
      {
        name: 'ServerHello',
        attributes: [...CTKIP12_DS_XSI, ['SessionID', fields.sessionId], ['Status', 'Continue'], ['Version', '1.0']],
        children: [
          { name: 'KeyType', attributes: UNQUALIFIED, text: ALGORITHM.securidAes },
          { name: 'EncryptionAlgorithm', attributes: UNQUALIFIED, text: ALGORITHM.rsa15 },
          {
            name: 'EncryptionKey',
            attributes: UNQUALIFIED_DS_XSI,
            children: [
              {
                name: 'ds:KeyValue',
                attributes: CTKIP12_DS_XSI,
                children: [
                  {
                    name: 'ds:RSAKeyValue',
                    attributes: CTKIP12_DS_XSI,
                    children: [
                      { name: 'ds:Modulus', text: base64(fields.modulus) },
                      { name: 'ds:Exponent', text: base64(fields.exponent) },
                    ],
                  },
                ],
              },
            ],
          },
          {
            name: 'Payload',
            attributes: UNQUALIFIED_DS_XSI,
            children: [{ name: 'Nonce', attributes: UNQUALIFIED, text: nonce }],
          },
          {
            name: 'Extensions',
            attributes: UNQUALIFIED_DS_XSI,
            children: [
              {
                name: 'Extension',
                attributes: [['xmlns:ct-kip', NS.ctkip200512], ...UNQUALIFIED, ...DS_XSI],
                children: [{ name: 'Data', text: nonce }],
              },
            ],
          },
          { name: 'MacAlgorithm', attributes: UNQUALIFIED, text: ALGORITHM.prfAes200511 },
        ],
      },
      true,
    )
  );
}

function decodedSerial(parent: XmlElement, name: string): string | undefined {
  const element = childNamed(parent, name);
  return element ? decodeBase64Text(element.text, name).trim() : undefined;
}

export function parseServerFinished(xml: string | Uint8Array): ServerFinished {
  const root = parse(xml);
  expectRoot(root, 'ServerFinished');
  const extensions = childNamed(root, 'Extensions');
  const inExtensions = (name: string): XmlElement | undefined => (extensions ? findDescendant(extensions, name) : undefined);
  const mode = inExtensions('OTPMode');
  const time = mode ? childNamed(mode, 'Time') : undefined;
  const mac = childNamed(root, 'Mac');
  return {
    sessionId: requiredAttribute(root, 'SessionID'),
    status: root.attributes.Status ?? '',
    tokenId: decodedSerial(root, 'TokenID'),
    keyId: decodedSerial(root, 'KeyID'),
    keyExpiryDate: optionalText(root, 'KeyExpiryDate'),
    serviceId: optionalText(root, 'ServiceID'),
    userId: optionalText(root, 'UserID'),
    otpFormat: inExtensions('OTPFormat')?.text.trim(),
    digits: parseCount(inExtensions('OTPLength')?.text, 'OTPLength'),
    period: parseCount(time?.attributes.TimeInterval, 'TimeInterval'),
    mac: mac ? decodeBase64(mac.text, 'Mac') : undefined,
    macAlgorithm: mac?.attributes.MacAlgorithm,
  };
}

export interface ServerFinishedFields {
  sessionId: string;
  /** The token serial number, 12 ASCII digits. */
  serial: string;
  /** ISO-8601; clients keep its first 10 characters as the expiry date. */
  keyExpiryDate: string;
  userId: string;
  digits: number;
  period: number;
  mac: Uint8Array;
}

/** Byte for byte in the fake server's layout (see ctkip.md). */
export function buildServerFinished(fields: ServerFinishedFields): string {
  const serial = Buffer.from(fields.serial, 'ascii').toString('base64');
  return (
    XML_DECLARATION +
    render(
      {
        name: 'ServerFinished',
        attributes: [...CTKIP12_DS_XSI, ['SessionID', fields.sessionId], ['Status', 'Success']],
        children: [
          { name: 'TokenID', attributes: UNQUALIFIED, text: serial },
          { name: 'KeyID', attributes: UNQUALIFIED, text: serial },
          { name: 'KeyExpiryDate', attributes: UNQUALIFIED, text: fields.keyExpiryDate },
          { name: 'ServiceID', attributes: UNQUALIFIED, text: SERVICE_ID },
          { name: 'UserID', attributes: UNQUALIFIED, text: fields.userId },
          {
            name: 'Extensions',
            attributes: UNQUALIFIED_DS_XSI,
            children: [
              {
                name: 'Extension',
                attributes: [['Critical', 'true'], ...UNQUALIFIED_DS_XSI],
                children: [
                  { name: 'OTPFormat', text: 'Decimal' },
                  { name: 'OTPLength', text: String(fields.digits) },
                  {
                    // Both in the 2005/12 namespace: the Python client looks the interval up there
                    // and silently falls back to 60 s otherwise.
                    name: 'OTPMode',
                    attributes: CTKIP12_DS_XSI,
                    children: [
                      {
                        name: 'Time',
                        attributes: [['TimeInterval', String(fields.period)], ...CTKIP12_DS_XSI],
                      },
                    ],
                  },
                ],
              },
            ],
          },
          {
            name: 'Mac',
            attributes: [...UNQUALIFIED, ['MacAlgorithm', ALGORITHM.prfAes200512], ...DS_XSI],
            text: base64(fields.mac),
          },
        ],
      },
      true,
    )
  );
}
