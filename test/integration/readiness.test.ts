import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildAdminApp } from '../../src/http/admin/app.js';
import type { Phase } from '../../src/http/admin/readiness.js';
import { createLogger } from '../../src/logger.js';
import type { RunningServer } from '../../src/server.js';
import { startInProcess } from '../support/node.js';
import { describeEachStore, freshStoreOptions, type TestStoreHandle, testDialects } from '../support/store.js';
import { createTestTally } from '../support/tally.js';

for (const dialect of testDialects()) {
  describe(`/readyz on a running Tally [${dialect}]`, () => {
    let handle: TestStoreHandle;
    let running: RunningServer;
    const readyz = async () => {
      const response = await fetch(`${running.adminAddress}/readyz`);
      return { status: response.status, body: await response.json() };
    };

    before(async () => {
      handle = freshStoreOptions(dialect);
      running = await startInProcess(handle.options);
    });
    after(async () => {
      await running.close().catch(() => {});
      await handle.cleanup();
    });

    test('ready once started: the store answers and the master key opens it; /healthz stays liveness', async () => {
      assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });
      assert.equal((await fetch(`${running.adminAddress}/healthz`)).status, 200);
    });

    test("a store whose key check the master key does not open (another installation's) is not ready", async () => {
      const meta = await running.store.db
        .selectFrom('tally_meta')
        .select('value')
        .where('key', '=', 'master_key_check')
        .executeTakeFirstOrThrow();
      await running.store.db
        .updateTable('tally_meta')
        .set({ value: `x${meta.value.slice(1)}` })
        .where('key', '=', 'master_key_check')
        .execute();
      try {
        assert.deepEqual(await readyz(), { status: 503, body: { status: 'unavailable', code: 'MASTER_KEY_INVALID' } });
      } finally {
        await running.store.db.updateTable('tally_meta').set({ value: meta.value }).where('key', '=', 'master_key_check').execute();
      }
      assert.equal((await readyz()).status, 200);
    });

    test('a store that no longer answers is not ready, and the answer names no detail', async () => {
      await running.store.close();
      const answer = await readyz();
      assert.deepEqual(answer, { status: 503, body: { status: 'unavailable', code: 'STORE_UNAVAILABLE' } });
      assert.equal((await fetch(`${running.adminAddress}/healthz`)).status, 200, 'the process itself still answers');
    });
  });
}

describeEachStore('/readyz while starting or stopping', (getStore) => {
  test('answers 503 with the phase, without asking the store; 200 once ready', async () => {
    const tally = await createTestTally(getStore());
    let phase: Phase = 'starting';
    let checks = 0;
    const app = await buildAdminApp(tally.services, {
      logger: createLogger('silent'),
      readiness: {
        phase: () => phase,
        check: async () => {
          checks++;
        },
      },
    });
    try {
      for (const now of ['starting', 'stopping'] as const) {
        phase = now;
        const answer = await app.inject({ url: '/readyz' });
        assert.equal(answer.statusCode, 503);
        assert.deepEqual(answer.json(), { status: now });
      }
      assert.equal(checks, 0);
      phase = 'ready';
      assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
      assert.equal(checks, 1);
    } finally {
      await app.close();
      await tally.close();
    }
  });
});
