import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readVector, readVectorJson } from '../../../test/support/vectors.js';
import { type ErrorCode, TallyError } from '../../errors.js';
import {
  ALGORITHM,
  buildClientHello,
  buildClientNonce,
  buildClientRequest,
  buildServerFinished,
  buildServerHello,
  buildServerProvisioningData,
  buildServerResponse,
  buildSoapFault,
  type ClientNonce,
  DEFAULT_CLIENT_PROVISIONING_DATA,
  decodeBase64,
  faultReasonFor,
  INVALID_AUTHORIZATION_CODE,
  MAX_MESSAGE_BYTES,
  parseClientMessage,
  parseClientRequest,
  parseServerFinished,
  parseServerHello,
  parseServerProvisioningData,
  parseServerResponse,
  parseSoapFault,
  type SoapFault,
} from './messages.js';

const EXCHANGES = ['mock-exchange', 'fakeserver-exchange'] as const;
const FAKE = 'ctkip/fakeserver-exchange';

interface HttpMessage {
  file: string;
  body: string;
  decoded_Request?: string;
  decoded_Response?: string;
  decoded_ProvisioningData?: string;
}

function exchange(name: string): any {
  return readVectorJson(`ctkip/${name}/exchange.json`);
}

function message(name: string, file: string): HttpMessage {
  const found = (exchange(name).http_messages as HttpMessage[]).find((m) => m.file === file);
  assert.ok(found, `${name}/${file}`);
  return found;
}

function rejects(fn: () => unknown, code: ErrorCode): TallyError {
  let caught: unknown;
  assert.throws(fn, (error) => {
    caught = error;
    return error instanceof TallyError && error.code === code;
  });
  return caught as TallyError;
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function clientRequestWith(parts: { authData?: string; provisioningData?: string; request?: string }): string {
  return (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' +
    '<ClientRequest xmlns="http://ctkipservice.rsasecurity.com">' +
    (parts.authData === undefined ? '' : `<AuthData>${parts.authData}</AuthData>`) +
    (parts.provisioningData === undefined ? '' : `<ProvisioningData>${parts.provisioningData}</ProvisioningData>`) +
    (parts.request === undefined ? '' : `<Request>${parts.request}</Request>`) +
    '</ClientRequest></soapenv:Body></soapenv:Envelope>'
  );
}

test('the captured .http files carry the bodies exchange.json lists', () => {
  for (const name of EXCHANGES) {
    for (const m of exchange(name).http_messages as HttpMessage[]) {
      const raw = readVector(`ctkip/${name}/${m.file}`);
      assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), m.body, `${name}/${m.file}`);
    }
  }
});

test('builds ServerHello byte for byte in the fake server layout', () => {
  const vector = exchange('fakeserver-exchange');
  const xml = buildServerHello({
    sessionId: vector.session_id,
    serverNonce: Buffer.from(vector.R_S_hex, 'hex'),
    modulus: Buffer.from(vector.server_rsa.modulus_hex, 'hex'),
    exponent: Buffer.from([1, 0, 1]),
  });
  assert.equal(xml, readVector(`${FAKE}/ServerHello.xml`));
});

test('builds ServerFinished byte for byte in the fake server layout', () => {
  const vector = exchange('fakeserver-exchange');
  const xml = buildServerFinished({
    sessionId: vector.session_id,
    serial: vector.serial,
    keyExpiryDate: vector.token.key_expiry,
    userId: 'u03525',
    digits: vector.token.digits,
    period: vector.token.interval,
    mac: Buffer.from(vector.MAC_hex, 'hex'),
  });
  assert.equal(xml, readVector(`${FAKE}/ServerFinished.xml`));
});

test('builds both ServerResponse envelopes byte for byte as the fake server sent them', () => {
  const vector = exchange('fakeserver-exchange');
  const first = message('fakeserver-exchange', '1-response.http');
  const request = parseClientRequest(message('fakeserver-exchange', '1-request.http').body);
  assert.equal(
    buildServerResponse({
      authData: vector.activation_code,
      provisioningData: request.provisioningData,
      response: readVector(`${FAKE}/ServerHello.xml`),
    }),
    first.body,
  );
  const second = message('fakeserver-exchange', '2-response.http');
  const provisioningData = buildServerProvisioningData({ pinType: 0, addPin: true });
  assert.equal(provisioningData, second.decoded_ProvisioningData);
  assert.equal(
    buildServerResponse({
      authData: vector.activation_code,
      provisioningData,
      response: readVector(`${FAKE}/ServerFinished.xml`),
    }),
    second.body,
  );
});

test('builds the fault byte for byte as the fake server sent it, and parses the reason back', () => {
  const fault = message('fakeserver-exchange', 'fault-response.http');
  assert.equal(buildSoapFault(INVALID_AUTHORIZATION_CODE), fault.body);
  assert.equal(buildSoapFault(faultReasonFor('ACTIVATION_CODE_INVALID')), fault.body);
  const parsed = parseSoapFault(fault.body);
  assert.equal(parsed.faultCode, 'soapenv:Server.userException');
  assert.equal(parsed.exceptionClass, INVALID_AUTHORIZATION_CODE.exceptionClass);
  assert.equal(parsed.reason, 'Invalid authorization code.');
});

test('other errors become tally.CODE faults with the catalogue message', () => {
  const reason = faultReasonFor('CTKIP_NONCE_MISMATCH');
  assert.equal(reason.exceptionClass, 'tally.CTKIP_NONCE_MISMATCH');
  const parsed = parseSoapFault(buildSoapFault(reason));
  assert.equal(parsed.exceptionClass, 'tally.CTKIP_NONCE_MISMATCH');
  assert.equal(parsed.reason, reason.message);
});

test('a fault without the RSA prefix is reported whole; the client sees faults as CTKIP_SERVER_FAULT', () => {
  const other =
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>' +
    '<faultcode>s:Client</faultcode><faultstring> Bad request </faultstring></s:Fault></s:Body></s:Envelope>';
  assert.deepEqual(parseSoapFault(other), { faultCode: 's:Client', faultString: ' Bad request ', reason: 'Bad request' });
  const error = rejects(() => parseServerResponse(message('fakeserver-exchange', 'fault-response.http').body), 'CTKIP_SERVER_FAULT');
  assert.equal((error.details?.fault as SoapFault | undefined)?.reason, 'Invalid authorization code.');
});

for (const name of EXCHANGES) {
  test(`parses every captured client request of ${name}`, () => {
    const vector = exchange(name);
    const files = (vector.http_messages as HttpMessage[]).filter((m) => m.decoded_Request !== undefined);
    assert.ok(files.length >= 2);
    for (const m of files) {
      const request = parseClientRequest(m.body);
      assert.match(request.authData, /^\d{12}$/);
      assert.equal(request.provisioningData, m.decoded_ProvisioningData);
      assert.equal(request.request, m.decoded_Request);
      assert.equal(buildClientRequest(request), m.body, `${m.file} rebuilt byte for byte`);
    }

    const hello = parseClientMessage(parseClientRequest(message(name, '1-request.http').body).request);
    assert.deepEqual(hello, {
      type: 'ClientHello',
      version: '1.0',
      keyTypes: [ALGORITHM.securidAes],
      encryptionAlgorithms: [ALGORITHM.rsa15],
      macAlgorithms: [ALGORITHM.prfAes200511],
    });

    const nonce = parseClientMessage(parseClientRequest(message(name, '2-request.http').body).request) as ClientNonce;
    assert.equal(nonce.type, 'ClientNonce');
    assert.equal(nonce.sessionId, vector.session_id);
    assert.equal(nonce.echoedServerNonce?.toString('hex'), vector.R_S_hex);
    assert.equal(nonce.encryptedNonce.length, 128);
    if (vector.encrypted_nonce_b64) assert.equal(nonce.encryptedNonce.toString('base64'), vector.encrypted_nonce_b64);
  });

  test(`parses every captured server response of ${name}`, () => {
    const vector = exchange(name);
    const first = message(name, '1-response.http');
    const second = message(name, '2-response.http');
    const responses = [parseServerResponse(first.body), parseServerResponse(second.body)] as const;
    for (const [m, response] of [
      [first, responses[0]],
      [second, responses[1]],
    ] as const) {
      assert.equal(response.authData, vector.activation_code);
      assert.equal(response.provisioningData, m.decoded_ProvisioningData);
      assert.equal(response.response, m.decoded_Response);
    }

    const hello = parseServerHello(responses[0].response);
    assert.equal(hello.sessionId, vector.session_id);
    assert.equal(hello.status, 'Continue');
    assert.equal(hello.keyType, ALGORITHM.securidAes);
    assert.equal(hello.macAlgorithm, ALGORITHM.prfAes200511);
    assert.equal(hello.modulus.toString('hex'), vector.server_rsa.modulus_hex);
    assert.equal(hello.exponent.readUIntBE(0, hello.exponent.length), vector.server_rsa.exponent);
    assert.equal(hello.serverNonce.toString('hex'), vector.R_S_hex);

    const finished = parseServerFinished(responses[1].response);
    assert.equal(finished.sessionId, vector.session_id);
    assert.equal(finished.status, 'Success');
    assert.equal(finished.keyId, vector.serial);
    assert.equal(finished.tokenId, vector.serial);
    assert.equal(finished.keyExpiryDate, vector.token.key_expiry);
    assert.equal(finished.serviceId, 'RSA CT-KIP');
    assert.equal(finished.otpFormat, 'Decimal');
    assert.equal(finished.digits, vector.token.digits);
    assert.equal(finished.period, vector.token.interval);
    assert.equal(finished.mac?.toString('hex'), vector.MAC_hex);
    assert.equal(finished.macAlgorithm, ALGORITHM.prfAes200512);
    assert.deepEqual(parseServerProvisioningData(responses[1].provisioningData), { pinType: 0, addPin: true });
    assert.deepEqual(parseServerProvisioningData(responses[0].provisioningData), {});
  });

  test(`builds the client's inner messages as the rsa_ct_kip client sent them in ${name}`, () => {
    assert.equal(buildClientHello(), readVector(`ctkip/${name}/ClientHello.xml`));
    const captured = readVector(`ctkip/${name}/ClientNonce.xml`);
    const nonce = parseClientMessage(captured) as ClientNonce;
    assert.ok(nonce.echoedServerNonce);
    const rebuilt = buildClientNonce({
      sessionId: nonce.sessionId,
      encryptedNonce: nonce.encryptedNonce,
      serverNonce: nonce.echoedServerNonce,
    });
    assert.equal(rebuilt, captured);
  });
}

test('the default client ProvisioningData is what the captured client sent', () => {
  assert.equal(DEFAULT_CLIENT_PROVISIONING_DATA, message('mock-exchange', '1-request.http').decoded_ProvisioningData);
});

test('PIN settings round-trip through the second ProvisioningData', () => {
  assert.deepEqual(parseServerProvisioningData(buildServerProvisioningData({ pinType: 1, addPin: false })), {
    pinType: 1,
    addPin: false,
  });
  rejects(() => parseServerProvisioningData('<ProvisioningData><AddPIN>yes</AddPIN></ProvisioningData>'), 'CTKIP_BAD_MESSAGE');
  rejects(() => buildServerProvisioningData({ pinType: -1, addPin: true }), 'VALIDATION_FAILED');
});

test('base64 ignores whitespace and rejects garbage', () => {
  assert.equal(decodeBase64(' G4sW7Jo7\r\n2ed0HWsR\t3oBCpw==\n', 'x').toString('hex'), '1b8b16ec9a3bd9e7741d6b11de8042a7');
  for (const garbage of ['G4sW7Jo72ed0HWsR3oBCpw=', 'G4sW*Jo72ed0HWsR3oBCpw==', 'G4s=W7Jo72ed0HWsR3oBCp', 'AAAA===', '-_-_']) {
    rejects(() => decodeBase64(garbage, 'x'), 'CTKIP_BAD_MESSAGE');
  }
});

test('refuses malformed, hostile and oversized envelopes', () => {
  const good = message('fakeserver-exchange', '1-request.http').body;
  rejects(() => parseClientRequest(good.slice(0, good.length - 40)), 'FORMAT_INVALID');
  rejects(() => parseClientRequest('garbage'), 'FORMAT_INVALID');
  rejects(() => parseClientRequest(Buffer.from([0xff, 0xfe, 0x00, 0x3c])), 'FORMAT_INVALID');
  rejects(
    () => parseClientRequest(`<!DOCTYPE x [<!ENTITY a "b">]>${good.slice(good.indexOf('<soapenv:Envelope'))}`),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  const huge = clientRequestWith({ authData: '1', provisioningData: 'A'.repeat(MAX_MESSAGE_BYTES), request: 'AAAA' });
  rejects(() => parseClientRequest(huge), 'INPUT_TOO_LARGE');
  rejects(() => parseClientRequest('<a/>'), 'CTKIP_BAD_MESSAGE');
});

test('refuses client requests with missing parts or undecodable contents', () => {
  const hello = base64(buildClientHello());
  const pd = base64(DEFAULT_CLIENT_PROVISIONING_DATA);
  assert.equal(parseClientRequest(clientRequestWith({ authData: ' 123 ', provisioningData: pd, request: hello })).authData, '123');
  rejects(() => parseClientRequest(clientRequestWith({ provisioningData: pd, request: hello })), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientRequest(clientRequestWith({ authData: '1', request: hello })), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientRequest(clientRequestWith({ authData: '1', provisioningData: pd })), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientRequest(clientRequestWith({ authData: '1', provisioningData: pd, request: '%%%' })), 'CTKIP_BAD_MESSAGE');
  rejects(
    () => parseClientRequest(clientRequestWith({ authData: '1', provisioningData: base64('not xml'), request: hello })),
    'FORMAT_INVALID',
  );
  const notUtf8 = Buffer.from([0xc3, 0x28]).toString('base64');
  rejects(() => parseClientRequest(clientRequestWith({ authData: '1', provisioningData: pd, request: notUtf8 })), 'CTKIP_BAD_MESSAGE');
});

test('refuses inner messages that are not what they should be', () => {
  rejects(() => parseClientMessage('<ServerHello SessionID="x"/>'), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientMessage('<ClientNonce><EncryptedNonce>AAAA</EncryptedNonce></ClientNonce>'), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientMessage('<ClientNonce SessionID="s"/>'), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientMessage('<ClientNonce SessionID="s"><EncryptedNonce>AA!A</EncryptedNonce></ClientNonce>'), 'CTKIP_BAD_MESSAGE');
  rejects(() => parseClientMessage('<ClientHello><SupportedKeyTypes>'), 'FORMAT_INVALID');
  rejects(() => parseServerHello(readVector(`${FAKE}/ServerFinished.xml`)), 'CTKIP_BAD_MESSAGE');
  rejects(
    () => parseServerHello(readVector(`${FAKE}/ServerHello.xml`).replace(/<ds:Exponent>.*?<\/ds:Exponent>/, '')),
    'CTKIP_BAD_MESSAGE',
  );
  rejects(() => parseServerHello(readVector(`${FAKE}/ServerHello.xml`).replace(/<Payload[\s\S]*?<\/Payload>/, '')), 'CTKIP_BAD_MESSAGE');
  rejects(
    () => parseServerFinished(readVector(`${FAKE}/ServerFinished.xml`).replace('<OTPLength>8', '<OTPLength>eight')),
    'CTKIP_BAD_MESSAGE',
  );
  rejects(
    () => parseServerFinished(readVector(`${FAKE}/ServerFinished.xml`).replace('TimeInterval="60"', 'TimeInterval="1m"')),
    'CTKIP_BAD_MESSAGE',
  );
  rejects(() => parseServerFinished(readVector(`${FAKE}/ServerHello.xml`)), 'CTKIP_BAD_MESSAGE');
});

test('a ServerFinished with a failure status in place of a ServerHello is the server refusing', () => {
  const error = rejects(() => parseServerHello('<ServerFinished SessionID="s" Status="Abort"/>'), 'CTKIP_SERVER_FAULT');
  assert.equal(error.details?.status, 'Abort');
});

test('ServerFinished fields the server leaves out stay undefined for the client to default', () => {
  const finished = parseServerFinished('<ServerFinished SessionID="s" Status="Success"><KeyID>MTIz</KeyID></ServerFinished>');
  assert.equal(finished.keyId, '123');
  assert.equal(finished.digits, undefined);
  assert.equal(finished.period, undefined);
  assert.equal(finished.mac, undefined);
});

test('values are escaped in what Tally builds', () => {
  const xml = buildServerResponse({ authData: '<&>', provisioningData: '<a/>', response: '<b/>' });
  assert.equal(parseServerResponse(xml).authData, '<&>');
  const finished = buildServerFinished({
    sessionId: 's"1',
    serial: '000000000001',
    keyExpiryDate: '2030-01-01',
    userId: "o'brien & <co>",
    digits: 6,
    period: 30,
    mac: Buffer.alloc(16),
  });
  const parsed = parseServerFinished(finished);
  assert.equal(parsed.sessionId, 's"1');
  assert.equal(parsed.userId, "o'brien & <co>");
});
