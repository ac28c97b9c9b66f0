import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARCHIVE_FORMAT, ARCHIVE_VERSION, ArchiveDecoder, ArchiveEncoder, type ArchiveHeader, type ArchiveRecord } from './archive.js';

const header: ArchiveHeader = {
  format: ARCHIVE_FORMAT,
  version: ARCHIVE_VERSION,
  tally: '0.1.0',
  schema: '0012_distribution_credentials',
  createdAt: '2026-12-06T22:00:00.000Z',
  dialect: 'sqlite',
  tables: [
    { name: 'users', columns: ['id', 'username', 'locked_until'], rows: 2 },
    { name: 'empty', columns: ['id'], rows: 0 },
    { name: 'files', columns: ['id', 'content'], rows: 1 },
  ],
};

function encode(): string[] {
  const encoder = new ArchiveEncoder(header);
  return [
    encoder.start(),
    encoder.row('users', { id: 1, username: 'ann', locked_until: 1_796_000_000_000 }),
    encoder.row('users', { id: 2, username: 'bob', locked_until: null }),
    encoder.row('files', { id: 1, content: Buffer.from([0, 1, 255]) }),
    encoder.end(),
  ].map((line) => line.replace(/\n$/, ''));
}

function decode(lines: string[]): ArchiveRecord[] {
  const decoder = new ArchiveDecoder();
  const records = lines.map((line) => decoder.line(line));
  decoder.finish();
  return records;
}

test('an archive reads back as written: header, rows by column order (integers beyond 32 bits, null, bytes), end', () => {
  const records = decode(encode());
  assert.deepEqual(records[0], { kind: 'header', header });
  assert.deepEqual(
    records.slice(1, 4).map((record) => (record.kind === 'row' ? [record.table.name, record.values] : record.kind)),
    [
      ['users', [1, 'ann', 1_796_000_000_000]],
      ['users', [2, 'bob', null]],
      ['files', [1, Buffer.from([0, 1, 255])]],
    ],
  );
  assert.deepEqual(records[4], { kind: 'end', rows: 3 });
});

test('the encoder refuses rows beyond the header counts, and an end before every counted row', () => {
  const encoder = new ArchiveEncoder(header);
  encoder.start();
  encoder.row('users', { id: 1, username: 'ann', locked_until: null });
  assert.throws(() => encoder.end(), /do not match the counts/);
  encoder.row('users', { id: 2, username: 'bob', locked_until: null });
  assert.throws(() => encoder.row('users', { id: 3, username: 'cy', locked_until: null }), /beyond the counts/);
  assert.throws(() => new ArchiveEncoder(header).row('files', { id: 1, content: () => 1 }), /beyond the counts/);
});

test('the encoder refuses a value that would not come back the same (a function, an infinite number)', () => {
  const encoder = new ArchiveEncoder({ ...header, tables: [{ name: 'users', columns: ['id'], rows: 2 }] });
  encoder.start();
  assert.throws(() => encoder.row('users', { id: Number.POSITIVE_INFINITY }), /users\.id holds Infinity/);
  assert.throws(() => encoder.row('users', { id: () => 1 }), /users\.id holds a value of type function/);
});

test('a truncated archive is refused: no end line, or rows missing before the end', () => {
  const lines = encode();
  assert.throws(() => decode(lines.slice(0, -1)), { code: 'BACKUP_INVALID', message: /truncated/ });
  const withoutARow = [...lines.slice(0, 3), lines[4] as string];
  assert.throws(() => decode(withoutARow), { code: 'BACKUP_INVALID', message: /fewer rows than its header says/ });
  assert.throws(() => decode([]), { code: 'BACKUP_INVALID', message: /truncated/ });
});

test('a changed row fails the checksum; rows out of order, one too many or with the wrong width are refused', () => {
  const lines = encode();
  const changed = lines.map((line) => line.replace('"bob"', '"eve"'));
  assert.throws(() => decode(changed), { code: 'BACKUP_INVALID', message: /checksum does not match/ });
  const swapped = [lines[0], lines[3], lines[1], lines[2], lines[4]] as string[];
  assert.throws(() => decode(swapped), { code: 'BACKUP_INVALID', message: /Line 2: a row of files the header does not account for/ });
  const doubled = [...lines.slice(0, 3), lines[2] as string, ...lines.slice(3)];
  assert.throws(() => decode(doubled), { code: 'BACKUP_INVALID', message: /a row of users the header does not account for/ });
  const narrow = lines.map((line) => line.replace('[2,"bob",null]', '[2,"bob"]'));
  assert.throws(() => decode(narrow), { code: 'BACKUP_INVALID', message: /wrong number of values/ });
  assert.throws(() => decode([...lines, lines[1] as string]), { code: 'BACKUP_INVALID', message: /goes on after its end/ });
});

test('a file that is not an archive, or from a newer archive format, is refused by its first line', () => {
  assert.throws(() => new ArchiveDecoder().line('not json'), { code: 'BACKUP_INVALID', message: /Line 1 of the archive is not JSON/ });
  assert.throws(() => new ArchiveDecoder().line('{"format":"pgdump"}'), { code: 'BACKUP_INVALID', message: /not a Tally backup archive/ });
  const newer = JSON.stringify({ ...header, version: ARCHIVE_VERSION + 1 });
  assert.throws(() => new ArchiveDecoder().line(newer), {
    code: 'BACKUP_INVALID',
    message: /format version 2; this Tally reads version 1/,
  });
  const incomplete = JSON.stringify({ ...header, tables: [{ name: 'users', rows: -1 }] });
  assert.throws(() => new ArchiveDecoder().line(incomplete), { code: 'BACKUP_INVALID', message: /header is incomplete/ });
});
