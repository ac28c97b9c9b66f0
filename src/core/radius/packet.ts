import { TallyError } from '../../errors.js';

/** RADIUS packet codes Tally sends or answers (RFC 2865 §3). */
export const RadiusCode = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccessChallenge: 11,
} as const;

/** One attribute as it was on the wire; Vendor-Specific (26) stays raw in `value`. */
export interface RadiusAttribute {
  type: number;
  value: Buffer;
}

export interface RadiusPacket {
  code: number;
  identifier: number;
  /** Request Authenticator in requests, Response Authenticator in replies: 16 bytes. */
  authenticator: Buffer;
  /** In wire order, which matters: Proxy-State is echoed in order and the authenticators hash the bytes. */
  attributes: RadiusAttribute[];
}

const HEADER_LENGTH = 20;
const MAX_PACKET_LENGTH = 4096;
export const MAX_ATTRIBUTE_VALUE_LENGTH = 253;

function malformed(message: string, details?: Record<string, unknown>): TallyError {
  return new TallyError('RADIUS_MALFORMED_PACKET', message, details);
}

/**
 * Decodes one datagram. Bytes after the Length field are padding and ignored (RFC 2865 §3); a
 * datagram larger than the 4096-byte maximum is refused outright rather than read, so a flood of
 * oversized datagrams costs nothing.
 */
export function decodePacket(datagram: Buffer): RadiusPacket {
  if (datagram.length < HEADER_LENGTH) {
    throw malformed(`A RADIUS packet needs at least ${HEADER_LENGTH} bytes; this datagram has ${datagram.length}.`);
  }
  if (datagram.length > MAX_PACKET_LENGTH) {
    throw malformed(`A RADIUS packet has at most ${MAX_PACKET_LENGTH} bytes; this datagram has ${datagram.length}.`);
  }
  const length = datagram.readUInt16BE(2);
  if (length < HEADER_LENGTH || length > datagram.length) {
    throw malformed(`The Length field (${length}) does not fit the datagram (${datagram.length} bytes).`);
  }
  const attributes: RadiusAttribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < length) {
    if (offset + 2 > length) throw malformed('An attribute header runs past the end of the packet.', { offset });
    const type = datagram.readUInt8(offset);
    const attributeLength = datagram.readUInt8(offset + 1);
    if (attributeLength < 2) throw malformed(`Attribute ${type} has length ${attributeLength}, below the minimum of 2.`, { offset });
    if (offset + attributeLength > length) throw malformed(`Attribute ${type} runs past the end of the packet.`, { offset });
    // A copy, so a decoded packet does not pin or alias the receive buffer.
    attributes.push({ type, value: Buffer.from(datagram.subarray(offset + 2, offset + attributeLength)) });
    offset += attributeLength;
  }
  return {
    code: datagram.readUInt8(0),
    identifier: datagram.readUInt8(1),
    authenticator: Buffer.from(datagram.subarray(4, HEADER_LENGTH)),
    attributes,
  };
}

/** Encodes a packet byte for byte as given; decoding and encoding again yields the same bytes. */
export function encodePacket(packet: RadiusPacket): Buffer {
  if (!isByte(packet.code) || !isByte(packet.identifier)) {
    throw malformed('The code and identifier must each be an integer from 0 to 255.');
  }
  if (packet.authenticator.length !== 16) throw malformed('The authenticator must be 16 bytes.');
  let length = HEADER_LENGTH;
  for (const { type, value } of packet.attributes) {
    if (!isByte(type)) throw malformed(`Attribute type ${type} is not an integer from 0 to 255.`);
    if (value.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
      throw malformed(`Attribute ${type} has ${value.length} bytes; the maximum is ${MAX_ATTRIBUTE_VALUE_LENGTH}.`);
    }
    length += 2 + value.length;
  }
  if (length > MAX_PACKET_LENGTH) throw malformed(`The packet would be ${length} bytes; the maximum is ${MAX_PACKET_LENGTH}.`);
  const out = Buffer.alloc(length);
  out[0] = packet.code;
  out[1] = packet.identifier;
  out.writeUInt16BE(length, 2);
  packet.authenticator.copy(out, 4);
  let offset = HEADER_LENGTH;
  for (const { type, value } of packet.attributes) {
    out[offset] = type;
    out[offset + 1] = 2 + value.length;
    value.copy(out, offset + 2);
    offset += 2 + value.length;
  }
  return out;
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}
