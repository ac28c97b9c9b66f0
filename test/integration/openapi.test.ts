import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { migrateToLatest, openStore, type Store } from '../../src/store/connect.js';
import { freshStoreOptions, type TestStoreHandle } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

interface Operation {
  operationId?: string;
  responses: Record<string, { content?: Record<string, unknown> }>;
}
type Spec = { paths: Record<string, Record<string, Operation>> };

// The document does not depend on the store, so SQLite alone.
describe('OpenAPI document', () => {
  let handle: TestStoreHandle;
  let store: Store;
  let tally: TestTally;
  let spec: Spec;
  before(async () => {
    handle = freshStoreOptions('sqlite');
    store = await openStore(handle.options);
    await migrateToLatest(store);
    tally = await createTestTally(store);
    spec = (await tally.admin.inject({ url: '/api/v1/openapi.json' })).json();
  });
  after(async () => {
    await tally.close();
    await store.close();
    await handle.cleanup();
  });

  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin), payload });
  const documented = (method: string, path: string) => {
    const operation = spec.paths[path]?.[method];
    assert.ok(operation, `${method} ${path} in OpenAPI`);
    return operation;
  };

  test('passes `redocly lint` with the recommended rules: 0 errors, 0 warnings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(spec));
      const lint = spawnSync(join('node_modules', '.bin', 'redocly'), ['lint', '--extends', 'recommended', '--format', 'json', file], {
        encoding: 'utf8',
        // No usage telemetry or update check from a test run.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      });
      const report = JSON.parse(lint.stdout) as {
        totals: { errors: number; warnings: number };
        problems: { ruleId: string; message: string }[];
      };
      assert.deepEqual(
        report.problems.map((problem) => `${problem.ruleId}: ${problem.message}`),
        [],
      );
      assert.deepEqual({ errors: report.totals.errors, warnings: report.totals.warnings }, { errors: 0, warnings: 0 });
      assert.equal(lint.status, 0, lint.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every operation has a unique operationId', () => {
    const ids = Object.values(spec.paths).flatMap((operations) => Object.values(operations).map((operation) => operation.operationId));
    assert.ok(ids.length > 40, `${ids.length} operations`);
    assert.ok(
      ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)),
      String(ids),
    );
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(documented('post', '/api/v1/users/{username}/unlock').operationId, 'postUsersByUsernameUnlock');
  });

  test('the replies without a JSON object are documented as they are sent: 204 with no body, CSV, the user after unlock', async () => {
    await api('POST', '/api/v1/radius-clients', { name: 'nas', address: '192.0.2.10', secret: 'a-long-shared-secret' });
    const removed = await api('DELETE', '/api/v1/radius-clients/nas');
    assert.equal(removed.statusCode, 204);
    assert.equal(removed.body, '');
    assert.ok(documented('delete', '/api/v1/radius-clients/{name}').responses['204']);

    const exported = await api('GET', '/api/v1/audit/export');
    assert.equal(exported.statusCode, 200);
    assert.match(String(exported.headers['content-type']), /^text\/csv/);
    assert.ok(documented('get', '/api/v1/audit/export').responses['200']?.content?.['text/csv']);

    await api('POST', '/api/v1/users', { username: 'locked', email: 'locked@example.org' });
    const unlocked = await api('POST', '/api/v1/users/locked/unlock');
    assert.equal(unlocked.statusCode, 200);
    assert.deepEqual(unlocked.json(), (await api('GET', '/api/v1/users/locked')).json());
    assert.ok(documented('post', '/api/v1/users/{username}/unlock').responses['200']);
  });
});
