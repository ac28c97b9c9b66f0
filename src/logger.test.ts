import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
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
  logger.info(
    { ...secrets, body: secrets, deep: { inner: secrets }, req: { headers: { authorization: 'Bearer S3CRET-bearer' } } },
    'event',
  );
  const output = lines.join('');
  assert.match(output, /"msg":"event"/);
  assert.doesNotMatch(output, /S3CRET/);
  assert.match(output, /\[redacted\]/);
});

test('request URLs in logs: a one-time link token and secret-named query values become [redacted]', async () => {
  const { redactUrl } = await import('./logger.js');
  const token = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde';
  assert.equal(redactUrl(`/download/${token}`), '/download/[redacted]');
  assert.equal(redactUrl(`/download/${token}?x=1`), '/download/[redacted]?x=1');
  assert.equal(redactUrl('/tokens/123?activationCode=123456789012&state=a'), '/tokens/123?activationCode=[redacted]&state=a');
  assert.equal(redactUrl('/console/tokens?serial=1'), '/console/tokens?serial=1');
});
