import { TallyError } from '../../errors.js';
import type { RadiusAttribute, RadiusPacket } from './packet.js';

/** The attribute types Tally reads or writes (RFC 2865 §5, RFC 2869 §5.14, RFC 3579 §3.2). */
export const AttributeType = {
  UserName: 1,
  UserPassword: 2,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  NasPortType: 61,
  MessageAuthenticator: 80,
} as const;

/** The value of the first attribute of `type`, or undefined when there is none. */
export function attributeBytes(packet: RadiusPacket, type: number): Buffer | undefined {
  return packet.attributes.find((a) => a.type === type)?.value;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The first attribute of `type` as text. RFC 2865 text is UTF-8; invalid bytes are refused rather
 * than replaced, so two different User-Names can never decode to the same string.
 */
export function attributeString(packet: RadiusPacket, type: number): string | undefined {
  const value = attributeBytes(packet, type);
  if (value === undefined) return undefined;
  try {
    return utf8.decode(value);
  } catch {
    throw new TallyError('RADIUS_MALFORMED_PACKET', `Attribute ${type} is not valid UTF-8.`);
  }
}

/** The request's Proxy-State attributes, which a reply must carry unmodified and in order (RFC 2865 §5.33). */
export function proxyStates(request: RadiusPacket): RadiusAttribute[] {
  return request.attributes.filter((a) => a.type === AttributeType.ProxyState);
}
