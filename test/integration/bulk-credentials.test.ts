import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatKeyring } from '../../src/core/crypto/secret-box.js';
import { parseCsv } from '../../src/core/csv/csv.js';
import { systemActor } from '../../src/domain/actor.js';
import { createServices, DEFAULT_SERVICE_OPTIONS } from '../../src/domain/services.js';
import { storeArgs, tallyAsync } from '../support/cli.js';
import { activate } from '../support/ctkip.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

const CTKIP_PROFILE = 'Bulk CT-KIP';
const QR_PROFILE = 'Bulk QR';
const HEADER = ['username', 'serial', 'ctkipUrl', 'activationCode', 'expiresAt', 'status'];

describeEachStore('Bulk credentials file', (getStore, handle) => {
  let tally: TestTally;
  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method, url: `/api/v1${url}`, headers: bearer(token), ...(payload ? { payload } : {}) });

  before(async () => {
    tally = await createTestTally(getStore(), { services: { publicUrl: 'https://tally.example.com' } });
    for (const payload of [
      { name: CTKIP_PROFILE, tokenType: 'securid', deviceType: 'android', appVersion: '2.1', delivery: 'ctkip', digits: 8, period: 60 },
      { name: QR_PROFILE, tokenType: 'totp', deviceType: 'authenticator', delivery: 'qr' },
    ]) {
      const created = await api('POST', '/profiles', payload);
      assert.equal(created.statusCode, 201, created.body);
    }
  });
  after(async () => tally.close());

  let users = 0;
  /** A finished bulk run of `count` new users (and a name nobody has), with its id and usernames. */
  const finishedRun = async (count: number, profile = CTKIP_PROFILE) => {
    const names = Array.from({ length: count }, () => `bulk${++users}`);
    for (const username of names) await tally.services.users.create(systemActor, { username });
    const started = await api('POST', '/bulk-distributions', { profile, usernames: [...names, 'nobody-at-all'] });
    assert.equal(started.statusCode, 202, started.body);
    await tally.services.bulk.idle();
    return { id: started.json().id as number, names };
  };
  const download = (id: number, token?: string) => api('POST', `/bulk-distributions/${id}/credentials`, undefined, token);
  const rowsOf = (body: string) => {
    const [header, ...rows] = parseCsv(body);
    assert.deepEqual(header, HEADER);
    return rows.map((fields) => Object.fromEntries(HEADER.map((name, i) => [name, fields[i] ?? ''])));
  };

  test('a CT-KIP run gives its file once: a row per distributed user whose codes activate over CT-KIP', async () => {
    const { id, names } = await finishedRun(3);
    const before = (await api('GET', `/bulk-distributions/${id}`)).json().bulkDistribution.credentials;
    assert.equal(before.state, 'ready');
    assert.equal(before.downloadedBy, null);

    const response = await download(id);
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers['content-type']), /^text\/csv/);
    assert.match(String(response.headers['content-disposition']), new RegExp(`attachment; filename="bulk-${id}-credentials.csv"`));
    assert.equal(response.headers['cache-control'], 'no-store');
    const rows = rowsOf(response.body);
    assert.deepEqual(
      rows.map((row) => row.username),
      names,
      'one row per distributed user, in list order; the unknown name failed and has none',
    );
    for (const row of rows) {
      assert.equal(row.ctkipUrl, 'https://tally.example.com/ctkip/services/CtkipService');
      assert.match(row.activationCode ?? '', /^\d{12}$/);
      assert.equal(row.status, 'ready');
      assert.ok(Date.parse(row.expiresAt ?? '') > tally.clock.now());
    }
    const first = rows[0];
    assert.ok(first);
    const { token, fault } = await activate(tally.public, first.activationCode ?? '');
    assert.equal(fault, undefined);
    assert.equal(token?.serial, first.serial);
    assert.equal(token?.userId, first.username);

    const again = await download(id);
    assert.equal(again.statusCode, 410);
    assert.equal(again.json().error.code, 'BULK_CREDENTIALS_DOWNLOADED');
    assert.match(again.json().error.message, /downloaded already, by test-superadmin at /);
    const after = (await api('GET', `/bulk-distributions/${id}`)).json().bulkDistribution.credentials;
    assert.equal(after.state, 'downloaded');
    assert.equal(after.downloadedBy, 'test-superadmin');
    assert.equal(after.downloadedAt, new Date(tally.clock.now()).toISOString());

    const audit = (await api('GET', `/audit?action=token.bulk.credentials`))
      .json()
      .events.filter((event: { target: string }) => event.target === String(id));
    assert.deepEqual(
      audit.map((event: { result: string; actor: string }) => [event.result, event.actor]),
      [
        ['failure', 'test-superadmin'],
        ['success', 'test-superadmin'],
      ],
    );
    assert.deepEqual(audit[1].details, { rows: 3, codes: 3 });
    for (const row of rows) assert.doesNotMatch(JSON.stringify(audit), new RegExp(row.activationCode ?? 'none'));
  });

  test('rows whose token was reissued, activated or deleted before the download carry no code and say why', async () => {
    const { id, names } = await finishedRun(4);
    const [reissued, activated, deleted, untouched] = await Promise.all(
      names.map(async (username) => (await api('GET', `/users/${username}/tokens`)).json().tokens[0].serial as string),
    );
    assert.ok(reissued && activated && deleted && untouched);
    const reissue = await api('POST', `/tokens/${reissued}/reissue`);
    assert.equal(reissue.statusCode, 200, reissue.body);
    // The holder activates from the code shown on the Activate page, the same one the file has.
    const shown = await tally.services.distribution.activation({ kind: 'user', name: names[1] ?? '', role: 'user' }, activated);
    assert.equal(shown.kind, 'ctkip');
    assert.equal((await activate(tally.public, shown.kind === 'ctkip' ? (shown.activationCode ?? '') : '')).fault, undefined);
    assert.equal((await api('POST', `/tokens/${deleted}/unassign`)).statusCode, 200);
    assert.equal((await api('DELETE', `/tokens/${deleted}`)).statusCode, 204);

    const rows = rowsOf((await download(id)).body);
    const bySerial = new Map(rows.map((row) => [row.serial, row]));
    assert.equal(bySerial.get(reissued)?.status, 'replaced');
    assert.equal(bySerial.get(reissued)?.activationCode, '');
    assert.equal(bySerial.get(activated)?.status, 'activated');
    assert.equal(bySerial.get(activated)?.activationCode, '');
    assert.equal(rows.find((row) => row.username === names[2])?.status, 'gone');
    assert.equal(bySerial.get(untouched)?.status, 'ready');
    assert.match(bySerial.get(untouched)?.activationCode ?? '', /^\d{12}$/);
  });

  test('a reissue after the download makes that row’s code stop working', async () => {
    const { id } = await finishedRun(1);
    const [row] = rowsOf((await download(id)).body);
    assert.ok(row);
    assert.equal((await api('POST', `/tokens/${row.serial}/reissue`)).statusCode, 200);
    assert.ok((await activate(tally.public, row.activationCode ?? '')).fault, 'the old code is refused');
  });

  test('two nodes asking at once: one gets the file, the other a clear "already downloaded"', async () => {
    const { id } = await finishedRun(2);
    // A second set of services on the same store stands for another node.
    const other = createServices(getStore(), tally.keyring, tally.clock, {
      ...DEFAULT_SERVICE_OPTIONS,
      publicUrl: 'https://tally.example.com',
    });
    const admin = { kind: 'admin' as const, name: 'admin', role: 'superadmin' as const };
    const outcomes = await Promise.allSettled([
      tally.services.bulk.downloadCredentials(admin, id),
      other.bulk.downloadCredentials(admin, id),
      tally.services.bulk.downloadCredentials(admin, id),
    ]);
    const given = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as { code: string }] : []));
    assert.equal(given.length, 1);
    assert.deepEqual(
      refused.map((error) => error.code),
      ['BULK_CREDENTIALS_DOWNLOADED', 'BULK_CREDENTIALS_DOWNLOADED'],
    );
  });

  test('refused: a profile without CT-KIP, a run going on, expired codes, a role not shown codes, an unknown run', async () => {
    const qr = await finishedRun(1, QR_PROFILE);
    assert.equal((await api('GET', `/bulk-distributions/${qr.id}`)).json().bulkDistribution.credentials.state, 'none');
    const none = await download(qr.id);
    assert.equal(none.statusCode, 409);
    assert.match(none.json().error.message, /does not deliver by CT-KIP: it has no credentials file/);

    const running = await finishedRun(1);
    await getStore()
      .db.updateTable('bulk_distributions')
      .set({ state: 'running', finished_at: null })
      .where('id', '=', running.id)
      .execute();
    const busy = await download(running.id);
    assert.equal(busy.statusCode, 409);
    assert.match(busy.json().error.message, /still running/);
    await getStore().db.updateTable('bulk_distributions').set({ state: 'finished' }).where('id', '=', running.id).execute();

    const helpdesk = await download(running.id, tally.tokens.helpdesk);
    assert.equal(helpdesk.statusCode, 403);
    const shown = (await api('GET', `/bulk-distributions/${running.id}`)).json().bulkDistribution.credentials;
    assert.equal(shown.state, 'ready');
    assert.equal(shown.mayDownload, true);
    const toHelpdesk = (await api('GET', `/bulk-distributions/${running.id}`, undefined, tally.tokens.helpdesk)).json().bulkDistribution;
    assert.equal(toHelpdesk.credentials.mayDownload, false, 'the help desk is not shown activation codes, so it is not offered the file');

    const expired = await finishedRun(1);
    const saved = tally.clock.ms;
    tally.clock.ms += 400 * 86_400_000;
    try {
      assert.equal((await api('GET', `/bulk-distributions/${expired.id}`)).json().bulkDistribution.credentials.state, 'expired');
      const late = await download(expired.id);
      assert.equal(late.statusCode, 410);
      assert.equal(late.json().error.code, 'BULK_CREDENTIALS_EXPIRED');
    } finally {
      tally.clock.ms = saved;
    }
    assert.equal((await download(999_999)).json().error.code, 'BULK_DISTRIBUTION_NOT_FOUND');
  });

  test('tally bulk credentials writes the file once, with mode 0600, and never over an existing file', async () => {
    const { id, names } = await finishedRun(2);
    const dataDir = handle().dataDir;
    const args = [...storeArgs({ dataDir, databaseUrl: handle().options.databaseUrl, schema: handle().options.schema })];
    const env = { TALLY_MASTER_KEY: formatKeyring(tally.keyring) };
    const out = join(dataDir, `bulk-${id}.csv`);
    const written = await tallyAsync(['bulk', 'credentials', String(id), '--out', out, '--public-url', 'https://id.example.org', ...args], {
      env,
    });
    assert.equal(written.status, 0, written.stderr);
    assert.match(written.stdout, /2 rows, 2 with an activation code/);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const rows = rowsOf(readFileSync(out, 'utf8'));
    assert.deepEqual(
      rows.map((row) => [row.username, row.ctkipUrl]),
      names.map((name) => [name, 'https://id.example.org/ctkip/services/CtkipService']),
    );

    const second = join(dataDir, `bulk-${id}-again.csv`);
    const refused = await tallyAsync(['bulk', 'credentials', String(id), '--out', second, ...args], { env });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /downloaded already, by system/);
    assert.equal(existsSync(second), false, 'no empty file is left behind');

    writeFileSync(second, 'keep me');
    const occupied = await tallyAsync(['bulk', 'credentials', String(id), '--out', second, ...args], { env });
    assert.equal(occupied.status, 2);
    assert.match(occupied.stderr, /exists already/);
    assert.equal(readFileSync(second, 'utf8'), 'keep me');
  });
});
