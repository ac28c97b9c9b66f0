import { timingSafeEqual } from 'node:crypto';
import { TallyError } from '../../errors.js';
import { hmacMd5, md5 } from '../crypto/small-hash.js';
import { AttributeType, proxyStates } from './attributes.js';
import { encodePacket, MAX_ATTRIBUTE_VALUE_LENGTH, type RadiusAttribute, RadiusCode, type RadiusPacket } from './packet.js';

/** A RADIUS shared secret; a string is taken as its UTF-8 bytes. */
export type Secret = Buffer | string;

const MAX_PASSWORD_LENGTH = 128;
const BLOCK = 16;
/** Code, Identifier, Length and the 16-byte authenticator. */
const HEADER_BYTES = 20;

function bytes(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Each 16-byte block is XORed with MD5(secret + previous ciphertext block), the first with the Request Authenticator (RFC 2865 §5.2). */
function xorChain(input: Buffer, secret: Buffer, requestAuthenticator: Buffer, encrypting: boolean): Buffer {
  const out = Buffer.alloc(input.length);
  let previous = requestAuthenticator;
  for (let offset = 0; offset < input.length; offset += BLOCK) {
    const pad = md5(secret, previous);
    for (let i = 0; i < BLOCK; i++) out[offset + i] = input[offset + i]! ^ pad[i]!;
    previous = (encrypting ? out : input).subarray(offset, offset + BLOCK);
  }
  return out;
}

/** Hides a PAP password for the User-Password attribute (RFC 2865 §5.2). */
export function hidePassword(password: Buffer | string, secret: Secret, requestAuthenticator: Buffer): Buffer {
  const plain = bytes(password);
  if (plain.length > MAX_PASSWORD_LENGTH) {
    throw new TallyError('RADIUS_MALFORMED_PACKET', `A User-Password has at most ${MAX_PASSWORD_LENGTH} bytes.`);
  }
  const padded = Buffer.alloc(Math.max(BLOCK, Math.ceil(plain.length / BLOCK) * BLOCK));
  plain.copy(padded);
  return xorChain(padded, bytes(secret), requestAuthenticator, true);
}

/**
 * Recovers a PAP password from User-Password. The NUL padding is stripped, so a password that
 * itself ends in NUL bytes loses them, as with every RADIUS server.
 */
export function unhidePassword(hidden: Buffer, secret: Secret, requestAuthenticator: Buffer): Buffer {
  if (hidden.length < BLOCK || hidden.length > MAX_PASSWORD_LENGTH || hidden.length % BLOCK !== 0) {
    throw new TallyError('RADIUS_MALFORMED_PACKET', `A User-Password must be 16 to 128 bytes in 16-byte blocks; it is ${hidden.length}.`);
  }
  const padded = xorChain(hidden, bytes(secret), requestAuthenticator, false);
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  return padded.subarray(0, end);
}

/** MD5(Code + Identifier + Length + Request Authenticator + Attributes + Secret), RFC 2865 §3. */
export function responseAuthenticator(reply: RadiusPacket, requestAuthenticator: Buffer, secret: Secret): Buffer {
  return md5(encodePacket({ ...reply, authenticator: requestAuthenticator }), bytes(secret));
}

/** The packet's one Message-Authenticator attribute, or undefined; two, or a wrong length, is malformed (RFC 3579 §3.2). */
function findMessageAuthenticator(packet: RadiusPacket): RadiusAttribute | undefined {
  const found = packet.attributes.filter((a) => a.type === AttributeType.MessageAuthenticator);
  if (found.length > 1) throw new TallyError('RADIUS_MALFORMED_PACKET', 'The packet has more than one Message-Authenticator.');
  if (found[0] !== undefined && found[0].value.length !== BLOCK) {
    throw new TallyError('RADIUS_MALFORMED_PACKET', 'The Message-Authenticator must be 16 bytes.');
  }
  return found[0];
}

/**
 * HMAC-MD5 over the packet with the Message-Authenticator value zeroed and `authenticatorField` in
 * the authenticator field: the packet's own Request Authenticator for a request, the request's for
 * a reply (RFC 3579 §3.2). The packet must hold exactly one Message-Authenticator.
 */
export function messageAuthenticator(packet: RadiusPacket, authenticatorField: Buffer, secret: Secret): Buffer {
  const own = findMessageAuthenticator(packet);
  if (own === undefined) throw new TallyError('RADIUS_MESSAGE_AUTHENTICATOR_MISSING');
  const zeroed = packet.attributes.map((a) => (a === own ? { type: a.type, value: Buffer.alloc(BLOCK) } : a));
  const encoded = encodePacket({ ...packet, authenticator: authenticatorField, attributes: zeroed });
  return hmacMd5(bytes(secret), encoded);
}

/**
 * Checks an Access-Request's Message-Authenticator. Requiring it (the default) is the BlastRADIUS
 * mitigation: without it a man in the middle can add Proxy-State to the request and, through an
 * MD5 collision in the echoed reply, turn an Access-Reject into an Access-Accept.
 */
export function verifyRequestMessageAuthenticator(
  request: RadiusPacket,
  secret: Secret,
  options: { required: boolean } = { required: true },
): void {
  const own = findMessageAuthenticator(request);
  if (own === undefined) {
    if (options.required) throw new TallyError('RADIUS_MESSAGE_AUTHENTICATOR_MISSING');
    return;
  }
  if (!sameBytes(own.value, messageAuthenticator(request, request.authenticator, secret))) {
    throw new TallyError('RADIUS_BAD_AUTHENTICATOR', 'The request has a wrong Message-Authenticator; the shared secret may be wrong.');
  }
}

export type ReplyCode = typeof RadiusCode.AccessAccept | typeof RadiusCode.AccessReject | typeof RadiusCode.AccessChallenge;

export interface Reply {
  code: ReplyCode;
  /** Shown to the user; split over as many Reply-Message attributes as it needs. */
  replyMessage?: string;
  /** Sent back by the client in its next Access-Request, to continue a challenge. */
  state?: Buffer;
  /** More attributes (Class, Session-Timeout...), placed after the ones above. */
  attributes?: RadiusAttribute[];
}

/** Splits text into values of at most 253 bytes without cutting a UTF-8 sequence in two. */
function textChunks(text: string): Buffer[] {
  const all = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  let start = 0;
  while (start < all.length) {
    let end = Math.min(start + MAX_ATTRIBUTE_VALUE_LENGTH, all.length);
    while (end < all.length && (all[end]! & 0xc0) === 0x80) end--;
    chunks.push(all.subarray(start, end));
    start = end;
  }
  return chunks;
}

/**
 * Builds the signed reply datagram to an Access-Request. The Message-Authenticator comes first, as
 * the BlastRADIUS guidance asks: the unpredictable HMAC ahead of any attacker-chosen Proxy-State
 * leaves no known prefix for an MD5 chosen-prefix collision. The request's Proxy-States come last,
 * unchanged and in order.
 */
export function buildReply(request: RadiusPacket, secret: Secret, reply: Reply): Buffer {
  if (reply.state !== undefined && reply.code === RadiusCode.AccessReject) {
    throw new TallyError('RADIUS_MALFORMED_PACKET', 'An Access-Reject cannot carry a State (RFC 2865 §5.44).');
  }
  const attributes: RadiusAttribute[] = [
    { type: AttributeType.MessageAuthenticator, value: Buffer.alloc(BLOCK) },
    ...textChunks(reply.replyMessage ?? '').map((value) => ({ type: AttributeType.ReplyMessage, value })),
    ...(reply.state === undefined ? [] : [{ type: AttributeType.State, value: reply.state }]),
    ...(reply.attributes ?? []),
    ...proxyStates(request),
  ];
  // Encoded once and signed in place: the Message-Authenticator (first attribute, after the 20-byte
  // header) over the packet with the Request Authenticator in the header, then the Response
  // Authenticator, which covers the Message-Authenticator, over the same bytes plus the secret.
  const key = bytes(secret);
  const packet = encodePacket({ code: reply.code, identifier: request.identifier, authenticator: request.authenticator, attributes });
  hmacMd5(key, packet).copy(packet, HEADER_BYTES + 2);
  md5(packet, key).copy(packet, 4);
  return packet;
}

/** Fills in the zeroed first-attribute Message-Authenticator, keyed to the Request Authenticator in the packet's header. */
function withMessageAuthenticator(packet: RadiusPacket, secret: Secret): RadiusPacket {
  const value = messageAuthenticator(packet, packet.authenticator, secret);
  return { ...packet, attributes: [{ type: AttributeType.MessageAuthenticator, value }, ...packet.attributes.slice(1)] };
}

export interface AccessRequest {
  identifier: number;
  /** 16 unpredictable bytes (e.g. randomBytes(16)), new for every request. */
  authenticator: Buffer;
  userName: string;
  password: Buffer | string;
  /** The State from the Access-Challenge being answered. */
  state?: Buffer;
  attributes?: RadiusAttribute[];
}

/** Builds a PAP Access-Request datagram with a Message-Authenticator, as a NAS would (for tests and the benchmark). */
export function buildAccessRequest(request: AccessRequest, secret: Secret): Buffer {
  const packet = withMessageAuthenticator(
    {
      code: RadiusCode.AccessRequest,
      identifier: request.identifier,
      authenticator: request.authenticator,
      attributes: [
        { type: AttributeType.MessageAuthenticator, value: Buffer.alloc(BLOCK) },
        { type: AttributeType.UserName, value: Buffer.from(request.userName, 'utf8') },
        { type: AttributeType.UserPassword, value: hidePassword(request.password, secret, request.authenticator) },
        ...(request.state === undefined ? [] : [{ type: AttributeType.State, value: request.state }]),
        ...(request.attributes ?? []),
      ],
    },
    secret,
  );
  return encodePacket(packet);
}

/**
 * Checks that a decoded reply answers `request`: same identifier, a right Response Authenticator,
 * and a right Message-Authenticator (required unless `requireMessageAuthenticator` is false).
 */
export function verifyReply(
  reply: RadiusPacket,
  request: Pick<RadiusPacket, 'identifier' | 'authenticator'>,
  secret: Secret,
  options: { requireMessageAuthenticator: boolean } = { requireMessageAuthenticator: true },
): void {
  if (reply.identifier !== request.identifier) {
    throw new TallyError(
      'RADIUS_BAD_AUTHENTICATOR',
      `The reply's identifier ${reply.identifier} is not the request's ${request.identifier}.`,
    );
  }
  if (!sameBytes(reply.authenticator, responseAuthenticator(reply, request.authenticator, secret))) {
    throw new TallyError('RADIUS_BAD_AUTHENTICATOR', 'The reply has a wrong Response Authenticator; the shared secret may be wrong.');
  }
  const own = findMessageAuthenticator(reply);
  if (own === undefined) {
    if (options.requireMessageAuthenticator) throw new TallyError('RADIUS_MESSAGE_AUTHENTICATOR_MISSING');
    return;
  }
  if (!sameBytes(own.value, messageAuthenticator(reply, request.authenticator, secret))) {
    throw new TallyError('RADIUS_BAD_AUTHENTICATOR', 'The reply has a wrong Message-Authenticator; the shared secret may be wrong.');
  }
}
