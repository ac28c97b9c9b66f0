/**
 * MD5 (RFC 1321), SHA-1 (RFC 3174) and their HMACs (RFC 2104) for the short inputs of the
 * authentication hot path: a RADIUS packet's authenticators and a tokencode's HMAC. node:crypto
 * computes the same values, but each call costs microseconds of set-up for a few hundred
 * nanoseconds of hashing, and a RADIUS accept needs five to seven of them; here a call is a few
 * compressions of plain integer arithmetic. Tested against node:crypto and the RFCs' vectors.
 * Neither is used where collision resistance matters: RADIUS mandates MD5, and HMAC-SHA-1 (OATH)
 * rests on SHA-1's compression function as a PRF.
 * Every index below is in range by its loop bound or the block size, so reads assert it with `!`
 * (no run-time check in the compression loops).
 */

interface Algorithm {
  initial: Int32Array;
  /** Compresses the 64-byte block at `offset` into `state`. */
  compress(state: Int32Array, block: Uint8Array, offset: number): void;
  littleEndian: boolean;
  outputBytes: number;
}

const BLOCK = 64;

// ---- MD5 ----

const MD5_K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
const MD5_S = Uint8Array.from(
  { length: 64 },
  (_, i) =>
    [
      [7, 12, 17, 22],
      [5, 9, 14, 20],
      [4, 11, 16, 23],
      [6, 10, 15, 21],
    ][i >> 4]![i % 4]!,
);
const MD5_G = Uint8Array.from({ length: 64 }, (_, i) =>
  i < 16 ? i : i < 32 ? (5 * i + 1) % 16 : i < 48 ? (3 * i + 5) % 16 : (7 * i) % 16,
);
const md5Words = new Int32Array(16);

function md5Compress(state: Int32Array, block: Uint8Array, offset: number): void {
  const m = md5Words;
  for (let i = 0; i < 16; i++) {
    const o = offset + i * 4;
    m[i] = block[o]! | (block[o + 1]! << 8) | (block[o + 2]! << 16) | (block[o + 3]! << 24);
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  // One loop per round, so that no step branches on which function it uses.
  for (let i = 0; i < 16; i++) {
    const f = (((b & c) | (~b & d)) + a + MD5_K[i]! + m[MD5_G[i]!]!) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((f << MD5_S[i]!) | (f >>> (32 - MD5_S[i]!)))) | 0;
  }
  for (let i = 16; i < 32; i++) {
    const f = (((d & b) | (~d & c)) + a + MD5_K[i]! + m[MD5_G[i]!]!) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((f << MD5_S[i]!) | (f >>> (32 - MD5_S[i]!)))) | 0;
  }
  for (let i = 32; i < 48; i++) {
    const f = ((b ^ c ^ d) + a + MD5_K[i]! + m[MD5_G[i]!]!) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((f << MD5_S[i]!) | (f >>> (32 - MD5_S[i]!)))) | 0;
  }
  for (let i = 48; i < 64; i++) {
    const f = ((c ^ (b | ~d)) + a + MD5_K[i]! + m[MD5_G[i]!]!) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((f << MD5_S[i]!) | (f >>> (32 - MD5_S[i]!)))) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}

const MD5: Algorithm = {
  initial: Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476),
  compress: md5Compress,
  littleEndian: true,
  outputBytes: 16,
};

// ---- SHA-1 ----

const sha1Words = new Int32Array(80);

function sha1Compress(state: Int32Array, block: Uint8Array, offset: number): void {
  const w = sha1Words;
  for (let i = 0; i < 16; i++) {
    const o = offset + i * 4;
    w[i] = (block[o]! << 24) | (block[o + 1]! << 16) | (block[o + 2]! << 8) | block[o + 3]!;
  }
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  // One loop per round, so that no step branches on which function it uses.
  for (let i = 0; i < 20; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 20; i < 40; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 40; i < 60; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (let i = 60; i < 80; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
}

const SHA1: Algorithm = {
  initial: Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0),
  compress: sha1Compress,
  littleEndian: false,
  outputBytes: 20,
};

// ---- Merkle-Damgård over byte arrays ----

/** The final block or two: the message's tail, 0x80, zeros and the bit length. */
const tail = new Uint8Array(2 * BLOCK);

/**
 * Hashes `parts` (concatenated) from `state`, which has already absorbed `absorbed` bytes (a
 * multiple of 64: an HMAC's key block), and returns the digest.
 */
function finish(algorithm: Algorithm, state: Int32Array, absorbed: number, parts: readonly Uint8Array[]): Buffer {
  let pending = 0;
  let total = absorbed;
  for (const part of parts) {
    total += part.length;
    let offset = 0;
    if (pending > 0) {
      while (pending < BLOCK && offset < part.length) tail[pending++] = part[offset++]!;
      if (pending < BLOCK) continue;
      algorithm.compress(state, tail, 0);
      pending = 0;
    }
    for (; offset + BLOCK <= part.length; offset += BLOCK) algorithm.compress(state, part, offset);
    while (offset < part.length) tail[pending++] = part[offset++]!;
  }
  tail[pending] = 0x80;
  const end = pending + 1 + 8 <= BLOCK ? BLOCK : 2 * BLOCK;
  tail.fill(0, pending + 1, end);
  const bits = total * 8;
  const high = Math.floor(bits / 2 ** 32);
  const low = bits >>> 0;
  for (let i = 0; i < 4; i++) {
    if (algorithm.littleEndian) {
      tail[end - 8 + i] = (low >>> (8 * i)) & 0xff;
      tail[end - 4 + i] = (high >>> (8 * i)) & 0xff;
    } else {
      tail[end - 1 - i] = (low >>> (8 * i)) & 0xff;
      tail[end - 5 - i] = (high >>> (8 * i)) & 0xff;
    }
  }
  algorithm.compress(state, tail, 0);
  if (end > BLOCK) algorithm.compress(state, tail, BLOCK);
  const out = Buffer.allocUnsafe(algorithm.outputBytes);
  for (let i = 0; i < algorithm.outputBytes; i++) {
    const shift = algorithm.littleEndian ? 8 * (i % 4) : 24 - 8 * (i % 4);
    out[i] = (state[i >> 2]! >>> shift) & 0xff;
  }
  return out;
}

function digest(algorithm: Algorithm, parts: readonly Uint8Array[]): Buffer {
  return finish(algorithm, algorithm.initial.slice(), 0, parts);
}

/** HMAC's key block XORed with `pad`, absorbed into a fresh state. */
function keyedState(algorithm: Algorithm, key: Uint8Array, pad: number): Int32Array {
  const block = new Uint8Array(BLOCK);
  block.set(key.length > BLOCK ? digest(algorithm, [key]) : key);
  for (let i = 0; i < BLOCK; i++) block[i]! ^= pad;
  const state = algorithm.initial.slice();
  algorithm.compress(state, block, 0);
  return state;
}

/**
 * The keyed states of keys in use (a RADIUS client's secret, a token's opened seed), so that the
 * same key hashes again without absorbing its key block twice. Weak, so a key no longer held
 * anywhere else is forgotten; the key's bytes are kept and compared, so a buffer reused for
 * another key is never mistaken for the first.
 */
const keyedStates = new WeakMap<Uint8Array, { algorithm: Algorithm; key: Buffer; inner: Int32Array; outer: Int32Array }>();

function hmac(algorithm: Algorithm, key: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  let keyed = keyedStates.get(key);
  if (keyed === undefined || keyed.algorithm !== algorithm || !keyed.key.equals(key)) {
    keyed = { algorithm, key: Buffer.from(key), inner: keyedState(algorithm, key, 0x36), outer: keyedState(algorithm, key, 0x5c) };
    keyedStates.set(key, keyed);
  }
  const inner = finish(algorithm, keyed.inner.slice(), BLOCK, parts);
  return finish(algorithm, keyed.outer.slice(), BLOCK, [inner]);
}

/** MD5 of the parts, concatenated. */
export function md5(...parts: Uint8Array[]): Buffer {
  return digest(MD5, parts);
}

/** SHA-1 of the parts, concatenated. */
export function sha1(...parts: Uint8Array[]): Buffer {
  return digest(SHA1, parts);
}

/** HMAC-MD5 of the parts, concatenated. */
export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  return hmac(MD5, key, parts);
}

/** HMAC-SHA-1 of the parts, concatenated. */
export function hmacSha1(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  return hmac(SHA1, key, parts);
}
