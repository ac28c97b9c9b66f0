import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { ArchiveDecoder, ArchiveEncoder, type ArchiveHeader } from '../../src/core/backup/archive.js';
import { formatKeyring, generateMasterKey, type Keyring, makeKeyring } from '../../src/core/crypto/secret-box.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { writeSdtid } from '../../src/core/securid/index.js';
import { systemActor } from '../../src/domain/actor.js';
import { AuditService } from '../../src/domain/audit.js';
import { createServices } from '../../src/domain/services.js';
import { buildAdminApp } from '../../src/http/admin/app.js';
import { createLogger } from '../../src/logger.js';
import { writeBackup } from '../../src/store/backup.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/connect.js';
import { UnitOfWork } from '../../src/store/unit-of-work.js';
import { storeArgs, tally, tallyAsync } from '../support/cli.js';
import { interopTest, runPeer } from '../support/peers.js';
import { describeEachStore, freshStoreOptions, type TestStoreHandle, testDialects } from '../support/store.js';
import { bearer, createTestTally, readyOn, TestClock, type TestTally } from '../support/tally.js';

const SECURID_SERIAL = '000123456789';

function archiveLines(file: string): string[] {
  return gunzipSync(readFileSync(file)).toString('utf8').split('\n').slice(0, -1);
}

/** The archive's rows of a table, as objects, checked as `tally restore` checks them. */
function archiveRows(lines: string[], table: string): Record<string, unknown>[] {
  const decoder = new ArchiveDecoder();
  const rows: Record<string, unknown>[] = [];
  for (const line of lines) {
    const record = decoder.line(line);
    if (record.kind === 'row' && record.table.name === table)
      rows.push(Object.fromEntries(record.table.columns.map((column, index) => [column, record.values[index]])));
  }
  decoder.finish();
  return rows;
}

/** A user and the audit event of its creation, in one transaction: in any snapshot, both or neither. */
async function writeUserWithEvent(store: Store, username: string): Promise<void> {
  await new UnitOfWork(store.db).transaction(async (repos) => {
    await repos.users.insert({ username, passwordHash: null, email: null, firstName: null, lastName: null, role: 'user', now: Date.now() });
    await new AuditService(new UnitOfWork(store.db), { now: () => Date.now() }).record(
      { actor: systemActor, entry: { action: 'user.create', targetType: 'user', target: username } },
      repos.connection,
    );
  });
}

function pairsIn(lines: string[], prefix: string): { users: string[]; events: string[] } {
  const users = archiveRows(lines, 'users')
    .map((row) => String(row.username))
    .filter((name) => name.startsWith(prefix));
  const events = archiveRows(lines, 'audit_events')
    .filter((row) => row.action === 'user.create' && String(row.target).startsWith(prefix))
    .map((row) => String(row.target));
  return { users: users.sort(), events: events.sort() };
}

describeEachStore('backup snapshot', (getStore, handle) => {
  test('writes committed while a backup runs are not in it, both tables of one transaction agree, and the store keeps working', async () => {
    const testTally = await createTestTally(getStore());
    const writer = await openStore(handle().options);
    try {
      for (const name of ['before-1', 'before-2']) await writeUserWithEvent(writer, name);
      const lines: string[] = [];
      let wroteDuring = false;
      const header = await writeBackup(
        getStore(),
        async (line) => {
          lines.push(line.replace(/\n$/, ''));
          // After the first row (api_tokens, read before audit_events and users): a writer on another connection commits.
          if (!wroteDuring && line.startsWith('{"t":')) {
            wroteDuring = true;
            for (const name of ['during-1', 'during-2', 'during-3']) await writeUserWithEvent(writer, name);
          }
        },
        { tallyVersion: 'test', now: new Date(), progress: () => {} },
      );
      assert.ok(wroteDuring);
      assert.equal(lines[0], JSON.stringify(header));
      assert.deepEqual(pairsIn(lines, 'before-'), { users: ['before-1', 'before-2'], events: ['before-1', 'before-2'] });
      assert.deepEqual(pairsIn(lines, 'during-'), { users: [], events: [] });
      const stored = await getStore().db.selectFrom('users').select('username').where('username', 'like', 'during-%').execute();
      assert.equal(stored.length, 3, "the writer's transactions committed during the backup");
    } finally {
      await writer.close();
      await testTally.close();
    }
  });
});

test('tally backup beside a writing process: the archive holds whole transactions only, the writer never fails', async () => {
  const place = freshStoreOptions('sqlite');
  const store = await openStore(place.options);
  try {
    await migrateToLatest(store);
    const testTally = await createTestTally(store);
    await testTally.close();
    const file = join(place.dataDir, 'while-writing.tally.gz');
    const backup = tallyAsync(['backup', ...storeArgs(place.options), '--out', file]);
    let done = false;
    let written = 0;
    void backup.finally(() => {
      done = true;
    });
    while (!done) {
      await writeUserWithEvent(store, `writer-${++written}`);
      // better-sqlite3 answers at once: let the event loop see the backup process end.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const result = await backup;
    assert.equal(result.status, 0, result.stderr);
    const pairs = pairsIn(archiveLines(file), 'writer-');
    assert.deepEqual(pairs.users, pairs.events);
    const after = await store.db.selectFrom('users').select('username').where('username', 'like', 'writer-%').execute();
    assert.equal(after.length, written);
  } finally {
    await store.close();
    await place.cleanup();
  }
});

interface Source {
  handle: TestStoreHandle;
  testTally: TestTally;
  seeds: Map<string, Buffer>;
}

async function populatedSource(dialect: 'sqlite' | 'postgres'): Promise<Source> {
  const handle = freshStoreOptions(dialect);
  const store = await openStore(handle.options);
  await migrateToLatest(store);
  const testTally = await createTestTally(store);
  const api = async (url: string, payload: object) => {
    const response = await testTally.admin.inject({ method: 'POST', url, headers: bearer(testTally.tokens.superadmin), payload });
    assert.ok(response.statusCode < 300, `${url}: ${response.body}`);
    return response.json();
  };
  for (const username of ['totp-user', 'hotp-user', 'securid-user']) await api('/api/v1/users', { username });
  const seeds = new Map([
    ['TOTP-1', randomBytes(20)],
    ['HOTP-1', randomBytes(20)],
    [SECURID_SERIAL, randomBytes(16)],
  ]);
  const oath = writePskc([
    { kind: 'totp', id: 'TOTP-1', serial: 'TOTP-1', secret: seeds.get('TOTP-1')!, digits: 6, algorithm: 'SHA1', period: 30 },
    { kind: 'hotp', id: 'HOTP-1', serial: 'HOTP-1', secret: seeds.get('HOTP-1')!, digits: 6, algorithm: 'SHA1', counter: 0 },
  ]);
  await api('/api/v1/tokens/import', { file: Buffer.from(oath).toString('base64') });
  await api('/api/v1/tokens/import', { file: Buffer.from(writeSdtid([securidToken(seeds)])).toString('base64') });
  for (const [serial, username] of [
    ['TOTP-1', 'totp-user'],
    ['HOTP-1', 'hotp-user'],
    [SECURID_SERIAL, 'securid-user'],
  ] as const) {
    await api(`/api/v1/tokens/${serial}/assign`, { username });
  }
  await api('/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: 'radius-secret-1' });
  return { handle, testTally, seeds };
}

function securidToken(seeds: Map<string, Buffer>) {
  return {
    serial: SECURID_SERIAL,
    seed: seeds.get(SECURID_SERIAL)!,
    digits: 8,
    period: 60 as const,
    addPin: false,
    localPin: false,
    expiresOn: '2035-12-31',
  };
}

/** Codes from the real peers: oathtool for TOTP and HOTP, stoken for SecurID. */
function peerCodes(seeds: Map<string, Buffer>, clock: TestClock) {
  const seconds = () => Math.floor(clock.now() / 1000);
  const dir = mkdtempSync(join(tmpdir(), 'tally-backup-stoken-'));
  writeFileSync(join(dir, 't.sdtid'), writeSdtid([securidToken(seeds)]));
  return {
    totp: () => runPeer('oathtool', ['--totp', '-N', `@${seconds()}`, seeds.get('TOTP-1')!.toString('hex')]).trim(),
    hotp: (counter: number) => runPeer('oathtool', ['--hotp', '-c', String(counter), seeds.get('HOTP-1')!.toString('hex')]).trim(),
    securid: () =>
      runPeer('stoken', ['tokencode', '--file', join(dir, 't.sdtid'), `--use-time=${seconds()}`, '--pin=0000', '-b'], {
        env: { ...process.env, HOME: dir },
      }).trim(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function verify(app: FastifyInstance, agentToken: string, username: string, passcode: string): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/verify',
    headers: bearer(agentToken),
    payload: { username, passcode },
  });
  return (response.json() as { result: string }).result;
}

async function tableRows(store: Store, table: string) {
  return (await sql<Record<string, unknown>>`select * from ${sql.table(table)} order by 1`.execute(store.db)).rows;
}

const dialects = testDialects();
type DialectName = 'sqlite' | 'postgres';
const journeys: [DialectName, DialectName][] = [['sqlite', 'sqlite']];
if (dialects.includes('postgres')) journeys.push(['sqlite', 'postgres'], ['postgres', 'sqlite']);

for (const [from, to] of journeys) {
  describe(`backup on ${from}, restore on ${to}`, () => {
    let source: Source;
    before(async () => {
      source = await populatedSource(from);
    });
    after(async () => {
      await source.testTally.close();
      await source.testTally.store.close();
      await source.handle.cleanup();
    });

    interopTest(
      'every token still authenticates with real codes, a code used before the backup is a replay, ids go on',
      ['oathtool', 'stoken'],
      async () => {
        const { testTally, seeds } = source;
        const codes = peerCodes(seeds, testTally.clock);
        const target = freshStoreOptions(to);
        let restored: Store | undefined;
        try {
          const usedTotp = codes.totp();
          const usedSecurid = codes.securid();
          assert.equal(await verify(testTally.admin, testTally.tokens.agent, 'totp-user', usedTotp), 'accept');
          assert.equal(await verify(testTally.admin, testTally.tokens.agent, 'hotp-user', codes.hotp(0)), 'accept');
          assert.equal(await verify(testTally.admin, testTally.tokens.agent, 'securid-user', usedSecurid), 'accept');

          const file = join(target.dataDir, 'store.tally.gz');
          const backup = tally(['backup', ...storeArgs(source.handle.options), '--out', file]);
          assert.equal(backup.status, 0, backup.stderr);
          assert.match(backup.stdout, /holds no master key/);
          assert.match(backup.stderr, /tokens: 3 row\(s\)/);
          const archive = archiveLines(file).join('\n');
          for (const seed of seeds.values()) {
            for (const encoding of ['hex', 'base64'] as const) assert.ok(!archive.includes(seed.toString(encoding)), 'seeds stay sealed');
          }
          assert.ok(!archive.includes(formatKeyring(testTally.keyring).trim()), 'no master key');

          const restore = tally(['restore', ...storeArgs(target.options), file], {
            env: { TALLY_MASTER_KEY: formatKeyring(testTally.keyring) },
          });
          assert.equal(restore.status, 0, restore.stderr);
          assert.match(restore.stdout, /Restored \d+ row\(s\)/);

          restored = await openStore(target.options);
          for (const table of ['users', 'tokens', 'radius_clients', 'tally_meta', 'api_tokens', 'profiles']) {
            assert.deepEqual(await tableRows(restored, table), await tableRows(testTally.store, table), table);
          }
          const actions = async (store: Store) =>
            (await store.db.selectFrom('audit_events').select('action').orderBy('id').execute()).map((row) => row.action);
          const sourceActions = await actions(testTally.store);
          assert.equal(sourceActions.at(-1), 'store.backup', 'the backup is audited in the store backed up, after its snapshot');
          assert.deepEqual(await actions(restored), [...sourceActions.slice(0, -1), 'store.restore']);

          const clock = new TestClock(testTally.clock.now());
          const services = createServices(restored, testTally.keyring, clock);
          const app = await buildAdminApp(services, { logger: createLogger('silent'), readiness: readyOn(restored, testTally.keyring) });
          try {
            const agent = testTally.tokens.agent;
            assert.equal(await verify(app, agent, 'totp-user', usedTotp), 'reject', 'TOTP replay');
            assert.equal(await verify(app, agent, 'hotp-user', codes.hotp(0)), 'reject', 'HOTP replay');
            assert.equal(await verify(app, agent, 'securid-user', usedSecurid), 'reject', 'SecurID replay');
            assert.equal(await verify(app, agent, 'hotp-user', codes.hotp(1)), 'accept');
            clock.advance(60);
            testTally.clock.advance(60);
            assert.equal(await verify(app, agent, 'totp-user', codes.totp()), 'accept');
            assert.equal(await verify(app, agent, 'securid-user', codes.securid()), 'accept');
            const created = await app.inject({
              method: 'POST',
              url: '/api/v1/users',
              headers: bearer(testTally.tokens.superadmin),
              payload: { username: 'after-restore' },
            });
            assert.equal(created.statusCode, 201, `new rows get new ids: ${created.body}`);
          } finally {
            await app.close();
            await services.bulk.idle();
          }
        } finally {
          codes.cleanup();
          await restored?.close();
          await target.cleanup();
        }
      },
    );
  });
}

describe('restore refusals leave the target untouched', () => {
  const source = freshStoreOptions('sqlite');
  const keyring: Keyring = makeKeyring([generateMasterKey(1)]);
  const env = { TALLY_MASTER_KEY: formatKeyring(keyring) };
  const file = join(source.dataDir, 'good.tally.gz');
  let lines: string[] = [];
  before(() => {
    const init = tally(['init', ...storeArgs(source.options), '--admin-user', 'root', '--admin-password-stdin'], {
      input: 'password-123\n',
      env,
    });
    assert.equal(init.status, 0, init.stderr);
    const backup = tally(['backup', ...storeArgs(source.options), '--out', file], { env });
    assert.equal(backup.status, 0, backup.stderr);
    assert.match(backup.stdout, /back up the value of TALLY_MASTER_KEY separately/);
    lines = archiveLines(file);
  });
  after(() => source.cleanup());

  function writeArchive(name: string, content: Buffer): string {
    const path = join(source.dataDir, name);
    writeFileSync(path, content);
    return path;
  }

  /** Restores into a new, empty place; asserts the refusal and that no store was created there. */
  function refused(archive: string, message: RegExp, restoreEnv: NodeJS.ProcessEnv = env): void {
    const target = mkdtempSync(join(tmpdir(), 'tally-restore-refused-'));
    try {
      const result = tally(['restore', '--data-dir', target, archive], { env: restoreEnv });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
      assert.equal(existsSync(join(target, 'tally.db')), false, 'nothing written');
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  }

  test('a store that holds data: refused, and its rows stay as they were', async () => {
    const target = freshStoreOptions('sqlite');
    try {
      const init = tally(['init', ...storeArgs(target.options), '--admin-user', 'other', '--admin-password-stdin'], {
        input: 'password-456\n',
        env,
      });
      assert.equal(init.status, 0, init.stderr);
      const counts = async () => {
        const store = await openStore(target.options);
        try {
          return await Promise.all(['users', 'audit_events', 'tally_meta', 'ctkip_server_keys'].map((table) => tableRows(store, table)));
        } finally {
          await store.close();
        }
      };
      const beforeRestore = await counts();
      const result = tally(['restore', ...storeArgs(target.options), file], { env });
      assert.equal(result.status, 1);
      assert.match(result.stderr, /is not empty \(audit_events, ctkip_server_keys, tally_meta, users hold rows\); nothing was written/);
      assert.deepEqual(await counts(), beforeRestore);
    } finally {
      await target.cleanup();
    }
  });

  test('an archive from a newer Tally (a schema level this one does not know)', () => {
    const decoder = new ArchiveDecoder();
    const records = lines.map((line) => decoder.line(line));
    const first = records[0];
    assert.equal(first?.kind, 'header');
    const header: ArchiveHeader = { ...(first as { header: ArchiveHeader }).header, schema: '9999_from_a_later_tally' };
    const encoder = new ArchiveEncoder(header);
    const rewritten = [encoder.start()];
    for (const record of records) {
      if (record.kind === 'row')
        rewritten.push(encoder.row(record.table.name, Object.fromEntries(record.table.columns.map((c, i) => [c, record.values[i]]))));
    }
    rewritten.push(encoder.end());
    refused(
      writeArchive('newer.tally.gz', gzipSync(rewritten.join(''))),
      /at schema 9999_from_a_later_tally .*this Tally knows up to \d{4}_/,
    );
  });

  test('a damaged archive (a changed row) and a truncated one', () => {
    const changed = lines.join('\n').replace('"root"', '"toor"');
    assert.notEqual(changed, lines.join('\n'));
    refused(writeArchive('changed.tally.gz', gzipSync(`${changed}\n`)), /checksum does not match its content/);
    const whole = readFileSync(file);
    refused(writeArchive('truncated.tally.gz', whole.subarray(0, Math.floor(whole.length / 2))), /not a complete gzip file/);
    refused(writeArchive('cut.tally.gz', gzipSync(`${lines.slice(0, -1).join('\n')}\n`)), /stops before its end: the file is truncated/);
    refused(writeArchive('plain.txt', Buffer.from('hello\n')), /not a complete gzip file/);
  });

  test('a master key other than the backed-up store’s, or none', () => {
    refused(file, /The master key does not open the archive/, { TALLY_MASTER_KEY: formatKeyring(makeKeyring([generateMasterKey(1)])) });
    refused(file, /No master key: put the backed-up store's key at .*master\.key .*or set TALLY_MASTER_KEY/, {
      TALLY_MASTER_KEY: undefined,
    });
  });
});

test('backup to a path that cannot be written fails at once: exit 2, no partial file', () => {
  const place = freshStoreOptions('sqlite');
  try {
    const init = tally(['init', ...storeArgs(place.options), '--admin-user', 'root', '--admin-password-stdin'], {
      input: 'password-123\n',
    });
    assert.equal(init.status, 0, init.stderr);
    const result = tally(['backup', ...storeArgs(place.options), '--out', join(place.dataDir, 'missing', 'x.tally.gz')]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Cannot write the archive .*missing\/x\.tally\.gz \(ENOENT\)/);
    assert.doesNotMatch(result.stderr, /row\(s\)/, 'nothing was read');
  } finally {
    void place.cleanup();
  }
});

test('backup and restore have --help', () => {
  for (const command of ['backup', 'restore']) {
    const help = tally([command, '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, new RegExp(`^Usage: tally ${command}`));
  }
  assert.match(tally(['--help']).stdout, /\n {2}backup .*\n {2}restore /);
});
