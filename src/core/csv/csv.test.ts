import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TallyError } from '../../errors.js';
import { csvLine, parseCsv, parseCsvRecords } from './csv.js';

test('parses quoted fields, doubled quotes, CRLF and LF, and drops blank lines', () => {
  const text = '\uFEFFusername,email,note\r\nalice,alice@example.com,"says ""hi"", twice"\n\nbob,,"two\nlines"\r\n';
  assert.deepEqual(parseCsv(text), [
    ['username', 'email', 'note'],
    ['alice', 'alice@example.com', 'says "hi", twice'],
    ['bob', '', 'two\nlines'],
  ]);
});

test('detects a semicolon or tab separator from the first line', () => {
  assert.deepEqual(parseCsv('username;email\nalice;a@example.com'), [
    ['username', 'email'],
    ['alice', 'a@example.com'],
  ]);
  assert.deepEqual(parseCsv('username\temail\nalice\ta@example.com'), [
    ['username', 'email'],
    ['alice', 'a@example.com'],
  ]);
  assert.deepEqual(parseCsv('alice\nbob'), [['alice'], ['bob']]);
});

test('refuses a quote that never closes', () => {
  assert.throws(
    () => parseCsv('a,"b\nc'),
    (e) => e instanceof TallyError && e.code === 'FORMAT_INVALID',
  );
});

test('writes RFC 4180 lines, and keeps would-be formulas as text', () => {
  assert.equal(csvLine(['a', 'b,c', 'say "x"', null, 3]), 'a,"b,c","say ""x""",,3\r\n');
  assert.equal(csvLine(['=HYPERLINK("http://x")', '+1', '-2', '@SUM(A1)', 'ok']), `"'=HYPERLINK(""http://x"")",'+1,'-2,'@SUM(A1),ok\r\n`);
  assert.deepEqual(parseCsv(csvLine(['x\ny', 'z'])), [['x\ny', 'z']]);
});

test('each record carries the line it starts on, past blank lines and quoted line breaks', () => {
  assert.deepEqual(parseCsvRecords('a,b\r\n\r\n"x\ny",z\nlast,1'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 3, fields: ['x\ny', 'z'] },
    { line: 5, fields: ['last', '1'] },
  ]);
});
