import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TallyError } from '../../errors.js';
import { AttributeType, attributeBytes, attributeString, proxyStates } from './attributes.js';
import type { RadiusPacket } from './packet.js';

const packet: RadiusPacket = {
  code: 1,
  identifier: 7,
  authenticator: Buffer.alloc(16),
  attributes: [
    { type: AttributeType.ProxyState, value: Buffer.from('first') },
    { type: AttributeType.UserName, value: Buffer.from('zoë', 'utf8') },
    { type: AttributeType.NasIdentifier, value: Buffer.from([0x76, 0xff, 0x6e]) },
    { type: AttributeType.UserName, value: Buffer.from('second user') },
    { type: AttributeType.ProxyState, value: Buffer.from([0, 1, 2]) },
  ],
};

test('reads the first attribute of a type as bytes or UTF-8 text, undefined when absent', () => {
  assert.deepEqual(attributeBytes(packet, AttributeType.UserName), Buffer.from('zoë'));
  assert.equal(attributeString(packet, AttributeType.UserName), 'zoë');
  assert.equal(attributeBytes(packet, AttributeType.State), undefined);
  assert.equal(attributeString(packet, AttributeType.State), undefined);
});

test('refuses text that is not UTF-8 instead of replacing bytes', () => {
  assert.throws(
    () => attributeString(packet, AttributeType.NasIdentifier),
    (e: unknown) => e instanceof TallyError && e.code === 'RADIUS_MALFORMED_PACKET',
  );
});

test('collects Proxy-State attributes in request order', () => {
  assert.deepEqual(
    proxyStates(packet).map((a) => a.value),
    [Buffer.from('first'), Buffer.from([0, 1, 2])],
  );
  assert.deepEqual(proxyStates({ ...packet, attributes: [] }), []);
});
