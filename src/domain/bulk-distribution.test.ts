import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUsernameList } from './bulk-distribution.js';

test('a username list as people paste or upload it: lines, CSV first columns, a header, comments and blanks', () => {
  assert.deepEqual(parseUsernameList('alice\r\nbob\n\n  carol  \n# a comment\n'), ['alice', 'bob', 'carol']);
  assert.deepEqual(parseUsernameList('username,email\nalice,a@example.com\n"bob",b@example.com\ncarol;x\ndave\ty'), [
    'alice',
    'bob',
    'carol',
    'dave',
  ]);
  assert.deepEqual(parseUsernameList('alice bob'), ['alice', 'bob']);
  assert.deepEqual(parseUsernameList(''), []);
});
