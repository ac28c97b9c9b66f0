/**
 * The key schedule, field protection and MAC input ("canon") of sdtid token files, per securid.md.
 * Exported one step at a time so the tests can hold each intermediate against the vectors.
 */
import type { XmlElement } from '../xml/strict.js';
import { aesEncrypt, cbcMac, fixedBytes } from './aes.js';

const IV_BATCH = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const IV_TOKEN = Buffer.from('1bb67ae8584caa73b25742d7078b83b8', 'hex');
const IV_ENCRYPT = Buffer.from('16a09e667f3bcc908b2fb1366ea957d3', 'hex');

const K0_ROUNDS = 1000;

/**
 * K0, the key that protects the batch secret: the XOR of 1000 CBC-MACs keyed by Name[16] over
 * `pw[32] || Dest[32] || 14 zero bytes || BE16(i)`, where pw is the file password or, for a file
 * without one, the Origin text.
 */
export function deriveK0(passwordOrOrigin: string, dest: string, name: string): Buffer {
  const key = fixedBytes(name, 16);
  // The first four blocks never change with i, so their chained state is computed once and the
  // 1000 last blocks go through AES in one ECB pass (ECB encrypts each block on its own).
  const chained = cbcMac(key, Buffer.alloc(16), Buffer.concat([fixedBytes(passwordOrOrigin, 32), fixedBytes(dest, 32)]));
  const lastBlocks = Buffer.alloc(16 * K0_ROUNDS);
  for (let i = 0; i < K0_ROUNDS; i++) {
    chained.copy(lastBlocks, 16 * i);
    lastBlocks[16 * i + 14]! ^= i >> 8;
    lastBlocks[16 * i + 15]! ^= i & 0xff;
  }
  const macs = aesEncrypt(key, lastBlocks);
  const k0 = Buffer.alloc(16);
  for (let i = 0; i < macs.length; i++) k0[i % 16]! ^= macs[i]!;
  return k0;
}

/** XORed with the batch secret S to give the header's Secret field (and back). */
export function secretFieldMask(k0: Buffer, name: string): Buffer {
  return aesEncrypt(k0, Buffer.concat([Buffer.from('Secret\0\0', 'latin1'), fixedBytes(name, 8)]));
}

export function batchMacKey(batchSecret: Buffer, name: string): Buffer {
  return cbcMac(batchSecret, IV_BATCH, Buffer.concat([fixedBytes('BatchMAC', 32), fixedBytes(name, 32)]));
}

/** `sn` is the SN text as written in the file (trimmed, not zero-padded). */
export function tokenMacKey(batchSecret: Buffer, sn: string): Buffer {
  return cbcMac(batchSecret, IV_TOKEN, Buffer.concat([fixedBytes('TokenMAC', 32), fixedBytes(sn, 32)]));
}

export function tokenEncryptionKey(batchSecret: Buffer, sn: string): Buffer {
  return cbcMac(batchSecret, IV_ENCRYPT, Buffer.concat([fixedBytes('TokenEncrypt', 32), fixedBytes(sn, 32)]));
}

/** XORed with the seed to give the token's Seed field (after its leading character), and back. */
export function seedFieldMask(encryptionKey: Buffer, sn: string): Buffer {
  return aesEncrypt(encryptionKey, Buffer.concat([fixedBytes(sn, 8), Buffer.from('Seed\0\0\0\0', 'latin1')]));
}

export function headerMac(batchMacKeyValue: Buffer, canonHeader: Buffer): Buffer {
  return cbcMac(batchMacKeyValue, IV_BATCH, canonHeader);
}

export function tokenMac(tokenMacKeyValue: Buffer, canonToken: Buffer): Buffer {
  return cbcMac(tokenMacKeyValue, IV_TOKEN, canonToken);
}

function isMacElement(name: string): boolean {
  return name.length > 3 && name.endsWith('MAC');
}

/** The `PATH VALUE\n` lines of a section, in document order, before alignment. */
function canonLines(element: XmlElement, path: string, out: { line: Buffer; empty: boolean }[]): void {
  for (const child of element.children) {
    if (isMacElement(child.name)) continue;
    const childPath = `${path}.${child.name}`;
    if (child.children.length > 0) {
      canonLines(child, childPath, out);
    } else if (child.text.length > 0) {
      out.push({ line: Buffer.from(`${childPath} ${child.text}\n`, 'utf8'), empty: false });
    } else {
      out.push({ line: Buffer.from(`${childPath} </${child.name}>\n`, 'utf8'), empty: true });
    }
  }
}

/**
 * The bytes a section's MAC covers. Each line is followed by as many zero bytes as the previous
 * position was past a 16-byte boundary (16 when it was on one), and a short non-empty line first
 * moves back to the last boundary, overwriting what was there. The MACs in real files are computed
 * over exactly these bytes, quirk included.
 */
export function canon(section: XmlElement): Buffer {
  const lines: { line: Buffer; empty: boolean }[] = [];
  canonLines(section, section.name, lines);
  const buffer = Buffer.alloc(lines.reduce((size, { line }) => size + line.length + 16, 0));
  let pos = 0;
  let pad = 0;
  for (const { line, empty } of lines) {
    if (!empty && line.length + pad <= 16) pos -= pos % 16;
    line.copy(buffer, pos);
    buffer.fill(0, pos + line.length, pos + line.length + pad);
    pos += line.length + pad;
    pad = pos % 16 === 0 ? 16 : pos % 16;
  }
  return buffer.subarray(0, pos);
}
