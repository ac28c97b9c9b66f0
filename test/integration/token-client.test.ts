/**
 * `tally token` as a user runs it (real processes), checked against the real peers: stoken for
 * SecurID tokens (files, CTF strings and links both ways), oathtool for TOTP and HOTP.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readTokenStore } from '../../src/client/store-file.js';
import { showCode } from '../../src/client/tokens.js';
import { encodeBase32 } from '../../src/core/otp/base32.js';
import { type CliResult, tallyAsync } from '../support/cli.js';
import { firstItem, item } from '../support/items.js';
import { interopTest, runPeer } from '../support/peers.js';
import { readVector, readVectorJson, vectorPath } from '../support/vectors.js';

const scratch = mkdtempSync(join(tmpdir(), 'tally-token-client-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let fileCount = 0;

function scratchPath(name: string): string {
  return join(scratch, `${fileCount++}-${name}`);
}

function scratchFile(name: string, content: string): string {
  const path = scratchPath(name);
  writeFileSync(path, content);
  return path;
}

/** The environment without a passphrase, whatever the developer's shell has. */
const env = { TALLY_TOKEN_STORE_PASSPHRASE: undefined };

function token(args: string[], input?: string): Promise<CliResult> {
  return tallyAsync(['token', ...args], { env, ...(input === undefined ? {} : { input }) });
}

function ok(result: CliResult, what: string): string {
  assert.equal(result.status, 0, `${what}: ${result.stderr}`);
  return result.stdout;
}

function failed(result: CliResult, pattern: RegExp, status = 1): void {
  assert.equal(result.status, status, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stderr, pattern);
}

async function codeAt(store: string, serial: string, at: number, pin?: string): Promise<string> {
  const args = ['code', '--store', store, '--serial', serial, '--at', String(at), ...(pin ? ['--pin', pin] : [])];
  return ok(await token(args), `code ${serial} at ${at}`).trim();
}

/** stoken with an empty HOME (no ~/.stokenrc) and never a prompt. */
function stoken(args: string[]): string {
  const home = join(scratch, 'stoken-home');
  mkdirSync(home, { recursive: true });
  return runPeer('stoken', [...args, '--batch'], { env: { PATH: process.env.PATH, HOME: home } }).trim();
}

function stokenCode(source: string[], at: number, password?: string): string {
  // --force: some of the times are after the token's expiry, which stoken otherwise refuses.
  return stoken(['tokencode', ...source, `--use-time=${at}`, '--pin=0000', '--force', ...(password ? [`--password=${password}`] : [])]);
}

const FIXED_TIMES = [1700000000, 1700000029, 1700000040, 1735689599, 1735689600, 2000000000];

/** Times spread over the years tokens live, with seconds that land on every code slot. */
function randomTimes(count: number): number[] {
  return Array.from({ length: count }, () => 1_600_000_000 + (randomBytes(4).readUInt32BE() % 400_000_000));
}

interface SdtidVector {
  serial: string;
  password: string | null;
  tokencodes: { unix: number; tokencode: string }[];
  passcodes_pin_1234?: { unix: number; passcode: string }[];
}

const VECTORS = ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password', 't4-8d-60s-canon'];

test('--help of every token command has its usage, options and examples; the overview lists them', async () => {
  const names = ['activate', 'import', 'code', 'export', 'list', 'remove'];
  const [overview, unknown, ...helps] = await Promise.all([
    tallyAsync(['--help']),
    tallyAsync(['token', 'frob']),
    ...names.map((name) => tallyAsync(['token', name, '--help'])),
  ]);
  for (const [i, name] of names.entries()) {
    const help = item(helps, i);
    assert.match(overview.stdout, new RegExp(`\\n  token ${name} `));
    assert.equal(help.status, 0, name);
    assert.match(help.stdout, new RegExp(`^Usage: tally token ${name}`));
    assert.match(help.stdout, /--store VALUE/);
    assert.match(help.stdout, /Example/);
  }
  assert.match(item(helps, names.indexOf('export')).stdout, /--format VALUE .*\(sdtid\|ctf\|ctf-v3\|otpauth\|pskc\)/);
  failed(unknown, /unknown command "token frob"\. Commands: token activate, token import/, 2);
});

test("the stoken-made vector files import with their passwords and give the sidecars' codes", async () => {
  const store = scratchPath('vectors.store');
  for (const name of VECTORS) {
    const vector = readVectorJson<SdtidVector>(`securid/${name}.json`);
    const args = [
      'import',
      vectorPath(`securid/${name}.sdtid`),
      '--store',
      store,
      ...(vector.password ? ['--password', vector.password] : []),
    ];
    assert.equal(ok(await token(args), name), `${vector.serial}\n`);
  }
  await Promise.all(
    VECTORS.map(async (name) => {
      const vector = readVectorJson<SdtidVector>(`securid/${name}.json`);
      const { unix, tokencode } = item(vector.tokencodes, 5);
      assert.equal(await codeAt(store, vector.serial, unix), tokencode, `${name} at ${unix}`);
      const [withPin] = vector.passcodes_pin_1234 ?? [];
      if (withPin) assert.equal(await codeAt(store, vector.serial, withPin.unix, '1234'), withPin.passcode);
    }),
  );
  // Every sidecar code, through the store the CLI wrote.
  const tokens = readTokenStore(store, {});
  for (const name of VECTORS) {
    const vector = readVectorJson<SdtidVector>(`securid/${name}.json`);
    const stored = tokens.find((t) => t.serial === vector.serial)!;
    for (const { unix, tokencode } of vector.tokencodes) assert.equal(showCode(stored, unix).code, tokencode, `${name} at ${unix}`);
  }
  const list = ok(await token(['list', '--store', store]), 'list');
  assert.match(list, /^SERIAL\s+TYPE\s+DIGITS\s+INTERVAL\s+EXPIRES\n/);
  assert.match(list, /\n498012736455\s+securid\s+6\s+60 s\s+2035-12-31\n/);
  const json = JSON.parse(ok(await token(['list', '--store', store, '--json']), 'list --json'));
  assert.deepEqual(
    json.map((t: { serial: string }) => t.serial),
    VECTORS.map((name) => readVectorJson<SdtidVector>(`securid/${name}.json`).serial),
  );
  const seeds = VECTORS.map((name) => readVectorJson<{ seed_hex: string }>(`securid/${name}.json`).seed_hex);
  for (const seed of seeds)
    assert.ok(!list.includes(seed) && !JSON.stringify(json).includes(seed) && !readFileSync(store, 'utf8').includes(seed));
});

interopTest("a stoken-issued sdtid, with and without a file password, gives stoken's codes at many times", ['stoken'], async () => {
  for (const password of [undefined, 'Issue-pass-7']) {
    const file = scratchFile('issued.sdtid', stoken(['issue', ...(password ? [`--new-password=${password}`] : [])]));
    const serial = stoken(['show', `--file=${file}`, ...(password ? [`--password=${password}`] : [])]).match(
      /Serial number\s*:\s*(\d+)/,
    )![1]!;
    const store = scratchPath('issued.store');
    if (password) failed(await token(['import', file, '--store', store]), /protected by a password.*--password/);
    assert.equal(
      ok(await token(['import', file, '--store', store, ...(password ? ['--password', password] : [])]), 'import'),
      `${serial}\n`,
    );
    const cliTimes = [item(FIXED_TIMES, 1), ...randomTimes(1)];
    const codes = await Promise.all(cliTimes.map((at) => codeAt(store, serial, at)));
    assert.deepEqual(
      codes,
      cliTimes.map((at) => stokenCode([`--file=${file}`], at, password)),
    );
    const stored = firstItem(readTokenStore(store, {}));
    for (const at of randomTimes(40)) assert.equal(showCode(stored, at).code, stokenCode([`--file=${file}`], at, password), `at ${at}`);
  }
});

interopTest('exports as sdtid, ctf and ctf-v3 are read by stoken with the same codes; --password protects them', ['stoken'], async () => {
  const file = scratchFile('source.sdtid', stoken(['issue']));
  const store = scratchPath('export.store');
  const serial = ok(await token(['import', file, '--store', store]), 'import').trim();
  const stored = firstItem(readTokenStore(store, {}));
  const times = [...FIXED_TIMES, ...randomTimes(6)];
  const expected = times.map((at) => showCode(stored, at).code);
  const exported = async (format: string, password?: string) =>
    ok(
      await token(['export', '--store', store, '--serial', serial, '--format', format, ...(password ? ['--password', password] : [])]),
      format,
    );

  for (const password of [undefined, 'Export-pass-9']) {
    const sdtid = scratchFile('exported.sdtid', await exported('sdtid', password));
    const ctf = (await exported('ctf', password)).trim();
    const v3 = (await exported('ctf-v3', password)).trim();
    assert.match(ctf, /^\d{81}$/);
    assert.ok(v3.startsWith('http://127.0.0.1/securid/ctf?ctfData='));
    for (const source of [[`--file=${sdtid}`], [`--token=${ctf}`], [`--token=${v3}`]]) {
      assert.deepEqual(
        times.map((at) => stokenCode(source, at, password)),
        expected,
        source[0],
      );
      if (password)
        assert.throws(
          () => stokenCode(source, firstItem(times)),
          /command-line input is requested/,
          `${firstItem(source)} asks for its password`,
        );
    }
    if (password) assert.match(stoken(['show', `--file=${sdtid}`, `--password=${password}`]), /Encrypted w\/password\s*:\s*yes/);
  }
});

interface OtpauthCase {
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  digits: number;
  period: number;
  secretBytes: number;
}

interopTest("imported otpauth URIs give oathtool's TOTP codes; HOTP moves its counter on with each code", ['oathtool'], async () => {
  const store = scratchPath('oath.store');
  const cases: OtpauthCase[] = [
    { algorithm: 'SHA1', digits: 6, period: 30, secretBytes: 20 },
    { algorithm: 'SHA256', digits: 8, period: 60, secretBytes: 32 },
    { algorithm: 'SHA512', digits: 7, period: 30, secretBytes: 64 },
  ];
  for (const [i, c] of cases.entries()) {
    const secret = encodeBase32(randomBytes(c.secretBytes));
    const uri = `otpauth://totp/Example:user${i}?secret=${secret}&issuer=Example&algorithm=${c.algorithm}&digits=${c.digits}&period=${c.period}`;
    // Through standard input: a URI on the command line would show in the process list.
    assert.equal(ok(await token(['import', '-', '--store', store], uri), 'import'), `Example:user${i}\n`);
    const oathtool = (at: number) =>
      runPeer('oathtool', [`--totp=${c.algorithm}`, '-b', '-d', String(c.digits), '-s', `${c.period}s`, '-N', `@${at}`, secret]).trim();
    const at = firstItem(randomTimes(1));
    assert.equal(await codeAt(store, `Example:user${i}`, at), oathtool(at), JSON.stringify(c));
    const stored = readTokenStore(store, {}).find((t) => t.serial === `Example:user${i}`)!;
    for (const at of [...FIXED_TIMES, ...randomTimes(10)])
      assert.equal(showCode(stored, at).code, oathtool(at), `${JSON.stringify(c)} at ${at}`);
  }

  const secret = encodeBase32(randomBytes(20));
  const hotpFile = scratchFile('hotp.uri', `otpauth://hotp/carol?secret=${secret}&digits=6&counter=5\n`);
  assert.equal(ok(await token(['import', hotpFile, '--store', store]), 'import hotp'), 'carol\n');
  const expected = runPeer('oathtool', ['--hotp', '-b', '-c', '5', '-w', '2', secret]).trim().split('\n');
  const shown: string[] = [];
  for (let i = 0; i < 3; i++) shown.push(await codeAt(store, 'carol', 0));
  assert.deepEqual(shown, expected);
  const listed = JSON.parse(ok(await token(['list', '--store', store, '--json']), 'list')).find(
    (t: { serial: string }) => t.serial === 'carol',
  );
  assert.equal(listed.counter, 8);
  assert.match(
    ok(await token(['export', '--store', store, '--serial', 'carol', '--format', 'otpauth']), 'export'),
    /^otpauth:\/\/hotp\/carol\?secret=.*&counter=8\n$/,
  );
  assert.equal(await codeAt(store, 'carol', 0, '4321'), `4321${runPeer('oathtool', ['--hotp', '-b', '-c', '8', secret]).trim()}`);
});

interopTest('a PSKC file imports with its password, and a pskc export is read by python-pskc', ['pskc2csv'], async () => {
  const vector = readVectorJson<{ password: string; serial: string; codes: { unix: number; code: string }[] }>('pskc/totp-pbkdf2.json');
  const store = scratchPath('pskc.store');
  failed(await token(['import', vectorPath('pskc/totp-pbkdf2.pskcxml'), '--store', store, '--password', 'wrong']), /password is wrong/);
  assert.equal(
    ok(await token(['import', vectorPath('pskc/totp-pbkdf2.pskcxml'), '--store', store, '--password', vector.password]), 'import'),
    `${vector.serial}\n`,
  );
  assert.equal(await codeAt(store, vector.serial, firstItem(vector.codes).unix), firstItem(vector.codes).code);
  const exported = scratchFile(
    'export.pskcxml',
    ok(await token(['export', '--store', store, '--format', 'pskc', '--password', 'new pw']), 'export'),
  );
  const csv = runPeer('pskc2csv', ['-p', 'new pw', '-c', 'serial,secret,response_length,time_interval', exported]);
  assert.match(csv, new RegExp(`^${vector.serial},c0ffee00112233445566778899aabbccddeeff01,6,30$`, 'm'));
});

test('bad input says what is wrong, exits 1 (2 for bad usage), and leaves the store as it was', async () => {
  const store = scratchPath('bad.store');
  const t1 = readVectorJson<{ serial: string; ctf_v2: string }>('securid/t1-6d-30s.json');
  const truncated = scratchFile('truncated.sdtid', readVector('securid/t1-6d-30s.sdtid').slice(0, 900));
  const before = await Promise.all([
    token(['code', '--store', store]),
    token(['list', '--store', store]),
    token(['import', 'not-a-token', '--store', store]),
    token(['import', '-', '--store', store], 'hello world'),
    token(['import', truncated, '--store', store]),
    token(['import', vectorPath('securid/t3-6d-60s-password.sdtid'), '--store', store, '--password', 'nope']),
    token(['import', `${t1.ctf_v2.slice(0, 30)}O${t1.ctf_v2.slice(31)}`, '--store', store]),
    token(['import', 'com.rsa.securid://ctkip?scheme=https&url=h:443/x&activationCode=1', '--store', store]),
  ]);
  failed(before[0], new RegExp(`There is no token store at ${store}; create it with \`tally token import\``));
  failed(before[1], /There is no token store/);
  failed(before[2], /there is no file not-a-token, and it is not a token string/, 2);
  failed(before[3], /not a token format Tally reads; expected an sdtid or PSKC file/);
  failed(before[4], /XML|sdtid/);
  failed(before[5], /password is wrong/);
  failed(before[6], /CTF v2 string holds only digits/);
  failed(before[7], /use `tally token activate/);
  assert.ok(!existsSync(store), 'failed imports create no store');

  ok(await token(['import', t1.ctf_v2, '--store', store]), 'import ctf');
  ok(await token(['import', 'otpauth://totp/dave?secret=JBSWY3DPEHPK3PXP', '--store', store]), 'import otpauth');
  failed(
    await token(['import', t1.ctf_v2, '--store', store]),
    new RegExp(`Already in the store: ${t1.serial}\\. Nothing was imported; give --replace`),
  );
  assert.equal(ok(await token(['import', t1.ctf_v2, '--store', store, '--replace']), 'replace'), `${t1.serial}\n`);
  const stored = readFileSync(store, 'utf8');
  const after = await Promise.all([
    token(['code', '--store', store]),
    token(['code', '--store', store, '--serial', '999']),
    token(['code', '--store', store, '--serial', 'dave', '--at', 'noon']),
    token(['code', '--store', store, '--serial', 'dave', '--pin', '12']),
    token(['code', '--store', store, '--serial', t1.serial, '--at', String(Date.UTC(2036, 0, 1) / 1000)]),
    token(['export', '--store', store, '--serial', 'dave', '--format', 'sdtid']),
    token(['export', '--store', store, '--serial', 'dave', '--format', 'qr']),
    token(['export', '--store', store, '--serial', t1.serial, '--format', 'otpauth']),
  ]);
  failed(after[0], new RegExp(`holds 2 tokens \\(${t1.serial}, dave\\); choose one with --serial`), 2);
  failed(after[1], new RegExp(`There is no token 999 in ${store}; it holds ${t1.serial}, dave\\.`));
  failed(after[2], /--at must be a whole number of unix seconds \(got "noon"\)/, 2);
  failed(after[3], /The PIN must be 4 to 8 digits/);
  assert.match(ok(after[4], 'code after expiry'), /^\d{6}\n$/);
  assert.match(after[4].stderr, new RegExp(`warning: token ${t1.serial} expired on 2035-12-31`));
  failed(after[5], /TOTP tokens cannot be exported as sdtid; use otpauth, pskc/);
  failed(after[6], /--format must be one of sdtid, ctf, ctf-v3, otpauth, pskc \(got "qr"\)/, 2);
  failed(after[7], /SecurID tokens cannot be exported as otpauth; use sdtid, ctf, ctf-v3, pskc/);
  assert.equal(readFileSync(store, 'utf8'), stored);

  const key = readFileSync(`${store}.key`);
  writeFileSync(`${store}.key`, randomBytes(32).toString('base64'));
  failed(await token(['list', '--store', store]), /does not open with its key file/);
  rmSync(`${store}.key`);
  failed(await token(['remove', '--store', store, '--serial', 'dave']), /bad\.store\.key, which is missing; restore it/);
  writeFileSync(`${store}.key`, key);
  assert.equal(readFileSync(store, 'utf8'), stored);

  assert.equal(ok(await token(['remove', '--store', store, '--serial', 'dave']), 'remove'), 'dave\n');
  failed(await token(['remove', '--store', store, '--serial', 'dave']), /There is no token dave/);
  assert.deepEqual(
    readTokenStore(store, {}).map((t) => t.serial),
    [t1.serial],
  );
  assert.deepEqual(
    readdirSync(scratch).filter((name) => name.endsWith('.tmp') || name.endsWith('.lock')),
    [],
  );
});

test('a passphrase store: no key file, and every command needs the passphrase', async () => {
  const store = scratchPath('passphrase.store');
  const withPassphrase = { TALLY_TOKEN_STORE_PASSPHRASE: 'correct horse battery' };
  const t4 = readVectorJson<SdtidVector>('securid/t4-8d-60s-canon.json');
  const imported = await tallyAsync(['token', 'import', vectorPath('securid/t4-8d-60s-canon.sdtid'), '--store', store], {
    env: withPassphrase,
  });
  assert.equal(ok(imported, 'import'), `${t4.serial}\n`);
  assert.ok(!existsSync(`${store}.key`));
  const { unix, tokencode } = firstItem(t4.tokencodes);
  const shown = await tallyAsync(['token', 'code', '--store', store, '--at', String(unix)], { env: withPassphrase });
  assert.equal(ok(shown, 'code'), `${tokencode}\n`);
  const before = readFileSync(store, 'utf8');
  failed(await token(['code', '--store', store]), /sealed with a passphrase; set TALLY_TOKEN_STORE_PASSPHRASE/);
  failed(
    await tallyAsync(['token', 'list', '--store', store], { env: { TALLY_TOKEN_STORE_PASSPHRASE: 'wrong' } }),
    /passphrase does not open/,
  );
  const t1 = readVectorJson<{ ctf_v2: string }>('securid/t1-6d-30s.json');
  failed(
    await tallyAsync(['token', 'import', t1.ctf_v2, '--store', store], { env: { TALLY_TOKEN_STORE_PASSPHRASE: 'wrong' } }),
    /passphrase does not open/,
  );
  assert.equal(readFileSync(store, 'utf8'), before);
});
