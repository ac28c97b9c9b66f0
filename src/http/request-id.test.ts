import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestIdFor } from './request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const idFor = (header: string | string[] | undefined) => requestIdFor({ headers: { 'x-request-id': header } });

test('a well-formed X-Request-Id is kept as sent: a UUID, hex, base64 with padding, a dotted trace id, 128 characters', () => {
  for (const sent of [
    '6f1c1f0e-3b0a-4a51-9d57-0c2d1d3f4b5a',
    'a3f5c2e1b4d6f7a8a3f5c2e1b4d6f7a8',
    'dGFsbHkgcmVxdWVzdA==',
    'Root=1-67891233-abcdef012345678912345678',
    'lb.node-2:req_0042+x/y',
    `A${'b'.repeat(127)}`,
  ])
    assert.equal(idFor(sent), sent);
});

test('a missing, empty, too long, oddly started or unsafe X-Request-Id is replaced by a fresh random UUID', () => {
  for (const sent of [
    undefined,
    '',
    `A${'b'.repeat(128)}`,
    '=HYPERLINK("http://evil")',
    '-1',
    'has space',
    'line\nbreak',
    'quote"d',
    'semi;colon',
    '<script>',
    'ünicode',
    ['two', 'headers'],
  ]) {
    const id = idFor(sent);
    assert.match(id, UUID, `replaced: ${JSON.stringify(sent)}`);
  }
  assert.notEqual(idFor(undefined), idFor(undefined), 'each generated id is new');
});
