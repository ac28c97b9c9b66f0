import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { resolveConfig } from '../../src/config.js';
import { buildPublicApp } from '../../src/http/public/app.js';
import { createLogger } from '../../src/logger.js';
import { describeEachStore } from '../support/store.js';
import { createTestTally, type TestTally } from '../support/tally.js';
import { WebClient } from '../support/web.js';

const PROXY = '10.9.0.1';

/**
 * `--trust-proxy` names the proxies whose X-Forwarded-For is believed: from any other peer the
 * header is ignored, so a client cannot pick the address the rate limits count and the audit records.
 */
describeEachStore('trusted proxies', (getStore) => {
  let tally: TestTally;
  let app: FastifyInstance;
  let n = 0;
  before(async () => {
    tally = await createTestTally(getStore());
    // From the setting as an operator writes it, to the listener.
    const { trustProxy } = resolveConfig(['trustProxy'], { trustProxy: `${PROXY},10.9.1.0/24` }, {});
    app = await buildPublicApp(tally.services, { logger: createLogger('silent'), trustProxy, logonRateLimit: 2 });
  });
  after(async () => {
    await app.close();
    await tally.close();
  });

  /** A failed log-on (a fresh unknown name each time, so no per-user delay interferes) from `peer`, claiming `forwardedFor`. */
  const attempt = (peer: string, forwardedFor: string) =>
    new WebClient(app, peer, { 'x-forwarded-for': forwardedFor }).logOn(`nobody-${++n}`, 'wrong-password');
  const sources = async (username: string) =>
    (
      await getStore()
        .db.selectFrom('audit_events')
        .select('source')
        .where('action', '=', 'logon.self-service')
        .where('target', '=', username)
        .execute()
    ).map((row) => row.source);

  test('from an untrusted peer a spoofed X-Forwarded-For is ignored: the rate limit counts the peer, the audit records the peer', async () => {
    const peer = '10.8.0.1';
    assert.equal((await attempt(peer, '203.0.113.1')).statusCode, 401);
    assert.deepEqual(await sources(`nobody-${n}`), [peer]);
    assert.equal((await attempt(peer, '203.0.113.2')).statusCode, 401);
    assert.equal((await attempt(peer, '203.0.113.3')).statusCode, 429, 'a new made-up address each time does not escape the limit');
  });

  test('from a trusted proxy (by address or CIDR) X-Forwarded-For is honoured: each client is counted and audited at its own address', async () => {
    for (const [i, proxy] of [PROXY, PROXY, PROXY, '10.9.1.7'].entries()) {
      const client = `198.51.100.${i + 1}`;
      assert.equal((await attempt(proxy, client)).statusCode, 401, `client ${client} behind ${proxy}`);
      assert.deepEqual(await sources(`nobody-${n}`), [client]);
    }
    assert.equal((await attempt(PROXY, '198.51.100.9')).statusCode, 401);
    assert.equal((await attempt(PROXY, '198.51.100.9')).statusCode, 401);
    assert.equal((await attempt(PROXY, '198.51.100.9')).statusCode, 429, 'one client behind the proxy is limited on its own');
    assert.equal((await attempt(PROXY, '10.8.0.99, 198.51.100.10')).statusCode, 401);
    assert.deepEqual(await sources(`nobody-${n}`), ['198.51.100.10'], 'only the hop the trusted proxy added is believed');
  });
});
