import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { firstItem } from '../../../test/support/items.js';
import { type ErrorCode, TallyError } from '../../errors.js';
import { AttributeType, attributeBytes, attributeString } from './attributes.js';
import {
  buildAccessRequest,
  buildReply,
  hidePassword,
  messageAuthenticator,
  responseAuthenticator,
  unhidePassword,
  verifyReply,
  verifyRequestMessageAuthenticator,
} from './authenticators.js';
import { decodePacket, encodePacket, RadiusCode, type RadiusPacket } from './packet.js';

const hex = (dump: string): Buffer => Buffer.from(dump.replace(/\s+/g, ''), 'hex');

/** RFC 2865 §7.1, shared secret "xyzzy5461": nemo's Access-Request with password "arctangent", and the Access-Accept. */
const rfc = {
  secret: 'xyzzy5461',
  request: hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
                98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
                93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
                01 10 05 06 00 00 00 03`),
  accept: hex(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
               9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
               0e 06 c0 a8 01 03`),
};

/**
 * Captured from radclient 3.2.1 (`radclient 127.0.0.1:PORT auth testing123`, with Message-Authenticator
 * = 0x00 so it signs): User-Name "nemo", User-Password "a password longer than 16 bytes",
 * Message-Authenticator, State "State", Proxy-State 0x01 and 0x02, NAS-Identifier "vpn-1".
 */
const radclientRequest = {
  secret: 'testing123',
  password: 'a password longer than 16 bytes',
  bytes: hex(`01720062f7eb408aad366c5d0ee80237b59ac5bf01066e656d6f0222b99462aec13b6d89ae64e9a92f46c1612a95
              64ff4401dbf42b018397d9887f8b50121fac33876e6a2f4525a796d61ae892b618075374617465210301210302
              200776706e2d31`),
};

const SECRET = 'a shared secret';

function code(expected: ErrorCode): (e: unknown) => boolean {
  return (e) => e instanceof TallyError && e.code === expected;
}

function signedRequest(password = '123456', state?: Buffer): { bytes: Buffer; packet: RadiusPacket } {
  const bytes = buildAccessRequest({ identifier: 42, authenticator: randomBytes(16), userName: 'alice', password, state }, SECRET);
  return { bytes, packet: decodePacket(bytes) };
}

/** The HMAC-MD5 of RFC 3579 §3.2 computed straight over the bytes: the value at `offset` zeroed, `authenticatorField` at 4..20. */
function independentMessageAuthenticator(bytes: Buffer, offset: number, authenticatorField: Buffer, secret: string): Buffer {
  const copy = Buffer.from(bytes);
  authenticatorField.copy(copy, 4);
  copy.fill(0, offset, offset + 16);
  return createHmac('md5', secret).update(copy).digest();
}

test('RFC 2865 §7.1: unhides "arctangent" and hides it back to the same bytes', () => {
  const request = decodePacket(rfc.request);
  const hidden = attributeBytes(request, AttributeType.UserPassword)!;
  assert.equal(unhidePassword(hidden, rfc.secret, request.authenticator).toString(), 'arctangent');
  assert.deepEqual(hidePassword('arctangent', rfc.secret, request.authenticator), hidden);
});

test('RFC 2865 §7.1: the Access-Accept Response Authenticator', () => {
  const request = decodePacket(rfc.request);
  const accept = decodePacket(rfc.accept);
  assert.equal(responseAuthenticator(accept, request.authenticator, rfc.secret).toString('hex'), '86fe220e7624ba2a1005f6bf9b55e0b2');
  verifyReply(accept, request, rfc.secret, { requireMessageAuthenticator: false });
  assert.throws(() => verifyReply(accept, request, rfc.secret), code('RADIUS_MESSAGE_AUTHENTICATOR_MISSING'));
  assert.throws(() => verifyReply(accept, request, 'xyzzy5462', { requireMessageAuthenticator: false }), code('RADIUS_BAD_AUTHENTICATOR'));
});

test('a request captured from radclient: its Message-Authenticator verifies and its long password unhides', () => {
  const request = decodePacket(radclientRequest.bytes);
  verifyRequestMessageAuthenticator(request, radclientRequest.secret);
  const hidden = attributeBytes(request, AttributeType.UserPassword)!;
  assert.equal(unhidePassword(hidden, radclientRequest.secret, request.authenticator).toString(), radclientRequest.password);
  assert.deepEqual(hidePassword(radclientRequest.password, radclientRequest.secret, request.authenticator), hidden);
  assert.throws(() => verifyRequestMessageAuthenticator(request, 'testing124'), code('RADIUS_BAD_AUTHENTICATOR'));
});

test('User-Password hides and unhides every length from 0 to 128 bytes, padded to 16-byte blocks', () => {
  const authenticator = randomBytes(16);
  for (let length = 0; length <= 128; length++) {
    const password = Buffer.alloc(length, 0x41 + (length % 26));
    const hidden = hidePassword(password, SECRET, authenticator);
    assert.equal(hidden.length, Math.max(16, Math.ceil(length / 16) * 16), `length ${length}`);
    assert.deepEqual(unhidePassword(hidden, SECRET, authenticator), password, `length ${length}`);
  }
});

test('User-Password chains each block on the previous ciphertext block (RFC 2865 §5.2, computed here directly)', () => {
  const authenticator = randomBytes(16);
  const password = Buffer.from('0123456789abcdef0123456789ABCDEF!');
  const padded = Buffer.alloc(48);
  password.copy(padded);
  const expected = Buffer.alloc(48);
  let previous = authenticator;
  for (let block = 0; block < 3; block++) {
    const b = createHash('md5').update(SECRET).update(previous).digest();
    for (let i = 0; i < 16; i++) expected[block * 16 + i] = padded[block * 16 + i]! ^ b[i]!;
    previous = expected.subarray(block * 16, block * 16 + 16);
  }
  assert.deepEqual(hidePassword(password, SECRET, authenticator), expected);
});

test('User-Password refuses a password over 128 bytes and hidden values of impossible lengths', () => {
  const authenticator = randomBytes(16);
  assert.throws(() => hidePassword(Buffer.alloc(129, 0x41), SECRET, authenticator), code('RADIUS_MALFORMED_PACKET'));
  for (const length of [0, 15, 17, 144]) {
    assert.throws(() => unhidePassword(Buffer.alloc(length), SECRET, authenticator), code('RADIUS_MALFORMED_PACKET'), `length ${length}`);
  }
});

test('an Access-Request carries a Message-Authenticator equal to an HMAC-MD5 computed straight over its bytes', () => {
  const { bytes, packet } = signedRequest('123456', Buffer.from('state-1'));
  assert.equal(bytes[20], AttributeType.MessageAuthenticator);
  assert.deepEqual(bytes.subarray(22, 38), independentMessageAuthenticator(bytes, 22, bytes.subarray(4, 20), SECRET));
  assert.deepEqual(messageAuthenticator(packet, packet.authenticator, SECRET), bytes.subarray(22, 38));
  assert.equal(attributeString(packet, AttributeType.UserName), 'alice');
  assert.deepEqual(attributeBytes(packet, AttributeType.State), Buffer.from('state-1'));
  verifyRequestMessageAuthenticator(packet, SECRET);
});

test('a request with a wrong, missing, doubled or short Message-Authenticator is refused', () => {
  const { packet } = signedRequest();
  const replaceAuth = (value: Buffer): RadiusPacket => ({
    ...packet,
    attributes: packet.attributes.map((a) => (a.type === AttributeType.MessageAuthenticator ? { type: a.type, value } : a)),
  });
  const flipped = Buffer.from(attributeBytes(packet, AttributeType.MessageAuthenticator)!);
  flipped[0]! ^= 1;
  assert.throws(() => verifyRequestMessageAuthenticator(replaceAuth(flipped), SECRET), code('RADIUS_BAD_AUTHENTICATOR'));
  assert.throws(() => verifyRequestMessageAuthenticator(packet, 'another secret'), code('RADIUS_BAD_AUTHENTICATOR'));
  const tampered = { ...packet, attributes: [...packet.attributes, { type: AttributeType.ProxyState, value: Buffer.from('x') }] };
  assert.throws(() => verifyRequestMessageAuthenticator(tampered, SECRET), code('RADIUS_BAD_AUTHENTICATOR'));
  const missing = { ...packet, attributes: packet.attributes.filter((a) => a.type !== AttributeType.MessageAuthenticator) };
  assert.throws(() => verifyRequestMessageAuthenticator(missing, SECRET), code('RADIUS_MESSAGE_AUTHENTICATOR_MISSING'));
  verifyRequestMessageAuthenticator(missing, SECRET, { required: false });
  const doubled = { ...packet, attributes: [...packet.attributes, firstItem(packet.attributes)] };
  assert.throws(() => verifyRequestMessageAuthenticator(doubled, SECRET), code('RADIUS_MALFORMED_PACKET'));
  assert.throws(() => verifyRequestMessageAuthenticator(replaceAuth(Buffer.alloc(15)), SECRET), code('RADIUS_MALFORMED_PACKET'));
});

test('a reply puts the Message-Authenticator first, keyed to the Request Authenticator, and signs everything with the Response Authenticator', () => {
  const { packet: request } = signedRequest('challenge');
  const bytes = buildReply(request, SECRET, {
    code: RadiusCode.AccessChallenge,
    replyMessage: 'Enter the next tokencode',
    state: Buffer.from('s1'),
  });
  assert.equal(bytes[0], RadiusCode.AccessChallenge);
  assert.equal(bytes[1], request.identifier);
  assert.equal(bytes[20], AttributeType.MessageAuthenticator);
  assert.deepEqual(bytes.subarray(22, 38), independentMessageAuthenticator(bytes, 22, request.authenticator, SECRET));
  const withRequestAuthenticator = Buffer.from(bytes);
  request.authenticator.copy(withRequestAuthenticator, 4);
  assert.deepEqual(bytes.subarray(4, 20), createHash('md5').update(withRequestAuthenticator).update(SECRET).digest());
  const reply = decodePacket(bytes);
  assert.equal(attributeString(reply, AttributeType.ReplyMessage), 'Enter the next tokencode');
  assert.deepEqual(attributeBytes(reply, AttributeType.State), Buffer.from('s1'));
  verifyReply(reply, request, SECRET);
});

test('a reply echoes Proxy-State last and in order, after any extra attributes', () => {
  const request = decodePacket(
    buildAccessRequest(
      {
        identifier: 1,
        authenticator: randomBytes(16),
        userName: 'alice',
        password: '123456',
        attributes: [
          { type: AttributeType.ProxyState, value: Buffer.from('p1') },
          { type: AttributeType.NasIdentifier, value: Buffer.from('vpn') },
          { type: AttributeType.ProxyState, value: Buffer.from('p2') },
        ],
      },
      SECRET,
    ),
  );
  const sessionTimeout = { type: AttributeType.SessionTimeout, value: Buffer.from([0, 0, 0, 60]) };
  const reply = decodePacket(buildReply(request, SECRET, { code: RadiusCode.AccessAccept, attributes: [sessionTimeout] }));
  assert.deepEqual(reply.attributes.slice(1), [
    sessionTimeout,
    { type: AttributeType.ProxyState, value: Buffer.from('p1') },
    { type: AttributeType.ProxyState, value: Buffer.from('p2') },
  ]);
  verifyReply(reply, request, SECRET);
});

test('a long Reply-Message is split over 253-byte attributes without cutting a UTF-8 character', () => {
  const { packet: request } = signedRequest('nope');
  const cases: [string, number[]][] = [
    ['x'.repeat(600), [253, 253, 94]],
    ['é'.repeat(300), [252, 252, 96]],
    [`a${'€'.repeat(200)}`, [253, 252, 96]],
  ];
  for (const [text, lengths] of cases) {
    const reply = decodePacket(buildReply(request, SECRET, { code: RadiusCode.AccessReject, replyMessage: text }));
    const parts = reply.attributes.filter((a) => a.type === AttributeType.ReplyMessage).map((a) => a.value);
    assert.deepEqual(
      parts.map((p) => p.length),
      lengths,
    );
    for (const part of parts) new TextDecoder('utf-8', { fatal: true }).decode(part);
    assert.equal(Buffer.concat(parts).toString('utf8'), text);
  }
  const silent = decodePacket(buildReply(request, SECRET, { code: RadiusCode.AccessReject, replyMessage: '' }));
  assert.deepEqual(
    silent.attributes.map((a) => a.type),
    [AttributeType.MessageAuthenticator],
  );
});

test('an Access-Reject cannot carry a State', () => {
  const { packet: request } = signedRequest('nope');
  assert.throws(
    () => buildReply(request, SECRET, { code: RadiusCode.AccessReject, state: Buffer.from('s') }),
    code('RADIUS_MALFORMED_PACKET'),
  );
});

test('a reply with another identifier, a wrong authenticator or no Message-Authenticator fails verification', () => {
  const { packet: request } = signedRequest();
  const reply = decodePacket(buildReply(request, SECRET, { code: RadiusCode.AccessAccept }));
  assert.throws(() => verifyReply({ ...reply, identifier: 43 }, request, SECRET), code('RADIUS_BAD_AUTHENTICATOR'));
  assert.throws(() => verifyReply(reply, { ...request, authenticator: randomBytes(16) }, SECRET), code('RADIUS_BAD_AUTHENTICATOR'));
  assert.throws(() => verifyReply(reply, request, 'another secret'), code('RADIUS_BAD_AUTHENTICATOR'));

  // A wrong Message-Authenticator under a Response Authenticator that matches it.
  const forged: RadiusPacket = { ...reply, attributes: [{ type: AttributeType.MessageAuthenticator, value: Buffer.alloc(16, 7) }] };
  forged.authenticator = responseAuthenticator(forged, request.authenticator, SECRET);
  assert.throws(() => verifyReply(forged, request, SECRET), /Message-Authenticator/);

  const bare: RadiusPacket = { ...reply, attributes: [] };
  bare.authenticator = responseAuthenticator(bare, request.authenticator, SECRET);
  assert.throws(() => verifyReply(bare, request, SECRET), code('RADIUS_MESSAGE_AUTHENTICATOR_MISSING'));
  verifyReply(bare, request, SECRET, { requireMessageAuthenticator: false });
});

test('mutated signed requests only ever raise TallyError through decode, verify, unhide and text reads', () => {
  const { bytes } = signedRequest('a passcode of some length');
  for (let i = 0; i < 3000; i++) {
    const mutated = Buffer.from(bytes);
    for (let flips = 1 + (i % 3); flips > 0; flips--) mutated[Math.floor(Math.random() * mutated.length)]! ^= 1 << (i % 8);
    try {
      const packet = decodePacket(i % 7 === 0 ? mutated.subarray(0, 20 + (i % mutated.length)) : mutated);
      attributeString(packet, AttributeType.UserName);
      const hidden = attributeBytes(packet, AttributeType.UserPassword);
      if (hidden !== undefined) unhidePassword(hidden, SECRET, packet.authenticator);
      verifyRequestMessageAuthenticator(packet, SECRET);
      // Only a mutation that undid itself may verify.
      assert.deepEqual(encodePacket(packet), bytes);
    } catch (e) {
      if (!(e instanceof TallyError)) throw e;
    }
  }
});
