import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codeOf } from '../../../test/support/errors.js';
import { childNamed, escapeXml, findDescendant, parseStrictXml } from './strict.js';

test('parses elements in order with decoded, untrimmed text and attributes', () => {
  const root = parseStrictXml('<?xml version="1.0"?>\n<a x="1&amp;2"><b> t&lt;&#65;&#x42; </b><c/><p:d xmlns:p="u"><e></e></p:d></a>');
  assert.equal(root.name, 'a');
  assert.equal(root.attributes.x, '1&2');
  assert.deepEqual(
    root.children.map((c) => c.name),
    ['b', 'c', 'p:d'],
  );
  assert.equal(childNamed(root, 'b')?.text, ' t<AB ');
  assert.equal(findDescendant(root, 'e')?.text, '');
  assert.equal(childNamed(root, 'd')?.name, 'p:d');
});

test('refuses DOCTYPE and entity declarations', () => {
  assert.equal(
    codeOf(() => parseStrictXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  assert.equal(
    codeOf(() => parseStrictXml('<!doctype a SYSTEM "file:///etc/passwd"><a/>')),
    'XML_FORBIDDEN_CONSTRUCT',
  );
});

test('refuses undefined entities, malformed XML, several roots, deep nesting and large input', () => {
  assert.equal(
    codeOf(() => parseStrictXml('<a>&nbsp;</a>')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => parseStrictXml('<a><b></a>')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => parseStrictXml('not xml')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => parseStrictXml('<a/><b/>')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => parseStrictXml('<a>'.repeat(40) + '</a>'.repeat(40))),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => parseStrictXml(`<a>${'x'.repeat(2000)}</a>`, { maxBytes: 1000 })),
    'INPUT_TOO_LARGE',
  );
});

test('escapes the five XML specials', () => {
  assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
});
