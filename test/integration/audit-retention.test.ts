import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { systemActor } from '../../src/domain/actor.js';
import { AuditService } from '../../src/domain/audit.js';
import { AuditRetentionService } from '../../src/domain/audit-retention.js';
import { openStore } from '../../src/store/connect.js';
import { AuditRepository, type NewAuditRow } from '../../src/store/repositories/audit.js';
import { MetaRepository } from '../../src/store/repositories/meta.js';
import { UnitOfWork } from '../../src/store/unit-of-work.js';
import { initialisedStoreArgs, tallyAsync } from '../support/cli.js';
import { describeEachStore, freshStoreOptions, type TestStoreHandle, testDialects } from '../support/store.js';

const DAY = 86_400_000;
const JAN_1 = Date.UTC(2026, 0, 1);

function event(at: number, action = 'user.create'): NewAuditRow {
  return {
    at,
    actor_type: 'system',
    actor: 'system',
    action,
    target_type: 'user',
    target: `u${at}`,
    result: 'success',
    source: null,
    details: null,
  };
}

describeEachStore('audit repository: ascending pages and the retention purge', (getStore) => {
  test('ascending reads after an id, oldest first, within [since, until)', async () => {
    const audit = new AuditRepository(getStore().db);
    await audit.appendMany([0, 1, 2, 3, 4].map((day) => event(JAN_1 + day * DAY)));
    const all = await audit.ascending({ afterId: 0, limit: 10 });
    assert.deepEqual(
      all.map((row) => Number(row.at)),
      [0, 1, 2, 3, 4].map((day) => JAN_1 + day * DAY),
    );
    const firstId = Number(all[0]?.id);
    const window = await audit.ascending({ afterId: firstId, since: JAN_1, until: JAN_1 + 3 * DAY, limit: 10 });
    assert.deepEqual(
      window.map((row) => Number(row.at)),
      [JAN_1 + DAY, JAN_1 + 2 * DAY],
      'after the first id, and the end excluded',
    );
    assert.equal((await audit.ascending({ afterId: 0, limit: 2 })).length, 2);
  });

  test('purgeBefore deletes the oldest events in batches of the limit, and never the newest event', async () => {
    const audit = new AuditRepository(getStore().db);
    // Five events from the test above, all before Jan 6.
    assert.equal(await audit.purgeBefore(JAN_1 + 10 * DAY, 2), 2);
    assert.deepEqual(
      (await audit.ascending({ afterId: 0, limit: 10 })).map((row) => Number(row.at)),
      [JAN_1 + 2 * DAY, JAN_1 + 3 * DAY, JAN_1 + 4 * DAY],
    );
    assert.equal(await audit.purgeBefore(JAN_1 + 10 * DAY, 100), 2, 'everything older but the newest event');
    const left = await audit.ascending({ afterId: 0, limit: 10 });
    assert.deepEqual(
      left.map((row) => Number(row.at)),
      [JAN_1 + 4 * DAY],
    );
    await audit.appendMany([event(JAN_1 + 5 * DAY)]);
    const next = await audit.ascending({ afterId: Number(left[0]?.id), limit: 10 });
    assert.equal(next.length, 1, 'a new event gets an id above every earlier one');
  });

  test('meta replace swaps a value only from the one expected (a claim across nodes)', async () => {
    const meta = new MetaRepository(getStore().db);
    await meta.set('test.lease', 'a');
    assert.equal(await meta.replace('test.lease', 'a', 'b'), true);
    assert.equal(await meta.replace('test.lease', 'a', 'c'), false, 'a stale expectation loses');
    assert.equal(await meta.get('test.lease'), 'b');
  });
});

describeEachStore('audit retention service: exports cover what a purge deletes', (getStore) => {
  let now = JAN_1 + 30 * DAY;
  const clock = { now: () => now };
  const service = () => {
    const repository = new AuditRepository(getStore().db);
    const audit = new AuditService(new UnitOfWork(getStore().db), clock);
    return { repository, retention: new AuditRetentionService(repository, audit, clock) };
  };
  const exportRange = async (since: number, until: number) => {
    let text = '';
    const result = await service().retention.exportRange(systemActor, { since, until, format: 'jsonl' }, async (chunk) => {
      text += chunk;
    });
    return {
      ...result,
      lines: text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { at: string; action: string }),
    };
  };

  test('a purge without an export is refused and recorded as refused; with exports of every stretch holding events it deletes them', async () => {
    const { repository, retention } = service();
    // Events on Jan 2 and Jan 20; none in between.
    await repository.appendMany([event(JAN_1 + DAY), event(JAN_1 + 19 * DAY)]);
    await assert.rejects(retention.purge(systemActor, { before: JAN_1 + 25 * DAY, force: false }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'AUDIT_NOT_EXPORTED');
      assert.match(error.message, /2026-01-02T00:00:00\.000Z/);
      return true;
    });
    const first = await exportRange(JAN_1, JAN_1 + 5 * DAY);
    assert.deepEqual(
      first.lines.map((line) => line.at),
      ['2026-01-02T00:00:00.000Z'],
    );
    await assert.rejects(retention.purge(systemActor, { before: JAN_1 + 25 * DAY, force: false }), /2026-01-20T00:00:00\.000Z/);
    // Jan 6 to Jan 15 is exported by nobody but holds no event: not needed.
    await exportRange(JAN_1 + 15 * DAY, JAN_1 + 25 * DAY);
    now += 1000;
    assert.deepEqual(await retention.purge(systemActor, { before: JAN_1 + 25 * DAY, force: false }), { deleted: 2 });
    const left = await repository.ascending({ afterId: 0, limit: 100 });
    assert.deepEqual(
      left.map((row) => `${row.action} ${row.result} ${row.details}`),
      [
        `audit.purge failure {"before":"2026-01-26T00:00:00.000Z","forced":false,"error":"AUDIT_NOT_EXPORTED"}`,
        `audit.export success {"since":"2026-01-01T00:00:00.000Z","until":"2026-01-06T00:00:00.000Z","format":"jsonl","rows":1,"fullRange":true,"coveredUntil":"2026-01-06T00:00:00.000Z"}`,
        `audit.purge failure {"before":"2026-01-26T00:00:00.000Z","forced":false,"error":"AUDIT_NOT_EXPORTED"}`,
        `audit.export success {"since":"2026-01-16T00:00:00.000Z","until":"2026-01-26T00:00:00.000Z","format":"jsonl","rows":1,"fullRange":true,"coveredUntil":"2026-01-26T00:00:00.000Z"}`,
        `audit.purge success {"before":"2026-01-26T00:00:00.000Z","forced":false,"deleted":2}`,
      ],
    );
  });

  test('an export covers only up to its own start; --force purges without one; a future --before is refused', async () => {
    const { repository, retention } = service();
    now = JAN_1 + 60 * DAY;
    await repository.appendMany([event(JAN_1 + 40 * DAY)]);
    const exported = await exportRange(JAN_1 + 25 * DAY, JAN_1 + 90 * DAY);
    assert.equal(exported.rows, 6, 'the five events of the test above (their at is the clock) and the new one');
    now += DAY;
    await repository.appendMany([event(now - 1)]);
    await assert.rejects(retention.purge(systemActor, { before: now, force: false }), { code: 'AUDIT_NOT_EXPORTED' });
    await assert.rejects(retention.purge(systemActor, { before: now + DAY, force: true }), { code: 'VALIDATION_FAILED' });
    const forced = await retention.purge(systemActor, { before: now, force: true });
    assert.ok(forced.deleted >= 8, `deleted ${forced.deleted}`);
    const purge = (await repository.query({ action: 'audit.purge', result: 'success', limit: 1 }))[0];
    assert.match(String(purge?.details), /"forced":true/);
  });
});

describe('tally audit export and purge, as processes', () => {
  for (const dialect of testDialects()) {
    describe(dialect, () => {
      let handle: TestStoreHandle;
      let args: string[];
      before(() => {
        handle = freshStoreOptions(dialect);
        args = initialisedStoreArgs({ dataDir: handle.dataDir, databaseUrl: handle.options.databaseUrl, schema: handle.options.schema });
      });
      after(() => handle.cleanup());

      test('export jsonl and csv ranges; bad dates are bad usage; purge is refused, then allowed after an export, and forced', async () => {
        const [jsonl, csv, empty, badDate, zoneless, noFormat] = await Promise.all([
          tallyAsync(['audit', 'export', '--format', 'jsonl', ...args]),
          tallyAsync(['audit', 'export', '--format', 'csv', '--since', '2020-01-01', '--until', '2099-01-01T00:00:00+02:00', ...args]),
          tallyAsync(['audit', 'export', '--format', 'jsonl', '--until', '2020-01-01', ...args]),
          tallyAsync(['audit', 'purge', '--before', '2026-02-30', ...args]),
          tallyAsync(['audit', 'export', '--format', 'csv', '--since', '2026-01-01T10:00', ...args]),
          tallyAsync(['audit', 'export', ...args]),
        ]);
        assert.equal(jsonl.status, 0, jsonl.stderr);
        const lines = jsonl.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { id: number; action: string });
        assert.equal(lines[0]?.action, 'store.initialise');
        assert.equal(csv.status, 0, csv.stderr);
        assert.match(
          csv.stdout,
          /^id,at,actorType,actor,action,targetType,target,result,source,details,requestId\r\n1,.*,store\.initialise,/,
        );
        assert.equal(empty.stdout, '', 'nothing before 2020');
        assert.equal(badDate.status, 2);
        assert.match(badDate.stderr, /--before "2026-02-30" is not a real date/);
        assert.equal(zoneless.status, 2);
        assert.match(zoneless.stderr, /no time zone/);
        assert.equal(noFormat.status, 2);
        assert.match(noFormat.stderr, /--format is required/);

        // Just after the newest event so far, read from the store: the purge below covers exactly
        // what the commands above recorded, whatever the clock says.
        const store = await openStore(handle.options);
        const newest = (await new AuditRepository(store.db).query({ limit: 1 })).at(0);
        await store.close();
        assert.ok(newest, 'the commands above recorded events');
        const cutoff = new Date(Number(newest.at) + 1).toISOString();
        const refused = await tallyAsync(['audit', 'purge', '--before', cutoff, ...args]);
        assert.equal(refused.status, 1, refused.stderr);
        assert.match(refused.stderr, /is in no complete export: run `tally audit export/);

        const file = join(handle.dataDir, 'trail.jsonl');
        const exported = await tallyAsync(['audit', 'export', '--format', 'jsonl', '--until', cutoff, '--out', file, ...args]);
        assert.equal(exported.status, 0, exported.stderr);
        const fileLines = readFileSync(file, 'utf8').trim().split('\n');
        assert.equal(fileLines.length, 4, 'before the cutoff: init and the three exports (bad usage records nothing)');
        const purged = await tallyAsync(['audit', 'purge', '--before', cutoff, ...args]);
        assert.equal(purged.status, 0, purged.stderr);
        assert.match(purged.stdout, new RegExp(`^Purged ${fileLines.length} audit events older than ${cutoff.replace(/\./g, '\\.')}`));

        const forced = await tallyAsync(['audit', 'purge', '--force', '--before', new Date().toISOString(), ...args]);
        assert.equal(forced.status, 0, forced.stderr);
        const trail = (await tallyAsync(['audit', 'export', '--format', 'jsonl', ...args])).stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { action: string; details: Record<string, unknown> });
        assert.deepEqual(
          trail.map((e) => `${e.action} forced=${e.details.forced}`),
          ['audit.purge forced=false', 'audit.purge forced=true'],
          'the forced purge left the newest event before it (the earlier purge) and its own',
        );
      });
    });
  }
});
