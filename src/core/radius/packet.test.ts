import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { firstItem, item } from '../../../test/support/items.js';
import { TallyError } from '../../errors.js';
import { decodePacket, encodePacket, RadiusCode } from './packet.js';

/** The Access-Request of RFC 2865 §7.1, from its hex dump. */
const rfc2865AccessRequest = Buffer.from(
  `01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
   98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
   93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
   01 10 05 06 00 00 00 03`.replace(/\s+/g, ''),
  'hex',
);

function isMalformed(e: unknown): boolean {
  return e instanceof TallyError && e.code === 'RADIUS_MALFORMED_PACKET';
}

/** A 20-byte header with the given length field, followed by `body`. */
function datagram(lengthField: number, body: number[] = []): Buffer {
  const header = Buffer.alloc(20);
  header[0] = RadiusCode.AccessRequest;
  header.writeUInt16BE(lengthField, 2);
  return Buffer.concat([header, Buffer.from(body)]);
}

test('decodes the RFC 2865 §7.1 Access-Request and encodes it back byte for byte', () => {
  const packet = decodePacket(rfc2865AccessRequest);
  assert.equal(packet.code, RadiusCode.AccessRequest);
  assert.equal(packet.identifier, 0);
  assert.equal(packet.authenticator.toString('hex'), '0f403f9473978057bd83d5cb98f4227a');
  assert.deepEqual(
    packet.attributes.map((a) => [a.type, a.value.toString('hex')]),
    [
      [1, Buffer.from('nemo').toString('hex')],
      [2, '0dbe708d93d413ce3196e43f782a0aee'],
      [4, 'c0a80110'],
      [5, '00000003'],
    ],
  );
  assert.deepEqual(encodePacket(packet), rfc2865AccessRequest);
});

test('ignores bytes beyond the Length field as padding and copies values out of the datagram', () => {
  const padded = Buffer.concat([rfc2865AccessRequest, Buffer.from([1, 2, 3])]);
  const packet = decodePacket(padded);
  assert.equal(packet.attributes.length, 4);
  padded.fill(0);
  assert.equal(firstItem(packet.attributes).value.toString(), 'nemo');
});

test('keeps Vendor-Specific and unknown attributes raw, empty values included', () => {
  const vsa = [26, 12, 0, 0, 0x01, 0x37, 1, 6, 0xde, 0xad, 0xbe, 0xef];
  const packet = decodePacket(datagram(20 + 12 + 2 + 3, [...vsa, 200, 2, 201, 3, 7]));
  assert.deepEqual(packet.attributes, [
    { type: 26, value: Buffer.from(vsa.slice(2)) },
    { type: 200, value: Buffer.alloc(0) },
    { type: 201, value: Buffer.from([7]) },
  ]);
});

test('refuses every malformed datagram with RADIUS_MALFORMED_PACKET', () => {
  const cases: Record<string, Buffer> = {
    'empty datagram': Buffer.alloc(0),
    '19 bytes': Buffer.alloc(19),
    'length field larger than the datagram': datagram(21),
    'length field below 20': datagram(19),
    'attribute length 0': datagram(23, [1, 0, 0]),
    'attribute length 1': datagram(23, [1, 1, 0]),
    'attribute running past the end': datagram(24, [1, 6, 0x61, 0x62]),
    'attribute running past the Length field into padding': datagram(24, [1, 6, 0x61, 0x62, 0x63, 0x64]),
    'lone attribute type byte': datagram(21, [1]),
    '5000-byte datagram': Buffer.concat([datagram(20), Buffer.alloc(4980)]),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    assert.throws(() => decodePacket(bytes), isMalformed, name);
  }
});

test('accepts exactly 4096 bytes and refuses 4097', () => {
  const attributes = Array.from({ length: 15 }, () => ({ type: 18, value: Buffer.alloc(253) }));
  attributes.push({ type: 18, value: Buffer.alloc(4096 - 20 - 15 * 255 - 2) });
  const packet = { code: 2, identifier: 9, authenticator: Buffer.alloc(16), attributes };
  const bytes = encodePacket(packet);
  assert.equal(bytes.length, 4096);
  assert.deepEqual(decodePacket(bytes), packet);
  attributes[15] = { type: 18, value: Buffer.alloc(item(attributes, 15).value.length + 1) };
  assert.throws(() => encodePacket(packet), isMalformed);
  assert.throws(() => decodePacket(Buffer.concat([bytes, Buffer.alloc(1)])), isMalformed);
});

test('refuses to encode what cannot go on the wire', () => {
  const base = { code: 2, identifier: 1, authenticator: Buffer.alloc(16), attributes: [] };
  assert.throws(() => encodePacket({ ...base, attributes: [{ type: 18, value: Buffer.alloc(254) }] }), isMalformed);
  assert.throws(() => encodePacket({ ...base, attributes: [{ type: 256, value: Buffer.alloc(1) }] }), isMalformed);
  assert.throws(() => encodePacket({ ...base, identifier: 256 }), isMalformed);
  assert.throws(() => encodePacket({ ...base, code: -1 }), isMalformed);
  assert.throws(() => encodePacket({ ...base, authenticator: Buffer.alloc(15) }), isMalformed);
});

test('random and mutated datagrams only ever raise RADIUS_MALFORMED_PACKET, and what decodes re-encodes exactly', () => {
  const inputs: Buffer[] = [];
  for (let i = 0; i < 2000; i++) inputs.push(randomBytes(Math.floor(Math.random() * 200)));
  for (let i = 0; i < 3000; i++) {
    const mutated = Buffer.from(rfc2865AccessRequest);
    for (let flips = 1 + (i % 4); flips > 0; flips--) mutated[Math.floor(Math.random() * mutated.length)] = Math.floor(Math.random() * 256);
    inputs.push(i % 5 === 0 ? mutated.subarray(0, Math.floor(Math.random() * mutated.length)) : mutated);
  }
  let decoded = 0;
  for (const input of inputs) {
    try {
      const packet = decodePacket(input);
      decoded++;
      assert.deepEqual(encodePacket(packet), input.subarray(0, input.readUInt16BE(2)));
    } catch (e) {
      if (!isMalformed(e)) throw e;
    }
  }
  assert.ok(decoded > 100, `only ${decoded} inputs decoded; the fuzz is not reaching the attribute parser`);
});
