import { TallyError } from '../../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

const VALUES = new Map<string, number>([...ALPHABET].map((char, index) => [char, index]));

/** RFC 4648 base32, upper case, without `=` padding (the form otpauth links carry). */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes base32 as people and apps write it: any case, spaces or line breaks between groups,
 * `=` padding or none. Refuses anything else. Messages give positions, never characters, because
 * the text is usually a seed.
 */
export function decodeBase32(text: string): Buffer {
  const body = text.replace(/[\s=]+$/, '');
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  let count = 0;
  for (let i = 0; i < body.length; i++) {
    const character = body.charAt(i);
    if (/\s/.test(character)) continue;
    const value = VALUES.get(character.toUpperCase());
    if (value === undefined) {
      throw new TallyError('FORMAT_INVALID', `The base32 text has a character outside A-Z and 2-7 at position ${i + 1}.`);
    }
    count++;
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((buffer >> bits) & 0xff);
    }
  }
  // Whole bytes leave 0, 2, 4, 5 or 7 characters in the last group of eight; 1, 3 or 6 never.
  if ([1, 3, 6].includes(count % 8)) {
    throw new TallyError('FORMAT_INVALID', `The base32 text has ${count} characters, a length no encoding produces.`);
  }
  return Buffer.from(out);
}
