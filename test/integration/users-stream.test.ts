import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatKeyring } from '../../src/core/crypto/secret-box.js';
import { storeArgs, tallyAsync } from '../support/cli.js';
import { describeEachStore } from '../support/store.js';
import { createTestTally, type TestTally } from '../support/tally.js';

/** 20,000 users streamed by `tally users import`, with rows it must refuse among them. */
const USERS = 20_000;
const FIRST_RUN = 2_000;
/** The CLI reads the file in pieces of 256 KiB: a two-byte character is placed across the first boundary. */
const PIECE_BYTES = 256 * 1024;

const usernameOf = (i: number) => `u${String(i).padStart(6, '0')}`;
const rowOf = (i: number) => `${usernameOf(i)},${usernameOf(i)}@example.com,"First, ${i}",Last${i},,\n`;
const HEADER = 'username,email,firstName,lastName,role,password\n';

/** Rows that cannot be users, each with the reason the import must give. */
const BAD_ROWS: { row: string; username: string; reason: RegExp }[] = [
  { row: 'bad user!,,,,,\n', username: 'bad user!', reason: /username must be/ },
  { row: 'eve,not-an-email,,,,\n', username: 'eve', reason: /email address is not valid/ },
  { row: 'frank,,,,boss,\n', username: 'frank', reason: /role must be one of/ },
  { row: 'gina,,,,,short\n', username: 'gina', reason: /password must be/ },
  { row: `${usernameOf(FIRST_RUN + 1)},again@example.com,,,,\n`, username: usernameOf(FIRST_RUN + 1), reason: /listed twice/ },
];

describeEachStore('users import, streamed', (getStore, handle) => {
  let tally: TestTally;
  let args: string[];
  let env: NodeJS.ProcessEnv;
  let whole: string;
  let firstRun: string;
  /** Line numbers (as an editor shows them) of the bad rows in the whole file. */
  const badLines: number[] = [];
  before(async () => {
    tally = await createTestTally(getStore());
    const { dataDir, options } = handle();
    args = storeArgs({ dataDir, databaseUrl: options.databaseUrl, schema: options.schema });
    env = { TALLY_MASTER_KEY: formatKeyring(tally.keyring) };
    whole = join(dataDir, 'people.csv');
    firstRun = join(dataDir, 'first-run.csv');
    const lines = [HEADER];
    let bytes = Buffer.byteLength(HEADER);
    const add = (line: string) => {
      lines.push(line);
      bytes += Buffer.byteLength(line);
    };
    for (let i = 0; i < USERS; i++) {
      if (i === FIRST_RUN + 5) {
        for (const bad of BAD_ROWS) {
          add(bad.row);
          badLines.push(lines.length);
        }
        // Blank lines (dropped) up to where the two bytes of ë straddle the first piece's end.
        const straddle = 'straddle,,Zo';
        while (bytes + straddle.length < PIECE_BYTES - 1) add('\n');
        add(`${straddle}ë,Two-byte,,\n`);
      }
      add(rowOf(i));
    }
    add('holder,holder@example.com,Hol,Der,helpdesk,a long enough password\n');
    writeFileSync(whole, lines.join(''));
    writeFileSync(firstRun, HEADER + Array.from({ length: FIRST_RUN }, (_, i) => rowOf(i)).join(''));
  });
  after(async () => tally.close());

  const count = async (query: (db: TestTally['store']['db']) => Promise<{ n: number | string | bigint }>) =>
    Number((await query(tally.store.db)).n);
  const usersLike = (pattern: string) =>
    count((db) =>
      db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('username', 'like', pattern)
        .executeTakeFirstOrThrow(),
    );

  test('a run stopped after some batches, run again on the whole file, skips who is there, creates the rest and names each refused row by its line', async () => {
    const first = await tallyAsync(['users', 'import', firstRun, '--batch', '500', ...args], { env });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^${FIRST_RUN} created, 0 skipped \\(in the store already\\), 0 refused\\.$`, 'm'));

    const again = await tallyAsync(['users', 'import', whole, ...args], { env });
    assert.equal(again.status, 1, 'a refused row makes the exit code 1');
    const created = USERS - FIRST_RUN + 2; // the straddling row and the holder
    assert.match(
      again.stdout,
      new RegExp(`^${created} created, ${FIRST_RUN} skipped \\(in the store already\\), ${BAD_ROWS.length} refused\\.$`, 'm'),
    );
    const refused = again.stdout.split('\n').filter((line) => line.includes(' refused: '));
    assert.equal(refused.length, BAD_ROWS.length);
    BAD_ROWS.forEach((bad, i) => {
      const line = refused[i] ?? '';
      assert.ok(line.startsWith(`line ${badLines[i]} `), line);
      assert.ok(line.includes(` ${bad.username} `), line);
      assert.match(line, bad.reason);
    });
    const progress = again.stderr.trim().split('\n').at(-1) ?? '';
    assert.match(
      progress,
      new RegExp(
        `^${created + FIRST_RUN + BAD_ROWS.length} users \\(${created} created, ${FIRST_RUN} skipped, ${BAD_ROWS.length} refused\\) \\d+/s$`,
      ),
    );

    assert.equal(await usersLike('u%'), USERS);
    const sample = await tally.store.db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', usernameOf(12_345))
      .executeTakeFirstOrThrow();
    assert.deepEqual(
      [sample.email, sample.first_name, sample.last_name, sample.role, sample.password_hash],
      [`${usernameOf(12_345)}@example.com`, 'First, 12345', 'Last12345', 'user', null],
    );
    const straddling = await tally.store.db
      .selectFrom('users')
      .select('first_name')
      .where('username', '=', 'straddle')
      .executeTakeFirstOrThrow();
    assert.equal(straddling.first_name, 'Zoë', 'a character split between two pieces of the file is read whole');
    const holder = await tally.store.db.selectFrom('users').selectAll().where('username', '=', 'holder').executeTakeFirstOrThrow();
    assert.equal(holder.role, 'helpdesk');
    assert.match(holder.password_hash ?? '', /^\$argon2id\$/, 'a password in the file is stored as its argon2id hash');
    const logOn = await tally.services.users.logOn({ username: 'holder', password: 'a long enough password', console: 'security' });
    assert.deepEqual([logOn.name, logOn.role], ['holder', 'helpdesk']);

    const perUser = await count((db) =>
      db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('action', '=', 'user.create')
        .where('target_type', '=', 'user')
        .executeTakeFirstOrThrow(),
    );
    assert.equal(perUser, USERS + 2, 'one audit event per user created, once');

    const rerun = await tallyAsync(['users', 'import', whole, '--json', ...args], { env });
    const totals = JSON.parse(rerun.stdout.trim().split('\n').at(-1) ?? '{}');
    assert.deepEqual(totals, { created: 0, skipped: USERS + 2, refused: BAD_ROWS.length });
  });

  test('a file with an unknown column is refused before any row is read, and nothing is written', async () => {
    const file = join(handle().dataDir, 'unknown-column.csv');
    writeFileSync(file, 'username,shoe size\nnobody,44\n');
    const result = await tallyAsync(['users', 'import', file, ...args], { env });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /"shoe size"/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(await usersLike('nobody'), 0);
  });

  test('bad usage: a missing file and a bad batch size exit 2 with a message', async () => {
    const missing = await tallyAsync(['users', 'import', join(handle().dataDir, 'no-such.csv'), ...args], { env });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read/);
    const batch = await tallyAsync(['users', 'import', whole, '--batch', '0', ...args], { env });
    assert.equal(batch.status, 2);
    assert.match(batch.stderr, /--batch takes 1 to 100000 users/);
  });
});
