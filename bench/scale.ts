/**
 * `npm run bench:scale -- [--scale N] [--audit M] [--store sqlite|postgres]`: Tally at scale, on one
 * store. Writes a PSKC file of N TOTP keys, imports it through the streamed import (the service
 * `tally inventory import --batch` calls) and times it with the peak RSS and the sealing cost per
 * key; writes a CSV of N users and imports it through the streamed user import (`tally users
 * import`), timed with its peak RSS; inserts M audit events straight into the store; then times the list pages the
 * Security Console and REST run (users, a username prefix search, tokens, the audit view, each a
 * next page by key), p50/p95 over 200 pages each. Prints JSON with the load average.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { generateMasterKey, makeKeyring, seal } from '../src/core/crypto/secret-box.js';
import { streamCsvRecords } from '../src/core/csv/csv.js';
import type { PskcKey } from '../src/core/pskc/model.js';
import { writePskc } from '../src/core/pskc/write.js';
import { systemActor } from '../src/domain/actor.js';
import { systemClock } from '../src/domain/clock.js';
import { createServices } from '../src/domain/services.js';
import { initialiseStore } from '../src/domain/setup.js';
import { migrateToLatest, openStore } from '../src/store/connect.js';
import { streamPskcFile } from '../src/tokens/files.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '20000' },
    audit: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
    batch: { type: 'string', default: '1000' },
  },
});
const N = Number(values.scale);
const AUDIT = Number(values.audit ?? N * 10);
const dataDir = mkdtempSync(join(tmpdir(), 'tally-scale-'));
const databaseUrl =
  values.store === 'postgres' ? (process.env.TALLY_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : undefined;
const schema = databaseUrl ? `scale_${process.pid}` : undefined;

const seconds = (from: number) => (performance.now() - from) / 1000;
const serialOf = (i: number) => `SC${String(i).padStart(9, '0')}`;

/** The file in pieces of 1,000 keys: no string of the whole file is ever made. */
function writeKeys(file: string): void {
  const chunk = (from: number) =>
    writePskc(
      Array.from({ length: Math.min(1000, N - from) }, (_, k): PskcKey => {
        const i = from + k;
        return {
          kind: 'totp',
          id: `K${i}`,
          serial: serialOf(i),
          secret: createHash('sha1').update(`s${i}`).digest(),
          digits: 6,
          algorithm: 'SHA1',
          period: 30,
        };
      }),
    );
  const first = chunk(0);
  const open = first.indexOf('<pskc:KeyPackage>');
  const close = '</pskc:KeyContainer>';
  writeFileSync(file, first.slice(0, first.lastIndexOf(close)));
  for (let from = 1000; from < N; from += 1000) {
    const text = chunk(from);
    writeFileSync(file, text.slice(open, text.lastIndexOf(close)), { flag: 'a' });
  }
  writeFileSync(file, close, { flag: 'a' });
}

/** N users as the CSV `tally users import` reads, written 10,000 rows at a time. */
function writeUsers(file: string): void {
  writeFileSync(file, 'username,email,firstName,lastName\n');
  for (let from = 0; from < N; from += 10_000) {
    let rows = '';
    for (let i = from; i < Math.min(from + 10_000, N); i++) {
      const name = `user${String(i).padStart(8, '0')}`;
      rows += `${name},${name}@example.com,First${i},Last${i}\n`;
    }
    writeFileSync(file, rows, { flag: 'a' });
  }
}

async function pages(run: (i: number) => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    await run(i);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: Number((times[100] ?? 0).toFixed(2)), p95: Number((times[190] ?? 0).toFixed(2)) };
}

const store = await openStore({ dataDir, databaseUrl, schema });
try {
  await migrateToLatest(store);
  const keyring = makeKeyring([generateMasterKey(1)]);
  await initialiseStore(store, keyring, { username: 'admin', password: 'admin-password-1' }, systemClock);
  const services = createServices(store, keyring, systemClock);
  const report: Record<string, unknown> = { store: store.dialect, scale: N, auditRows: AUDIT, loadAverageAtStart: loadavg() };

  const file = join(dataDir, 'keys.pskc');
  writeKeys(file);
  let sealStart = performance.now();
  for (let i = 0; i < 20_000; i++) seal(keyring, Buffer.alloc(20, i), `token:${serialOf(i)}:seed`);
  report.sealMicrosecondsPerKey = Number(((seconds(sealStart) * 1e6) / 20_000).toFixed(1));

  let peakRss = process.memoryUsage().rss;
  const rssBefore = peakRss;
  sealStart = performance.now();
  const totals = await services.tokens.importStream(systemActor, {
    keys: streamPskcFile(createReadStream(file, { highWaterMark: 256 * 1024 }), undefined),
    batchSize: Number(values.batch),
    onBatch: () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    },
  });
  const importSeconds = seconds(sealStart);
  report.tokenImport = {
    ...totals,
    seconds: Number(importSeconds.toFixed(1)),
    perSecond: Math.round(N / importSeconds),
    rssBeforeMiB: Math.round(rssBefore / 2 ** 20),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  };

  const usersFile = join(dataDir, 'users.csv');
  writeUsers(usersFile);
  peakRss = process.memoryUsage().rss;
  const usersRssBefore = peakRss;
  const userStart = performance.now();
  const userTotals = await services.users.importStream(systemActor, {
    records: streamCsvRecords(createReadStream(usersFile, { encoding: 'utf8', highWaterMark: 256 * 1024 })),
    batchSize: Number(values.batch),
    onBatch: () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    },
  });
  const usersSeconds = seconds(userStart);
  report.userImport = {
    ...userTotals,
    seconds: Number(usersSeconds.toFixed(1)),
    perSecond: Math.round(N / usersSeconds),
    rssBeforeMiB: Math.round(usersRssBefore / 2 ** 20),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  };
  const auditStart = performance.now();
  const actions = ['auth.radius', 'auth.rest', 'token.assign', 'user.create'];
  for (let from = 0; from < AUDIT; from += 5000) {
    const rows = Array.from({ length: Math.min(5000, AUDIT - from) }, (_, k) => ({
      at: from + k,
      actor_type: 'admin' as const,
      actor: `admin${(from + k) % 50}`,
      action: actions[(from + k) % actions.length] ?? 'auth.rest',
      target_type: 'user',
      target: `user${String((from + k) % N).padStart(8, '0')}`,
      result: 'success' as const,
    }));
    // SQLite bounds the parameters of one statement.
    for (let i = 0; i < rows.length; i += 1000)
      await store.db
        .insertInto('audit_events')
        .values(rows.slice(i, i + 1000))
        .execute();
  }
  report.auditInsertedSeconds = Number(seconds(auditStart).toFixed(1));
  await sql`analyze`.execute(store.db);

  const at = (i: number) => String(Math.floor((i * 7919) % N)).padStart(8, '0');
  report.pagesMs = {
    users: await pages((i) => services.users.list(systemActor, { after: `user${at(i)}`, limit: 51 })),
    usersSearch: await pages((i) => services.users.list(systemActor, { search: `USER${at(i).slice(0, 5)}`, limit: 51 })),
    tokens: await pages((i) => services.tokens.list(systemActor, { after: serialOf(Number(at(i))), limit: 51 })),
    tokensByState: await pages((i) =>
      services.tokens.list(systemActor, { state: 'unassigned', after: serialOf(Number(at(i))), limit: 51 }),
    ),
    audit: await pages((i) => services.audit.list(systemActor, { beforeId: 1 + Number(at(i)) * 10, limit: 51 })),
    auditByTarget: await pages((i) => services.audit.list(systemActor, { targetType: 'user', target: `user${at(i)}`, limit: 51 })),
  };
  report.loadAverageAtEnd = loadavg();
  console.log(JSON.stringify(report, null, 2));
} finally {
  if (schema) await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}
