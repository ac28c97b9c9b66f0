import assert from 'node:assert/strict';
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readVector, readVectorJson, vectorPath } from '../../../test/support/vectors.js';
import { type ErrorCode, TallyError } from '../../errors.js';
import { type ClientSession, clientFinish, clientHello, clientNonce, serverFinished, serverHello, type TokenSettings } from './exchange.js';
import {
  buildClientRequest,
  buildServerResponse,
  type ClientHello,
  type ClientNonce,
  DEFAULT_CLIENT_PROVISIONING_DATA,
  parseClientMessage,
  parseClientRequest,
  parseServerFinished,
  parseServerHello,
  parseServerProvisioningData,
  parseServerResponse,
} from './messages.js';

const MOCK = 'ctkip/mock-exchange';
const FAKE = 'ctkip/fakeserver-exchange';
const mock = readVectorJson(`${MOCK}/exchange.json`);
const fake = readVectorJson(`${FAKE}/exchange.json`);
const mockKey = createPrivateKey(readFileSync(vectorPath(`${MOCK}/server-key.pkcs8.pem`)));
const OAEP_SHA1 = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' } as const;

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

function rejects(fn: () => unknown, code: ErrorCode): TallyError {
  let caught: unknown;
  assert.throws(fn, (error) => {
    caught = error;
    return error instanceof TallyError && error.code === code;
  });
  return caught as TallyError;
}

/** Errors must never carry nonces, seeds or activation codes, in any encoding. */
function assertNoSecrets(error: TallyError, ...secrets: Uint8Array[]): void {
  const text = `${error.message} ${JSON.stringify(error.details ?? {})}`;
  for (const secret of secrets) {
    for (const encoding of ['hex', 'base64'] as const) {
      assert.ok(!text.includes(Buffer.from(secret).toString(encoding)), `error text leaks a secret: ${error.message}`);
    }
  }
}

const mockToken: TokenSettings = {
  serial: mock.serial,
  keyExpiryDate: mock.token.key_expiry,
  userId: mock.token.user,
  digits: mock.token.digits,
  period: mock.token.interval,
  pinType: 0,
  addPin: true,
};

function mockClientNonce(): ClientNonce {
  return parseClientMessage(readVector(`${MOCK}/ClientNonce.xml`)) as ClientNonce;
}

function mockServerFinished(overrides: Partial<ClientNonce> = {}, key: KeyObject = mockKey) {
  return serverFinished({
    message: { ...mockClientNonce(), ...overrides },
    sessionId: mock.session_id,
    serverNonce: hex(mock.R_S_hex),
    serverPrivateKey: key,
    token: mockToken,
  });
}

function sessionOf(vector: any): ClientSession {
  return {
    sessionId: vector.session_id,
    serverNonce: hex(vector.R_S_hex),
    clientNonce: hex(vector.R_C_hex),
    modulus: hex(vector.server_rsa.modulus_hex),
  };
}

test('the mock server key decrypts the captured ClientNonce to R_C (OAEP, SHA-1), in both encodings', () => {
  const encrypted = mockClientNonce().encryptedNonce;
  assert.equal(privateDecrypt({ key: mockKey, ...OAEP_SHA1 }, encrypted).toString('hex'), mock.R_C_hex);
  const pkcs1 = createPrivateKey(readVector(`${MOCK}/server-key.pkcs1.pem`));
  assert.equal(privateDecrypt({ key: pkcs1, ...OAEP_SHA1 }, encrypted).toString('hex'), mock.R_C_hex);
});

test('serverFinished on the captured mock ClientNonce derives its K_TOKEN and MAC', () => {
  const result = mockServerFinished();
  assert.equal(result.kToken.toString('hex'), mock.K_TOKEN_hex);
  const finished = parseServerFinished(result.responseXml);
  assert.equal(finished.mac?.toString('hex'), mock.MAC_hex);
  assert.equal(finished.keyId, mock.serial);
  assert.equal(finished.userId, 'alice');
  assert.equal(finished.digits, 6);
  assert.equal(finished.period, 30);
  assert.deepEqual(parseServerProvisioningData(result.provisioningData), { pinType: 0, addPin: true });
});

test('serverHello reproduces the fake server ServerHello from its public key', () => {
  const publicKey = createPublicKey({
    key: { kty: 'RSA', n: hex(fake.server_rsa.modulus_hex).toString('base64url'), e: 'AQAB' },
    format: 'jwk',
  });
  const hello = parseClientMessage(readVector(`${FAKE}/ClientHello.xml`)) as ClientHello;
  const xml = serverHello({ hello, sessionId: fake.session_id, serverNonce: hex(fake.R_S_hex), serverKey: publicKey });
  assert.equal(xml, readVector(`${FAKE}/ServerHello.xml`));
});

test('serverHello takes the public half of a private key', () => {
  const hello = parseClientMessage(readVector(`${MOCK}/ClientHello.xml`)) as ClientHello;
  const xml = serverHello({ hello, sessionId: mock.session_id, serverNonce: hex(mock.R_S_hex), serverKey: mockKey });
  const parsed = parseServerHello(xml);
  assert.equal(parsed.modulus.toString('hex'), mock.server_rsa.modulus_hex);
  assert.equal(parsed.serverNonce.toString('hex'), mock.R_S_hex);
});

for (const [name, vector] of [
  ['mock-exchange', mock],
  ['fakeserver-exchange', fake],
] as const) {
  test(`clientFinish accepts the captured ${name} ServerFinished and returns the token`, () => {
    const response = parseServerResponse(readVectorJson(`ctkip/${name}/exchange.json`).http_messages[3].body);
    const token = clientFinish({
      session: sessionOf(vector),
      message: parseServerFinished(response.response),
      pin: parseServerProvisioningData(response.provisioningData),
    });
    assert.equal(token.serial, vector.serial);
    assert.equal(token.seed.toString('hex'), vector.K_TOKEN_hex);
    assert.equal(token.expiresOn, vector.token.key_expiry.slice(0, 10));
    assert.equal(token.digits, vector.token.digits);
    assert.equal(token.period, vector.token.interval);
    assert.equal(token.userId, name === 'mock-exchange' ? 'alice' : 'u03525');
    assert.equal(token.serviceId, 'RSA CT-KIP');
    assert.equal(token.pinType, 0);
    assert.equal(token.addPin, true);
  });
}

test('clientNonce answers the captured ServerHello: R_C encrypted to the server key, R_S echoed', () => {
  const hello = parseServerHello(readVector(`${MOCK}/ServerHello.xml`));
  const rC = randomBytes(16);
  const { requestXml, session } = clientNonce({ hello, clientNonce: rC });
  const message = parseClientMessage(requestXml) as ClientNonce;
  assert.equal(message.sessionId, mock.session_id);
  assert.equal(message.echoedServerNonce?.toString('hex'), mock.R_S_hex);
  assert.deepEqual(privateDecrypt({ key: mockKey, ...OAEP_SHA1 }, message.encryptedNonce), rC);
  assert.deepEqual(session, {
    sessionId: mock.session_id,
    serverNonce: hex(mock.R_S_hex),
    clientNonce: rC,
    modulus: hex(mock.server_rsa.modulus_hex),
  });
});

test('a full round trip through the envelopes with a fresh RSA-1024 key and fresh nonces', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 65537 });
  const code = '123456789012';
  const sessionId = randomBytes(24).toString('base64');
  const rS = randomBytes(16);
  const rC = randomBytes(16);
  const token: TokenSettings = { ...mockToken, serial: '000123456789', digits: 8, period: 60, addPin: false, pinType: 1 };

  // Client: ClientHello.
  const request1 = buildClientRequest({ authData: code, provisioningData: DEFAULT_CLIENT_PROVISIONING_DATA, request: clientHello() });
  // Server: ServerHello.
  const received1 = parseClientRequest(request1);
  assert.equal(received1.authData, code);
  const hello = parseClientMessage(received1.request);
  assert.equal(hello.type, 'ClientHello');
  const response1 = buildServerResponse({
    authData: received1.authData,
    provisioningData: received1.provisioningData,
    response: serverHello({ hello: hello as ClientHello, sessionId, serverNonce: rS, serverKey: publicKey }),
  });
  // Client: ClientNonce.
  const answer1 = parseServerResponse(response1);
  assert.equal(answer1.authData, code);
  const { requestXml, session } = clientNonce({ hello: parseServerHello(answer1.response), clientNonce: rC });
  const request2 = buildClientRequest({ authData: code, provisioningData: DEFAULT_CLIENT_PROVISIONING_DATA, request: requestXml });
  // Server: ServerFinished.
  const received2 = parseClientRequest(request2);
  const nonce = parseClientMessage(received2.request);
  assert.equal(nonce.type, 'ClientNonce');
  const finished = serverFinished({
    message: nonce as ClientNonce,
    sessionId,
    serverNonce: rS,
    serverPrivateKey: privateKey,
    token,
  });
  const response2 = buildServerResponse({
    authData: received2.authData,
    provisioningData: finished.provisioningData,
    response: finished.responseXml,
  });
  // Client: verify and keep.
  const answer2 = parseServerResponse(response2);
  const activated = clientFinish({
    session,
    message: parseServerFinished(answer2.response),
    pin: parseServerProvisioningData(answer2.provisioningData),
  });
  assert.deepEqual(activated.seed, finished.kToken);
  assert.deepEqual(activated, {
    serial: '000123456789',
    seed: finished.kToken,
    expiresOn: '2030-01-01',
    digits: 8,
    period: 60,
    pinType: 1,
    addPin: false,
    userId: 'alice',
    serviceId: 'RSA CT-KIP',
  });
});

test('serverHello refuses a client that does not offer the dialect', () => {
  const offered = parseClientMessage(readVector(`${MOCK}/ClientHello.xml`)) as ClientHello;
  const step = { sessionId: 's', serverNonce: randomBytes(16), serverKey: mockKey };
  rejects(() => serverHello({ ...step, hello: { ...offered, keyTypes: ['urn:other'] } }), 'CTKIP_UNSUPPORTED');
  rejects(() => serverHello({ ...step, hello: { ...offered, encryptionAlgorithms: [] } }), 'CTKIP_UNSUPPORTED');
  rejects(() => serverHello({ ...step, hello: { ...offered, macAlgorithms: ['urn:hmac'] } }), 'CTKIP_UNSUPPORTED');
  rejects(() => serverHello({ ...step, hello: offered, serverNonce: randomBytes(8) }), 'VALIDATION_FAILED');
  rejects(() => serverHello({ ...step, hello: offered, sessionId: 'has space' }), 'VALIDATION_FAILED');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  rejects(() => serverHello({ ...step, hello: offered, serverKey: ec }), 'VALIDATION_FAILED');
});

test('serverFinished refuses a wrong session, a wrong or missing R_S echo and a tampered nonce', () => {
  const captured = mockClientNonce();
  const secrets = [hex(mock.R_S_hex), hex(mock.R_C_hex), Buffer.from(mock.activation_code)];

  assertNoSecrets(
    rejects(() => mockServerFinished({ sessionId: 'another' }), 'CTKIP_SESSION_UNKNOWN'),
    ...secrets,
  );

  const wrongEcho = Buffer.from(captured.echoedServerNonce!);
  wrongEcho[0]! ^= 1;
  assertNoSecrets(
    rejects(() => mockServerFinished({ echoedServerNonce: wrongEcho }), 'CTKIP_NONCE_MISMATCH'),
    ...secrets,
  );
  rejects(() => mockServerFinished({ echoedServerNonce: wrongEcho.subarray(0, 15) }), 'CTKIP_NONCE_MISMATCH');
  rejects(() => mockServerFinished({ echoedServerNonce: undefined }), 'CTKIP_NONCE_MISMATCH');

  const tampered = Buffer.from(captured.encryptedNonce);
  tampered[64]! ^= 0x01;
  assertNoSecrets(
    rejects(() => mockServerFinished({ encryptedNonce: tampered }), 'CTKIP_DECRYPT_FAILED'),
    ...secrets,
  );
  rejects(() => mockServerFinished({ encryptedNonce: captured.encryptedNonce.subarray(1) }), 'CTKIP_DECRYPT_FAILED');
  rejects(() => mockServerFinished({ encryptedNonce: Buffer.alloc(0) }), 'CTKIP_DECRYPT_FAILED');

  const otherKey = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  rejects(() => mockServerFinished({}, otherKey), 'CTKIP_DECRYPT_FAILED');

  const shortNonce = publicEncrypt({ key: mockKey, ...OAEP_SHA1 }, randomBytes(15));
  rejects(() => mockServerFinished({ encryptedNonce: shortNonce }), 'CTKIP_DECRYPT_FAILED');
});

test('serverFinished refuses token settings the clients cannot take', () => {
  const step = { message: mockClientNonce(), sessionId: mock.session_id, serverNonce: hex(mock.R_S_hex), serverPrivateKey: mockKey };
  for (const bad of [{ serial: '12345' }, { serial: '12345678901a' }, { keyExpiryDate: '29/11/2027' }, { digits: 7 }, { period: 45 }]) {
    rejects(() => serverFinished({ ...step, token: { ...mockToken, ...bad } as TokenSettings }), 'VALIDATION_FAILED');
  }
});

test('clientFinish refuses a tampered or missing MAC, another session and a failure status', () => {
  const session = sessionOf(fake);
  const captured = parseServerFinished(readVector(`${FAKE}/ServerFinished.xml`));
  const secrets = [session.serverNonce, session.clientNonce, hex(fake.K_TOKEN_hex)];

  const tampered = Buffer.from(captured.mac!);
  tampered[15]! ^= 0x80;
  assertNoSecrets(
    rejects(() => clientFinish({ session, message: { ...captured, mac: tampered }, pin: {} }), 'CTKIP_MAC_MISMATCH'),
    ...secrets,
  );
  rejects(() => clientFinish({ session, message: { ...captured, mac: tampered.subarray(0, 8) }, pin: {} }), 'CTKIP_MAC_MISMATCH');
  rejects(() => clientFinish({ session, message: { ...captured, mac: undefined }, pin: {} }), 'CTKIP_MAC_MISMATCH');
  const otherNonce = Buffer.from(session.clientNonce);
  otherNonce[0]! ^= 1;
  rejects(() => clientFinish({ session: { ...session, clientNonce: otherNonce }, message: captured, pin: {} }), 'CTKIP_MAC_MISMATCH');

  rejects(() => clientFinish({ session, message: { ...captured, sessionId: 'other' }, pin: {} }), 'CTKIP_BAD_MESSAGE');
  rejects(() => clientFinish({ session, message: { ...captured, status: 'Abort' }, pin: {} }), 'CTKIP_SERVER_FAULT');
  rejects(() => clientFinish({ session, message: { ...captured, keyId: 'ABC', tokenId: undefined }, pin: {} }), 'CTKIP_BAD_MESSAGE');
  rejects(() => clientFinish({ session, message: { ...captured, keyExpiryDate: undefined }, pin: {} }), 'CTKIP_BAD_MESSAGE');
  rejects(() => clientFinish({ session, message: { ...captured, period: 45 }, pin: {} }), 'CTKIP_BAD_MESSAGE');
});

test("clientFinish fills in the clients' defaults: 8 digits, 60 s, AddPIN 1, PinType 0", () => {
  const captured = parseServerFinished(readVector(`${MOCK}/ServerFinished.xml`));
  const token = clientFinish({
    session: sessionOf(mock),
    message: { ...captured, digits: undefined, period: undefined, userId: undefined, serviceId: undefined },
    pin: {},
  });
  assert.equal(token.digits, 8);
  assert.equal(token.period, 60);
  assert.equal(token.addPin, true);
  assert.equal(token.pinType, 0);
  assert.equal(token.userId, '');
  assert.equal('serviceId' in token, false);
});

test('clientNonce refuses a ServerHello it cannot work with', () => {
  const hello = parseServerHello(readVector(`${MOCK}/ServerHello.xml`));
  const rC = randomBytes(16);
  rejects(() => clientNonce({ hello: { ...hello, status: 'Abort' }, clientNonce: rC }), 'CTKIP_SERVER_FAULT');
  rejects(() => clientNonce({ hello: { ...hello, keyType: 'urn:other' }, clientNonce: rC }), 'CTKIP_UNSUPPORTED');
  rejects(() => clientNonce({ hello: { ...hello, macAlgorithm: 'urn:hmac' }, clientNonce: rC }), 'CTKIP_UNSUPPORTED');
  rejects(() => clientNonce({ hello: { ...hello, serverNonce: randomBytes(8) }, clientNonce: rC }), 'CTKIP_BAD_MESSAGE');
  rejects(() => clientNonce({ hello: { ...hello, modulus: Buffer.alloc(0) }, clientNonce: rC }), 'CTKIP_BAD_MESSAGE');
  rejects(() => clientNonce({ hello, clientNonce: randomBytes(15) }), 'VALIDATION_FAILED');
  const weak = generateKeyPairSync('rsa', { modulusLength: 512 }).publicKey.export({ format: 'jwk' });
  rejects(() => clientNonce({ hello: { ...hello, modulus: Buffer.from(weak.n!, 'base64url') }, clientNonce: rC }), 'CTKIP_UNSUPPORTED');
});
