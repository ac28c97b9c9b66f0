import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatKeyring } from '../../src/core/crypto/secret-box.js';
import { systemActor } from '../../src/domain/actor.js';
import { tokenType } from '../../src/tokens/registry.js';
import { storeArgs, tallyAsync } from '../support/cli.js';
import { describeEachStore, insertTokenRow } from '../support/store.js';
import { bearer, createTestTally, type TestTally, verifyOverRest } from '../support/tally.js';

describeEachStore('Assignments from CSV (serial → user)', (getStore, handle) => {
  let tally: TestTally;
  let next = 0;

  const api = (payload: object | string, token = tally.tokens.superadmin, contentType?: string) =>
    tally.admin.inject({
      method: 'POST',
      url: '/api/v1/tokens/assignments',
      headers: { ...bearer(token), ...(contentType ? { 'content-type': contentType } : {}) },
      payload,
    });
  /** Imported, unassigned TOTP tokens (as `tally inventory import` leaves them), by serial. */
  const importedTokens = async (count: number): Promise<string[]> => {
    const serials: string[] = [];
    for (let i = 0; i < count; i++) {
      const serial = `7000${String(++next).padStart(8, '0')}`;
      const seed = randomBytes(20);
      await insertTokenRow(getStore().db, tally.clock.now(), {
        serial,
        state: 'unassigned',
        origin: 'imported',
        seed_sealed: tally.services.tokens.sealSeed(serial, seed),
      });
      serials.push(serial);
    }
    return serials;
  };
  const tokenOf = (serial: string) => getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
  const codeNow = async (serial: string) =>
    tokenType('totp').codeAt(tally.services.tokens.material(await tokenOf(serial)), Math.floor(tally.clock.now() / 30_000));

  before(async () => {
    tally = await createTestTally(getStore());
    for (const username of ['ann', 'ben', 'cat', 'dan', 'eve', 'fay', 'gus']) await tally.services.users.create(systemActor, { username });
  });
  after(async () => tally.close());

  test('each row is assigned on its own, with a report per line; refused rows leave the others done', async () => {
    const [a, b, c, d] = await importedTokens(4);
    assert.ok(a && b && c && d);
    const generated = (await tally.services.distribution.createUnassigned(systemActor, await qrProfile(tally), 1))[0]?.serial ?? '';
    const csv = [
      'Serial,Username,Requires New PIN',
      `${a},ann,yes`,
      `${b},ben,`,
      '',
      `${c},nobody-here,no`,
      `${a},cat,no`,
      `999999999999,dan,`,
      `${d},dan,maybe`,
      `${generated},eve,`,
      `=HYPERLINK("x"),fay,`,
      `${d},@gus,`,
      `,gus,`,
      `${d},gus,no,extra`,
      `"${d}",gus,NO`,
    ].join('\r\n');
    const response = await api({ csv });
    assert.equal(response.statusCode, 200, response.body);
    const report = response.json();
    assert.equal(report.assigned, 3);
    assert.equal(report.refused, 9);
    const rows = report.rows.map((row: { line: number; serial: string; result: string; reason?: string }) => [
      row.line,
      row.serial,
      row.result,
      row.reason ?? '',
    ]);
    assert.deepEqual(rows, [
      [2, a, 'assigned', ''],
      [3, b, 'assigned', ''],
      [5, c, 'refused', 'No user named nobody-here.'],
      [6, a, 'refused', `Serial ${a} is listed on line 2 already; each token is assigned once.`],
      [7, '999999999999', 'refused', 'No token with serial 999999999999.'],
      [8, d, 'refused', 'requiresNewPin must be one of yes, true, 1, no, false, 0 (or empty: as imported).'],
      [
        9,
        generated,
        'refused',
        `Token ${generated} was made by Tally, not imported: assign it on its own, and it is distributed by its profile.`,
      ],
      [10, '=HYPERLINK("x")', 'refused', 'serial starts like a spreadsheet formula (=, +, - or @); write the value itself.'],
      [11, d, 'refused', 'username starts like a spreadsheet formula (=, +, - or @); write the value itself.'],
      [12, '', 'refused', 'The serial is empty.'],
      [13, d, 'refused', 'The row has 4 fields; the header has 3.'],
      [14, d, 'assigned', ''],
    ]);
    assert.deepEqual(
      report.rows.map((row: { requiresNewPin: boolean | null }) => row.requiresNewPin),
      [true, null, false, false, null, null, null, null, null, null, null, false],
    );

    // Assigned at once and active (their holders have the seeds); "requires new PIN" starts the new PIN chain.
    const [rowA, rowB, rowD] = await Promise.all([tokenOf(a), tokenOf(b), tokenOf(d)]);
    assert.deepEqual([rowA.state, rowB.state, rowD.state], ['active', 'active', 'active']);
    assert.deepEqual([rowA.pin_mode, rowA.new_pin_required], ['required', 1]);
    assert.deepEqual([rowB.pin_mode, rowB.new_pin_required], ['none', 0]);
    const challenge = await verifyOverRest(tally, 'ann', await codeNow(a));
    assert.equal(challenge.result, 'challenge');
    assert.match(challenge.message, /new PIN/);
    assert.equal((await verifyOverRest(tally, 'ben', await codeNow(b))).result, 'accept');
    // Refused rows changed nothing.
    assert.deepEqual([(await tokenOf(c)).state, (await tokenOf(c)).user_id], ['unassigned', null]);

    const events = (
      await tally.admin.inject({ url: '/api/v1/audit?action=token.assign.import', headers: bearer(tally.tokens.superadmin) })
    ).json().events;
    assert.deepEqual(events[0].details, { assigned: 3, refused: 9 });
    const assigned = (
      await tally.admin.inject({ url: `/api/v1/audit?action=token.assign&serial=${a}`, headers: bearer(tally.tokens.superadmin) })
    ).json().events;
    assert.deepEqual(assigned[0].details, { username: 'ann', requiresNewPin: true, delivery: null });
  });

  test('already assigned tokens are refused on a second import; multipart takes the file too', async () => {
    const [serial] = await importedTokens(1);
    assert.ok(serial);
    const boundary = 'tally-boundary';
    const body = (csv: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n--${boundary}--\r\n`;
    const first = await api(body(`serial,username\n${serial},fay\n`), undefined, `multipart/form-data; boundary=${boundary}`);
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.json().assigned, 1);
    const again = await api({ csv: `username,serial\ngus,${serial}\n` });
    assert.equal(again.json().rows[0].result, 'refused');
    assert.equal(again.json().rows[0].reason, `Token ${serial} is assigned already; only unassigned tokens can be assigned.`);
  });

  test('the file as a whole: a header is required, columns are known, size and rows are bounded, the role may assign', async () => {
    const refusal = async (payload: object, status = 400) => {
      const response = await api(payload);
      assert.equal(response.statusCode, status, response.body);
      return response.json().error.message as string;
    };
    assert.match(await refusal({ csv: '' }), /The file is empty: it needs the header row serial,username\[,requiresNewPin\]/);
    assert.match(await refusal({ csv: '700000000001,ann\n' }), /The first row must be the header .*; it has "700000000001", "ann"/);
    assert.match(await refusal({ csv: 'serial,username,serial\n1,ann,1\n' }), /The first row must be the header/);
    assert.match(await refusal({ csv: 'serial,requiresNewPin\n1,yes\n' }), /The header row needs a username column/);
    assert.match(await refusal({ csv: 'serial,username\n"1,ann\n' }), /quoted field that never ends/);
    const rows = `serial,username\n${'1,ann\n'.repeat(10_001)}`;
    assert.match(await refusal({ csv: rows }, 413), /at most 10000 rows/);
    assert.equal((await api({ csv: 'x'.repeat(2 * 1024 * 1024 + 1) })).statusCode, 400, 'the schema bounds the text');
    assert.equal((await api({ csv: 'serial,username\n' }, tally.tokens.agent)).statusCode, 403);
    const failures = (
      await tally.admin.inject({ url: '/api/v1/audit?action=token.assign.import&result=failure', headers: bearer(tally.tokens.superadmin) })
    ).json().events;
    assert.ok(failures.length >= 5, 'a refused file is audited as a failure');
  });

  test('tally inventory assign: the report per line, --json, exit 1 when a row is refused', async () => {
    const [serial] = await importedTokens(1);
    assert.ok(serial);
    const { dataDir, options } = handle();
    const args = storeArgs({ dataDir, databaseUrl: options.databaseUrl, schema: options.schema });
    const env = { TALLY_MASTER_KEY: formatKeyring(tally.keyring) };
    const file = join(dataDir, 'assignments.csv');
    writeFileSync(file, `serial,username,requiresNewPin\n${serial},gus,1\n999999999998,gus,\n`);
    const run = await tallyAsync(['inventory', 'assign', file, ...args], { env });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, new RegExp(`line 2\\s+${serial}\\s+gus\\s+assigned`));
    assert.match(run.stdout, /line 3\s+999999999998\s+gus\s+refused: No token with serial 999999999998\./);
    assert.match(run.stdout, /1 assigned, 1 refused\./);
    assert.deepEqual([(await tokenOf(serial)).pin_mode, (await tokenOf(serial)).new_pin_required], ['required', 1]);
    const json = await tallyAsync(['inventory', 'assign', file, ...args, '--json'], { env });
    assert.equal(JSON.parse(json.stdout).refused, 2);
  });
});

async function qrProfile(tally: TestTally): Promise<string> {
  const name = 'Assignments QR';
  if (!(await tally.services.profiles.list(systemActor)).some((profile) => profile.name === name))
    await tally.services.profiles.create(systemActor, { name, tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr' });
  return name;
}
