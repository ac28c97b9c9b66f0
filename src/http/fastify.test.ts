import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { interopTest, runPeer } from '../../test/support/peers.js';
import { createLogger } from '../logger.js';
import { createFastify } from './fastify.js';

const logger = createLogger('silent');

test('a plain-HTTP listener sends no Strict-Transport-Security (the CSP does not upgrade either)', async () => {
  const app = createFastify({ logger });
  app.get('/', async () => 'ok');
  const response = await app.inject({ url: '/' });
  assert.equal(response.statusCode, 200);
  assert.equal(response.headers['strict-transport-security'], undefined);
  assert.match(response.headers['content-security-policy'] as string, /default-src 'self'/);
  assert.doesNotMatch(response.headers['content-security-policy'] as string, /upgrade-insecure-requests/);
  await app.close();
});

interopTest('a listener that speaks TLS sends Strict-Transport-Security over HTTPS', ['openssl'], async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tally-tls-'));
  try {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    runPeer('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const app = createFastify({ logger, tls: { cert, key } });
    app.get('/', async () => 'ok');
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as AddressInfo;
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const sent = request({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false }, (response) => {
          response.resume();
          resolve(response.headers);
        });
        sent.on('error', reject);
        sent.end();
      });
      assert.equal(headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
      assert.match(headers['content-security-policy'] as string, /upgrade-insecure-requests/);
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
