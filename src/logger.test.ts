import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, REDACTED_KEYS } from './logger.js';

test('the logger censors every secret-bearing field at any depth', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger('info', sink);
  const secrets = Object.fromEntries(REDACTED_KEYS.map((key, i) => [key, `S3CRET-${i}-value`]));
  logger.info({ ...secrets, body: secrets, deep: { inner: secrets }, req: { headers: { authorization: 'Bearer S3CRET-bearer' } } }, 'event');
  const output = lines.join('');
  assert.match(output, /"msg":"event"/);
  assert.doesNotMatch(output, /S3CRET/);
  assert.match(output, /\[redacted\]/);
});
