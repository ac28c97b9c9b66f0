import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readVector, readVectorJson, vectorPath } from '../../../test/support/vectors.js';
import { type ErrorCode, errorCatalogue, TallyError } from '../../errors.js';
import { answerClientHello, answerClientNonce, serverFinished, serverHello } from './exchange.js';
import {
  buildServerFinished,
  buildServerHello,
  buildServerProvisioningData,
  INVALID_AUTHORIZATION_CODE,
  parseSoapFault,
} from './messages.js';
import { type DecodedClientRequest, decodeClientRequest, encodeFault, encodeServerReply } from './wire.js';

// The server side of the wire against the captured exchanges (test/vectors/README.md, ctkip/).

const MOCK = 'ctkip/mock-exchange';
const FAKE = 'ctkip/fakeserver-exchange';

interface HttpMessage {
  file: string;
  body: string;
  decoded_Request?: string;
  decoded_ProvisioningData?: string;
}

const exchange = (dir: string): any => readVectorJson(`${dir}/exchange.json`);

function body(dir: string, file: string): string {
  const found = (exchange(dir).http_messages as HttpMessage[]).find((m) => m.file === file);
  assert.ok(found, `${dir}/${file}`);
  return found.body;
}

function decoded(dir: string, file: string): DecodedClientRequest {
  return decodeClientRequest(Buffer.from(body(dir, file), 'utf8'));
}

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (error) => error instanceof TallyError && error.code === code);
}

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

test('decodes both captured first requests into a typed ClientHello with the code and the client software', () => {
  for (const dir of [MOCK, FAKE]) {
    const vector = exchange(dir);
    const first = (vector.http_messages as HttpMessage[]).find((m) => m.file === '1-request.http');
    const request = decoded(dir, '1-request.http');
    assert.equal(request.activationCode, vector.activation_code, dir);
    assert.equal(request.provisioningData, first?.decoded_ProvisioningData, dir);
    // The rsa_ct_kip client's document: an empty FormFactor is left out.
    assert.deepEqual(request.client, { clientVersion: '5.0.2.440', clientManufacturer: 'RSA Security Inc.' }, dir);
    assert.equal(request.message.type, 'ClientHello', dir);
    if (request.message.type !== 'ClientHello') continue;
    assert.deepEqual(request.message.keyTypes, ['http://www.rsasecurity.com/rsalabs/otps/schemas/2005/09/otps-wst#SecurID-AES']);
    assert.deepEqual(request.message.encryptionAlgorithms, ['http://www.w3.org/2001/04/xmlenc#rsa-1_5']);
  }
});

test('decodes both captured second requests into a typed ClientNonce echoing R_S', () => {
  for (const dir of [MOCK, FAKE]) {
    const vector = exchange(dir);
    const request = decoded(dir, '2-request.http');
    assert.equal(request.activationCode, vector.activation_code, dir);
    assert.equal(request.message.type, 'ClientNonce', dir);
    if (request.message.type !== 'ClientNonce') continue;
    assert.equal(request.message.sessionId, vector.session_id, dir);
    assert.equal(request.message.echoedServerNonce?.toString('hex'), vector.R_S_hex, dir);
  }
});

test('the captured wrong-code request decodes with its code, for the domain to refuse', () => {
  const vector = exchange(FAKE);
  const request = decoded(FAKE, 'fault-request.http');
  assert.equal(request.activationCode, vector.wrong_code_used_for_fault);
  assert.equal(request.message.type, 'ClientHello');
});

test('encodes a typed ServerHello reply byte for byte as the fake server answered', () => {
  const vector = exchange(FAKE);
  const reply = encodeServerReply(decoded(FAKE, '1-request.http'), {
    type: 'ServerHello',
    hello: {
      sessionId: vector.session_id,
      serverNonce: hex(vector.R_S_hex),
      modulus: hex(vector.server_rsa.modulus_hex),
      exponent: Buffer.from([1, 0, 1]),
    },
  });
  assert.equal(reply, body(FAKE, '1-response.http'));
});

test('encodes a typed ServerFinished reply, with its PIN settings, byte for byte as the fake server answered', () => {
  const vector = exchange(FAKE);
  const reply = encodeServerReply(decoded(FAKE, '2-request.http'), {
    type: 'ServerFinished',
    finished: {
      sessionId: vector.session_id,
      serial: vector.serial,
      keyExpiryDate: vector.token.key_expiry,
      userId: 'u03525',
      digits: vector.token.digits,
      period: vector.token.interval,
      mac: hex(vector.MAC_hex),
    },
    pin: { pinType: 0, addPin: true },
  });
  assert.equal(reply, body(FAKE, '2-response.http'));
});

test('encodes a refusal as the fake server did (wrong code), and any other code with its catalogue message only', () => {
  assert.equal(encodeFault('ACTIVATION_CODE_INVALID'), body(FAKE, 'fault-response.http'));
  assert.equal(parseSoapFault(encodeFault('ACTIVATION_CODE_INVALID')).exceptionClass, INVALID_AUTHORIZATION_CODE.exceptionClass);
  for (const code of ['CTKIP_SOURCE_BLOCKED', 'CTKIP_SESSION_UNKNOWN', 'RATE_LIMITED'] as const) {
    const fault = parseSoapFault(encodeFault(code));
    assert.equal(fault.faultCode, 'soapenv:Server.userException');
    assert.equal(fault.exceptionClass, `tally.${code}`);
    assert.equal(fault.reason, errorCatalogue[code].message);
  }
});

test('the typed server steps give the values the captured mock exchange carries, and the XML steps are their encoding', () => {
  const vector = exchange(MOCK);
  const key = createPrivateKey(readFileSync(vectorPath(`${MOCK}/server-key.pkcs8.pem`)));
  const hello = decoded(MOCK, '1-request.http').message;
  assert.equal(hello.type, 'ClientHello');
  if (hello.type !== 'ClientHello') return;
  const helloStep = { hello, sessionId: vector.session_id, serverNonce: hex(vector.R_S_hex), serverKey: key };
  const fields = answerClientHello(helloStep);
  assert.equal(Buffer.from(fields.modulus).toString('hex'), vector.server_rsa.modulus_hex);
  assert.equal(serverHello(helloStep), buildServerHello(fields));

  const nonce = decoded(MOCK, '2-request.http').message;
  assert.equal(nonce.type, 'ClientNonce');
  if (nonce.type !== 'ClientNonce') return;
  const step = {
    message: nonce,
    sessionId: vector.session_id,
    serverNonce: hex(vector.R_S_hex),
    serverPrivateKey: key,
    token: {
      serial: vector.serial,
      keyExpiryDate: vector.token.key_expiry,
      userId: vector.token.user,
      digits: vector.token.digits,
      period: vector.token.interval,
      pinType: 0,
      addPin: true,
    },
  };
  const answer = answerClientNonce(step);
  assert.equal(answer.kToken.toString('hex'), vector.K_TOKEN_hex);
  assert.equal(Buffer.from(answer.finished.mac).toString('hex'), vector.MAC_hex);
  assert.deepEqual(answer.pin, { pinType: 0, addPin: true });
  const xml = serverFinished(step);
  assert.equal(xml.responseXml, buildServerFinished(answer.finished));
  assert.equal(xml.provisioningData, buildServerProvisioningData(answer.pin));
  // A PinType that is no digit is refused before any seed is derived.
  rejects(() => answerClientNonce({ ...step, token: { ...step.token, pinType: 10 } }), 'VALIDATION_FAILED');
});

test('bad requests are typed refusals, never a crash; a client description that says nothing is no refusal', () => {
  rejects(() => decodeClientRequest('garbage'), 'FORMAT_INVALID');
  rejects(() => decodeClientRequest(Buffer.from([0xff, 0xfe, 0x00, 0x3c])), 'FORMAT_INVALID');
  const envelope = (provisioningData: string, inner: string): string =>
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' +
    '<ClientRequest xmlns="http://ctkipservice.rsasecurity.com"><AuthData> 123456789012 </AuthData>' +
    `<ProvisioningData>${Buffer.from(provisioningData).toString('base64')}</ProvisioningData>` +
    `<Request>${Buffer.from(inner).toString('base64')}</Request></ClientRequest></soapenv:Body></soapenv:Envelope>`;
  // An inner message a client never sends.
  rejects(() => decodeClientRequest(envelope('<ProvisioningData/>', readVector(`${FAKE}/ServerHello.xml`))), 'CTKIP_BAD_MESSAGE');
  const hello = readVector(`${FAKE}/ClientHello.xml`);
  const plain = decodeClientRequest(envelope('<Other/>', hello));
  assert.equal(plain.activationCode, '123456789012');
  assert.deepEqual(plain.client, {});
  const long = decodeClientRequest(envelope(`<ProvisioningData><Version>${'9'.repeat(100)}</Version></ProvisioningData>`, hello));
  assert.deepEqual(long.client, { clientVersion: '9'.repeat(64) });
});
