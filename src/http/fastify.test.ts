import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { interopTest, runPeer } from '../../test/support/peers.js';
import { createLogger } from '../logger.js';
import { installJsonErrors } from './errors.js';
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

test('beyond its requests in flight a listener sheds at once (503 OVERLOADED, Retry-After) and keeps answering /healthz', async () => {
  const app = createFastify({ logger, maxInFlight: 20 });
  installJsonErrors(app);
  let held = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  app.get('/hold', async () => {
    held++;
    await gate;
    return { ok: true };
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  try {
    const refused: { status: number; retryAfter: string | null; code: string }[] = [];
    const flood = Array.from({ length: 100 }, () =>
      fetch(`${base}/hold`).then(async (response) => {
        if (response.status !== 200)
          refused.push({
            status: response.status,
            retryAfter: response.headers.get('retry-after'),
            code: (await response.json()).error.code,
          });
        else await response.text();
      }),
    );
    while (held < 20 || refused.length < 80) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(held, 20, 'no more than the limit reached a handler');
    assert.deepEqual(
      new Set(refused.map((r) => JSON.stringify(r))),
      new Set([JSON.stringify({ status: 503, retryAfter: '1', code: 'OVERLOADED' })]),
    );
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'liveness is never shed');
    release();
    await Promise.all(flood);
    const after = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/hold`).then((r) => r.status)));
    assert.deepEqual(new Set(after), new Set([200]), 'finished requests no longer count');
  } finally {
    release();
    await app.close();
  }
});
