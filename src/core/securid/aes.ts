import { createCipheriv, createDecipheriv } from 'node:crypto';

const BLOCK = 16;

/** AES-128-ECB over whole blocks (no padding): each 16-byte block encrypted on its own. */
export function aesEncrypt(key: Buffer, blocks: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([cipher.update(blocks), cipher.final()]);
}

export function aesDecrypt(key: Buffer, blocks: Buffer): Buffer {
  const decipher = createDecipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  return Buffer.concat([decipher.update(blocks), decipher.final()]);
}

/** Zero bytes appended up to a whole number of blocks (an empty input stays empty). */
function zeroPadToBlock(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** AES-128 CBC-MAC as SecurID files use it: the last block is zero-padded, the IV is explicit. */
export function cbcMac(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
  const chained = Buffer.concat([cipher.update(zeroPadToBlock(data)), cipher.final()]);
  return chained.subarray(chained.length - BLOCK);
}

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** `x[n]` in securid.md: the UTF-8 bytes of the text, zero-padded or truncated to n bytes. */
export function fixedBytes(text: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  Buffer.from(text, 'utf8').copy(out, 0, 0, size);
  return out;
}
