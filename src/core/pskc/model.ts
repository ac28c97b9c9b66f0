import type { OtpAlgorithm } from '../otp/hotp.js';

export const PSKC_NS = 'urn:ietf:params:xml:ns:keyprov:pskc';
export const XENC_NS = 'http://www.w3.org/2001/04/xmlenc#';
export const XENC11_NS = 'http://www.w3.org/2009/xmlenc11#';
const PKCS5_NS = 'http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#';

export const PBKDF2_URI = `${PKCS5_NS}pbkdf2`;
export const AES128_CBC_URI = `${XENC_NS}aes128-cbc`;

export const HOTP_URI = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';
export const TOTP_URI = 'urn:ietf:params:xml:ns:keyprov:pskc:totp';
/** The time-based 128-bit SecurID profile of draft-hoyer-keyprov-pskc-algorithm-profiles. */
export const SECURID_AES_URI = 'http://www.rsa.com/names/2008/04/algorithms/SecurID#SecurID-AES';

/** HMACs for ValueMAC and the PBKDF2 PRF, by the fragment that ends their XML-DSig URIs. */
export type PskcHmac = 'hmac-sha1' | 'hmac-sha256';

/** URI, Node digest, and MAC key size (the hash's output size, as RFC 2104 recommends) of each HMAC the writer offers. */
export const PSKC_HMACS: Record<PskcHmac, { uri: string; digest: string; keyBytes: number }> = {
  'hmac-sha1': { uri: 'http://www.w3.org/2000/09/xmldsig#hmac-sha1', digest: 'sha1', keyBytes: 20 },
  'hmac-sha256': { uri: 'http://www.w3.org/2001/04/xmldsig-more#hmac-sha256', digest: 'sha256', keyBytes: 32 },
};

/**
 * What a key's `<Policy>` (RFC 6030, section 4.3.4) limits, where Tally can enforce it; a Policy
 * with anything else refuses the key (KEY_POLICY_UNSUPPORTED), as the RFC asks.
 */
export interface PskcPolicy {
  /** StartDate, in milliseconds since the epoch: the key may not be used before it. */
  startDate?: number;
  /** ExpiryDate, in milliseconds since the epoch: the key may not be used from then on. */
  expiryDate?: number;
  /** NumberOfTransactions: how many times the key may be used. */
  numberOfTransactions?: number;
}

interface PskcKeyCommon {
  /** The Key element's `Id`. */
  id?: string;
  secret: Uint8Array;
  /** ResponseFormat Length (decimal digits), 6 to 8. */
  digits: number;
  /** DeviceInfo/SerialNo. */
  serial?: string;
  /** DeviceInfo/Manufacturer. */
  manufacturer?: string;
  /** Key/UserId, or DeviceInfo/UserId when the key has none. */
  userId?: string;
  /** Key/Issuer. */
  issuer?: string;
  /** Key/FriendlyName. */
  friendlyName?: string;
  /** Key/Policy limits; absent when the key has no Policy or one that limits nothing Tally enforces. */
  policy?: PskcPolicy;
}

export interface PskcHotpKey extends PskcKeyCommon {
  kind: 'hotp';
  /** From AlgorithmParameters/Suite (`HMAC-SHA256`...); SHA1 when absent. */
  algorithm: OtpAlgorithm;
  /** Data/Counter; 0 when the file has none (RFC 6030's own figure 7 has none). */
  counter: number;
}

export interface PskcTotpKey extends PskcKeyCommon {
  kind: 'totp';
  algorithm: OtpAlgorithm;
  /** Data/TimeInterval in seconds; 30 when absent. */
  period: number;
  /** Data/Time as written; RFC 6030 leaves its meaning to the algorithm, so it is passed on, not applied. */
  time?: number;
  /** Data/TimeDrift: the device's clock drift in intervals, positive or negative. */
  timeDrift?: number;
}

/** A time-based AES-128 SecurID token: the seed with the serial and interval its tokencodes need. */
export interface PskcSecurIdKey extends PskcKeyCommon {
  kind: 'securid-aes';
  /** Twelve digits, left-padded with zeros. */
  serial: string;
  /** 30 or 60; 60 when absent. */
  period: number;
}

export type PskcKey = PskcHotpKey | PskcTotpKey | PskcSecurIdKey;
