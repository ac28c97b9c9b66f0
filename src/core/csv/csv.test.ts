import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TallyError } from '../../errors.js';
import { csvLine, parseCsv, parseCsvRecords, STREAMED_RECORD_MAX_CHARS, streamCsvRecords } from './csv.js';

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

async function streamed(pieces: string[]) {
  const records = [];
  for await (const record of streamCsvRecords(
    (async function* () {
      yield* pieces;
    })(),
  ))
    records.push(record);
  return records;
}

test('a file read in pieces gives the records of the whole, wherever the pieces split it', async () => {
  const text = '\uFEFFuser;mail\r\nalice;"a ""quoted"" ;\r\nfield"\r\n\r\nbob;b@example.com\r\n"carol";\n';
  const whole = parseCsvRecords(text);
  assert.equal(whole.length, 4);
  assert.deepEqual(whole[1], { line: 2, fields: ['alice', 'a "quoted" ;\r\nfield'] });
  for (let split = 0; split <= text.length; split++)
    assert.deepEqual(await streamed([text.slice(0, split), text.slice(split)]), whole, `split at ${split}`);
  assert.deepEqual(await streamed([...text]), whole, 'one character per piece');
});

test('a streamed file whose quoted field never ends is refused at its end', async () => {
  await assert.rejects(
    streamed(['a,b\n', '"open,', 'still open']),
    (error: unknown) => error instanceof TallyError && error.code === 'FORMAT_INVALID',
  );
});

test('a streamed record longer than the bound is refused with its line, whether quoted or lacking line ends', async () => {
  const long = 'x'.repeat(STREAMED_RECORD_MAX_CHARS);
  const refusedAtLine = (line: number) => (error: unknown) =>
    error instanceof TallyError && error.code === 'FORMAT_INVALID' && error.message.includes(`line ${line} `);
  await assert.rejects(streamed(['a,b\nc,"', long, long]), refusedAtLine(2));
  await assert.rejects(streamed([long, long]), refusedAtLine(1));
  const fits = await streamed(['a,b\n', `"${'y'.repeat(STREAMED_RECORD_MAX_CHARS - 5)}",z\n`]);
  assert.equal(fits.length, 2, 'a record within the bound is read');
});
