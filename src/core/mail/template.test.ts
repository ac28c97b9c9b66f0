import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TallyError } from '../../errors.js';
import { checkTemplate, isOneLine, oneLine, renderTemplate, templateVariables } from './template.js';

const refusedFor = (field: string, message: RegExp) => (error: unknown) =>
  error instanceof TallyError && error.code === 'VALIDATION_FAILED' && error.details?.field === field && message.test(error.message);

test('lists the variables a template uses, once each, in order of first use', () => {
  assert.deepEqual(templateVariables('text', 'Hello {{name}}, token {{serial}} ({{name}}).'), ['name', 'serial']);
  assert.deepEqual(templateVariables('text', 'No variables, { single } braces are text.'), []);
});

test('renders each variable with its value in one pass: a value that looks like a variable stays as it is', () => {
  assert.equal(
    renderTemplate('Hello {{name}}, your token {{serial}}.', { name: '{{serial}}', serial: '000123456789' }),
    'Hello {{serial}}, your token 000123456789.',
  );
  assert.equal(renderTemplate('{{{serial}}}', { serial: 'x' }), '{x}');
  assert.equal(renderTemplate('', {}), '');
});

test('refuses a variable the mail does not have, naming it and listing those it may use', () => {
  assert.throws(
    () => checkTemplate('subject', '{{issuer}}: {{activationCode}} for {{name}} {{password}}', ['issuer', 'name']),
    refusedFor(
      'subject',
      /^subject uses \{\{activationCode\}\}, \{\{password\}\}, which this mail does not have; it may use \{\{issuer\}\}, \{\{name\}\}\.$/,
    ),
  );
  assert.doesNotThrow(() => checkTemplate('text', 'Hello {{name}}', ['name']));
});

test('refuses braces that make no variable: unclosed, stray, with spaces or other characters inside', () => {
  for (const broken of [
    'Hello {{name',
    'Hello name}}',
    'Hello {{ name }}',
    '{{first-name}}',
    '{{}}',
    '{{1st}}',
    '{{name}}}} x',
    '{{{{name}}',
  ]) {
    assert.throws(
      () => templateVariables('text', broken),
      refusedFor('text', /braces that make no variable.*written like \{\{serial\}\}/),
      broken,
    );
    assert.throws(() => renderTemplate(broken, { name: 'x' }), TallyError, broken);
  }
});

test('a variable without a value is the caller’s fault, never rendered as empty or as "undefined"', () => {
  assert.throws(() => renderTemplate('{{serial}}', {}), /No value for the mail variable serial/);
  assert.throws(() => renderTemplate('{{constructor}}', {}), /No value for the mail variable constructor/);
});

test('a header value is one line: CR, LF and other control characters become one space', () => {
  assert.equal(oneLine('Tally: token for Alice\r\nBcc: victim@example.org'), 'Tally: token for Alice Bcc: victim@example.org');
  assert.equal(oneLine('a\n\n\tb\u0000c\u2028d\u0085e '), 'a b c d e');
  assert.equal(isOneLine('Tally: a new token for you'), true);
  for (const bad of ['a\rb', 'a\nb', 'a\tb', 'a\u0000b', 'a\u2028b', 'a\u007fb']) assert.equal(isOneLine(bad), false, JSON.stringify(bad));
});
