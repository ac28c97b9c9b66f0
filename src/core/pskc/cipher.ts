import { createCipheriv, createDecipheriv, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';

const BLOCK = 16;

/** aes128-cbc as XML Encryption and RFC 6030 use it: the IV goes in front, PKCS#7 padding. */
export function encryptAes128Cbc(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final()]);
}

export type Decrypted = { ok: true; plaintext: Buffer } | { ok: false; reason: 'length' | 'padding' };

/** Undoes encryptAes128Cbc; a wrong key shows up (nearly always) as bad padding. */
export function decryptAes128Cbc(key: Uint8Array, ivAndCiphertext: Uint8Array): Decrypted {
  if (ivAndCiphertext.length < 2 * BLOCK || ivAndCiphertext.length % BLOCK !== 0) return { ok: false, reason: 'length' };
  const decipher = createDecipheriv('aes-128-cbc', key, ivAndCiphertext.subarray(0, BLOCK));
  try {
    return { ok: true, plaintext: Buffer.concat([decipher.update(ivAndCiphertext.subarray(BLOCK)), decipher.final()]) };
  } catch {
    return { ok: false, reason: 'padding' };
  }
}

/** Node's digest name for an HMAC named by the fragment of its XML-DSig URI (`hmac-sha256`). */
export function hmacDigest(fragment: string): string | undefined {
  const match = /^hmac-sha(1|224|256|384|512)$/.exec(fragment.toLowerCase());
  return match ? `sha${match[1]}` : undefined;
}

export function hmac(digest: string, key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac(digest, key).update(data).digest();
}

export function macMatches(digest: string, key: Uint8Array, data: Uint8Array, expected: Uint8Array): boolean {
  const actual = hmac(digest, key, data);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function derivePbkdf2(password: string, salt: Uint8Array, iterations: number, keyLength: number, digest: string): Buffer {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, keyLength, digest);
}
