import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toTallyError } from './errors.js';

/** A driver's error as node-postgres or better-sqlite3 throws it: a message and maybe a code. */
function driverError(message: string, code?: string): Error {
  return Object.assign(new Error(message), code ? { code } : {});
}

test('a store that cannot be reached or written is STORE_UNAVAILABLE with a retry hint, never INTERNAL', () => {
  const unreachable = [
    driverError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
    driverError('read ECONNRESET', 'ECONNRESET'),
    driverError('terminating connection due to administrator command', '57P01'),
    driverError('the database system is starting up', '57P03'),
    driverError('connection failure', '08006'),
    driverError('Connection terminated unexpectedly'),
    driverError('timeout exceeded when trying to connect'),
    driverError('database or disk is full', 'SQLITE_FULL'),
    driverError('attempt to write a readonly database', 'SQLITE_READONLY'),
    driverError('disk I/O error', 'SQLITE_IOERR_WRITE'),
  ];
  for (const error of unreachable) {
    const mapped = toTallyError(error);
    assert.equal(mapped.code, 'STORE_UNAVAILABLE', error.message);
    assert.equal(mapped.status, 503);
    assert.deepEqual(mapped.details, { retryAfterSeconds: 5 });
    assert.doesNotMatch(mapped.message, /127\.0\.0\.1|ECONN|disk/, 'the driver’s words stay in the log');
  }
});

test('other driver errors stay INTERNAL', () => {
  for (const error of [
    driverError('syntax error at or near "x"', '42601'),
    driverError('no such table: x', 'SQLITE_ERROR'),
    new Error('boom'),
  ])
    assert.equal(toTallyError(error).code, 'INTERNAL', error.message);
});
