import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInstant } from './instant.js';

test('parseInstant reads a date as midnight UTC and a date-time in its zone', () => {
  assert.equal(parseInstant('--since', '2026-01-31'), Date.UTC(2026, 0, 31));
  assert.equal(parseInstant('--since', '2026-01-31T12:30:00Z'), Date.UTC(2026, 0, 31, 12, 30));
  assert.equal(parseInstant('--since', '2026-01-31T12:30Z'), Date.UTC(2026, 0, 31, 12, 30));
  assert.equal(parseInstant('--since', '2026-01-31T12:30:00.25+01:00'), Date.UTC(2026, 0, 31, 11, 30, 0, 250));
  assert.equal(parseInstant('--since', '2026-01-31T00:00:00-0230'), Date.UTC(2026, 0, 31, 2, 30));
  assert.equal(parseInstant('--since', '2024-02-29'), Date.UTC(2024, 1, 29));
});

test('parseInstant refuses what is not an ISO 8601 date, a date that does not exist and a date-time without a zone', () => {
  for (const bad of [
    'yesterday',
    '31/01/2026',
    '2026-1-31',
    '2026-02-30',
    '2025-02-29',
    '2026-13-01',
    '2026-01-31T24:00:00Z',
    '1706659200',
    '',
  ])
    assert.throws(
      () => parseInstant('--before', bad),
      (error: Error & { code?: string }) => error.code === 'VALIDATION_FAILED' && /--before/.test(error.message),
      bad,
    );
  assert.throws(() => parseInstant('--until', '2026-01-31T12:00:00'), /no time zone: add Z/);
});
