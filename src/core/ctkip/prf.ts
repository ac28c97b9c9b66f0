import { createCipheriv } from 'node:crypto';
import { invalidInput } from '../../errors.js';

const BLOCK = 16;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** RFC 4493 subkey step: a one-bit left shift, folding the carry back in with Rb = 0x87. */
function doubleBlock(block: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    out[i] = ((block[i]! << 1) & 0xff) | (i + 1 < BLOCK ? block[i + 1]! >>> 7 : 0);
  }
  if (block[0]! & 0x80) out[BLOCK - 1]! ^= 0x87;
  return out;
}

/** AES-CMAC with a 128-bit key (RFC 4493); returns the full 16-byte tag. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Buffer {
  if (key.length !== BLOCK) throw invalidInput('ctkipCmacKey');
  const ecb = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  const k1 = doubleBlock(ecb.update(ZERO_BLOCK));
  const k2 = doubleBlock(k1);

  const complete = message.length > 0 && message.length % BLOCK === 0;
  const blocks = complete ? message.length / BLOCK : Math.floor(message.length / BLOCK) + 1;
  const padded = Buffer.alloc(blocks * BLOCK);
  padded.set(message);
  if (!complete) padded[message.length] = 0x80;
  const subkey = complete ? k1 : k2;
  const lastStart = (blocks - 1) * BLOCK;
  for (let i = 0; i < BLOCK; i++) padded[lastStart + i]! ^= subkey[i]!;

  // CBC with a zero IV over the prepared blocks is the CMAC chain; its last block is the tag.
  const cbc = createCipheriv('aes-128-cbc', key, ZERO_BLOCK).setAutoPadding(false);
  const chained = Buffer.concat([cbc.update(padded), cbc.final()]);
  return chained.subarray(chained.length - BLOCK);
}

const COUNTER_ONE = Buffer.from([0, 0, 0, 1]);

/**
 * CT-KIP-PRF-AES as the SecurID dialect computes it for one 16-byte output block: the block
 * counter is appended to the message, where RFC 4758 prepends it.
 */
export function ctkipPrf(key: Uint8Array, message: Uint8Array): Buffer {
  return aesCmac(key, Buffer.concat([message, COUNTER_ONE]));
}

/** The RSA modulus as the PRF consumes it: unsigned big-endian, no leading zero bytes. */
export function modulusBytes(modulus: Uint8Array): Buffer {
  let start = 0;
  while (start < modulus.length - 1 && modulus[start] === 0) start++;
  return Buffer.from(modulus.subarray(start));
}

const KEY_GENERATION = Buffer.from('Key generation', 'ascii');
const MAC_COMPUTATION = Buffer.from('MAC 2 Computation', 'ascii');

/** K_TOKEN, the token seed: key material before the label, unlike RFC 4758. */
export function deriveTokenKey(clientNonce: Uint8Array, modulus: Uint8Array, serverNonce: Uint8Array): Buffer {
  return ctkipPrf(clientNonce, Buffer.concat([modulusBytes(modulus), KEY_GENERATION, serverNonce]));
}

/** The ServerFinished MAC, proving to the client that the server derived the same K_TOKEN. */
export function keyConfirmationMac(tokenKey: Uint8Array, clientNonce: Uint8Array): Buffer {
  return ctkipPrf(tokenKey, Buffer.concat([MAC_COMPUTATION, clientNonce]));
}
