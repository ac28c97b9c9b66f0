import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatKeyring } from '../../src/core/crypto/secret-box.js';
import { totp } from '../../src/core/otp/totp.js';
import type { PskcKey } from '../../src/core/pskc/model.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { storeArgs, tallyAsync } from '../support/cli.js';
import { interopTest, runPeer } from '../support/peers.js';
import { describeEachStore } from '../support/store.js';
import { createTestTally, type TestTally } from '../support/tally.js';

/** 20,000 TOTP keys and 2 Tally cannot take (5-digit codes), streamed by `tally inventory import --batch`. */
const KEYS = 20_000;
const FIRST_RUN = 5_000;

const seedOf = (i: number) => createHash('sha1').update(`stream seed ${i}`).digest();
const serialOf = (i: number) => `STR${String(i).padStart(8, '0')}`;
const keyOf = (i: number): PskcKey => ({
  kind: 'totp',
  id: `K${i}`,
  serial: serialOf(i),
  secret: seedOf(i),
  digits: 6,
  algorithm: 'SHA1',
  period: 30,
});

describeEachStore('inventory import, streamed', (getStore, handle) => {
  let tally: TestTally;
  let args: string[];
  let env: NodeJS.ProcessEnv;
  let whole: string;
  let firstRun: string;
  before(async () => {
    tally = await createTestTally(getStore());
    const { dataDir, options } = handle();
    args = storeArgs({ dataDir, databaseUrl: options.databaseUrl, schema: options.schema });
    env = { TALLY_MASTER_KEY: formatKeyring(tally.keyring) };
    const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
    const unusable = [keyOf(KEYS), keyOf(KEYS + 1)];
    whole = join(dataDir, 'tokens.pskc');
    firstRun = join(dataDir, 'first-run.pskc');
    // The writer refuses 5-digit codes, so the two keys are made unusable in the text.
    const text = writePskc([...keys.slice(0, 10_000), ...unusable, ...keys.slice(10_000)]);
    const packages = text.split('</pskc:KeyPackage>');
    const fiveDigits = (index: number) => (packages[index] = (packages[index] ?? '').replace('Length="6"', 'Length="5"'));
    fiveDigits(10_000);
    fiveDigits(10_001);
    writeFileSync(whole, packages.join('</pskc:KeyPackage>'));
    writeFileSync(firstRun, writePskc(keys.slice(0, FIRST_RUN)));
  });
  after(async () => tally.close());

  const countOf = async (where: (db: TestTally['store']['db']) => Promise<{ n: number | string | bigint }>) =>
    Number((await where(tally.store.db)).n);

  test('a run stopped after some batches, run again on the whole file, skips what is there and imports the rest, with progress and a line per refused key', async () => {
    // A run killed midway has committed whole batches: the keys of a file's first batches.
    const first = await tallyAsync(['inventory', 'import', firstRun, '--batch', '500', ...args], { env });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`pskc: ${FIRST_RUN} imported, 0 replaced, 0 skipped \\(in the store already\\), 0 refused\\.`));

    const again = await tallyAsync(['inventory', 'import', whole, '--batch', '500', ...args], { env });
    assert.equal(again.status, 1, 'a refused key makes the exit code 1');
    assert.match(
      again.stdout,
      new RegExp(`pskc: ${KEYS - FIRST_RUN} imported, 0 replaced, ${FIRST_RUN} skipped \\(in the store already\\), 2 refused\\.`),
    );
    const refusedLines = again.stdout.split('\n').filter((line) => line.includes(' refused (Key Id'));
    assert.deepEqual(
      refusedLines.map((line) => line.split(/\s+/)[0]),
      [serialOf(KEYS), serialOf(KEYS + 1)],
    );
    assert.match(refusedLines[0] ?? '', /digits/);
    const progress = again.stderr.trim().split('\n').at(-1) ?? '';
    assert.match(progress, new RegExp(`^${KEYS + 2} keys \\(${KEYS - FIRST_RUN} imported, ${FIRST_RUN} skipped, 2 refused\\) \\d+/s$`));

    const tokens = await countOf((db) =>
      db
        .selectFrom('tokens')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('serial', 'like', 'STR%')
        .where('origin', '=', 'imported')
        .where('state', '=', 'unassigned')
        .executeTakeFirstOrThrow(),
    );
    assert.equal(tokens, KEYS);
    const perToken = await countOf((db) =>
      db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('action', '=', 'token.import')
        .where('target_type', '=', 'token')
        .where('target', 'like', 'STR%')
        .executeTakeFirstOrThrow(),
    );
    assert.equal(perToken, KEYS, 'one audit event per token imported, once');
    const batches = await countOf((db) =>
      db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('action', '=', 'token.import')
        .where('target_type', '=', 'file')
        .executeTakeFirstOrThrow(),
    );
    assert.equal(batches, FIRST_RUN / 500 + Math.ceil((KEYS + 2 - 2) / 500), 'one event per batch of each run');

    const rerun = await tallyAsync(['inventory', 'import', whole, '--batch', '5000', ...args], { env });
    assert.match(rerun.stdout, new RegExp(`pskc: 0 imported, 0 replaced, ${KEYS} skipped \\(in the store already\\), 2 refused\\.`));
  });

  interopTest("a sample of the streamed seeds, sealed in the store, gives oathtool's codes", ['oathtool'], async () => {
    const at = 1_800_000_000;
    for (let i = 0; i < KEYS; i += 997) {
      const row = await tally.store.db.selectFrom('tokens').selectAll().where('serial', '=', serialOf(i)).executeTakeFirstOrThrow();
      const material = tally.services.tokens.material(row);
      assert.deepEqual(material.seed, seedOf(i), serialOf(i));
      const expected = runPeer('oathtool', ['--totp', '-N', `@${at}`, seedOf(i).toString('hex')]).trim();
      assert.deepEqual([material.settings.digits, material.settings.period, material.settings.algorithm], [6, 30, 'SHA1']);
      assert.equal(totp({ secret: material.seed, digits: 6, algorithm: 'SHA1', period: 30 }, at), expected);
    }
  });
});
