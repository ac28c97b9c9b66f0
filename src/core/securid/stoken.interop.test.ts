/**
 * Property tests against the live peer, stoken: random tokens, PINs, times, passwords and device IDs.
 * Everything Tally writes must be read by stoken with the same codes, and everything stoken writes
 * must be read by Tally with the same seed. Randomness is seeded, so a failure repeats.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { firstItem, item } from '../../../test/support/items.js';
import { interopTest, runPeer } from '../../../test/support/peers.js';
import { buildCtfLink, CTF_LINK_PREFIXES, type CtfLinkApp, decodeCtf } from './ctf.js';
import { encodeCtfV2 } from './ctf-v2.js';
import { readSdtid, writeSdtid } from './sdtid.js';
import type { SecurIdToken } from './token.js';
import { computePasscode } from './tokencode.js';

let workDir: string | undefined;
function scratch(): string {
  if (workDir === undefined) {
    workDir = mkdtempSync(join(tmpdir(), 'tally-stoken-'));
    mkdirSync(join(workDir, 'home'));
  }
  return workDir;
}
after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** stoken with an empty HOME (no ~/.stokenrc) and never a prompt. */
function stoken(args: string[]): string {
  const home = join(scratch(), 'home');
  return runPeer('stoken', [...args, '--batch'], { env: { PATH: process.env.PATH, HOME: home }, input: '' }).trim();
}

let fileCount = 0;
function scratchFile(contents: string): string {
  const path = join(scratch(), `f${fileCount++}`);
  writeFileSync(path, contents);
  return path;
}

/** `stoken show` output as a map of its "Label : value" lines. */
function show(args: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of stoken(['show', '--seed', ...args]).split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return fields;
}

function shownSeed(args: string[]): string {
  const seed = show(args)['Decrypted seed'];
  assert.ok(seed !== undefined, 'stoken shows a decrypted seed');
  return seed.replaceAll(' ', '');
}

/** A deterministic stream of random values, so a failing case can be replayed. */
class SeededRandom {
  private counter = 0;
  constructor(private readonly label: string) {}
  bytes(size: number): Buffer {
    const out: Buffer[] = [];
    for (let got = 0; got < size; got += 32)
      out.push(
        createHash('sha256')
          .update(`${this.label}:${this.counter++}`)
          .digest(),
      );
    return Buffer.concat(out).subarray(0, size);
  }
  int(min: number, max: number): number {
    return min + (this.bytes(4).readUInt32BE() % (max - min + 1));
  }
  bool(): boolean {
    return this.int(0, 1) === 1;
  }
  pick<T>(items: readonly T[]): T {
    return item(items, this.int(0, items.length - 1));
  }
  digits(count: number): string {
    return Array.from({ length: count }, () => String(this.int(0, 9))).join('');
  }
  text(min: number, max: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/&<>éü€';
    const length = this.int(min, max);
    return (
      Array.from({ length }, () => this.pick([...alphabet]))
        .join('')
        .trim() || 'x'
    );
  }
  date(fromYear: number, toYear: number): string {
    const start = Date.UTC(fromYear, 0, 1) / 86_400_000;
    const end = Date.UTC(toYear, 11, 31) / 86_400_000;
    return new Date(this.int(start, end) * 86_400_000).toISOString().slice(0, 10);
  }
  token(): SecurIdToken {
    return {
      serial: this.digits(12),
      seed: this.bytes(16),
      digits: this.int(1, 8),
      period: this.pick([30, 60] as const),
      addPin: this.bool(),
      localPin: this.bool(),
      expiresOn: this.date(2001, 2043),
      features: { timeDerivedSeeds: this.bool(), appDerivedSeeds: this.bool(), mode: this.bool() },
    };
  }
  /** Unix seconds between 2000 and 2040. */
  time(): number {
    return this.int(946_684_800, 2_208_988_800);
  }
  /** Printable ASCII: CTF v2 passwords are at most 40 bytes. */
  password(): string {
    const length = this.int(1, 40);
    return Array.from({ length }, () => String.fromCharCode(this.int(0x21, 0x7e))).join('');
  }
  pin(): string {
    return this.digits(this.int(4, 8));
  }
  deviceId(): string {
    return this.bytes(this.int(8, 20)).toString('hex');
  }
  secrets(): { password?: string; deviceId?: string } {
    return { password: this.bool() ? this.password() : undefined, deviceId: this.bool() ? this.deviceId() : undefined };
  }
}

function secretArgs(secrets: { password?: string; deviceId?: string }): string[] {
  return [...(secrets.password ? [`--password=${secrets.password}`] : []), ...(secrets.deviceId ? [`--devid=${secrets.deviceId}`] : [])];
}

function stokenCode(source: string[], secrets: { password?: string; deviceId?: string }, time: number, pin: string): string {
  return stoken(['tokencode', ...source, ...secretArgs(secrets), `--use-time=${time}`, `--pin=${pin}`, '--force']);
}

interopTest('stoken: our tokencodes and passcodes equal stoken for random tokens, PINs and times', ['stoken'], () => {
  const random = new SeededRandom('tokencodes');
  for (let i = 0; i < 250; i++) {
    const token = random.token();
    const time = random.time();
    const pin = random.pin();
    const expected = computePasscode(token, time, pin);
    const replay = JSON.stringify({ ...token, seed: token.seed.toString('hex'), time, pin });
    assert.equal(stokenCode([`--token=${encodeCtfV2(token)}`], {}, time, pin), expected, `case ${i}: ${replay}`);
  }
});

interopTest('stoken: reads every sdtid we write, with and without a password, with the same seed and codes', ['stoken'], () => {
  const random = new SeededRandom('sdtid-write');
  for (let i = 0; i < 30; i++) {
    const token = { ...random.token(), serial: random.digits(12), userLogin: random.bool() ? random.text(1, 20) : undefined };
    const password = i % 2 === 0 ? random.text(1, 30) : undefined;
    const options = {
      origin: random.text(1, 40),
      dest: random.text(1, 50),
      name: random.text(1, 40),
      password,
      birthOn: random.date(2000, 2030),
    };
    const file = scratchFile(writeSdtid(token, options));
    const secrets = { password };
    const fields = show([`--file=${file}`, ...secretArgs(secrets)]);
    assert.equal(fields['Decrypted seed']?.replaceAll(' ', ''), token.seed.toString('hex'), `case ${i}`);
    assert.equal(fields['Serial number'], token.serial);
    assert.equal(fields['Tokencode digits'], String(token.digits));
    assert.equal(fields['Seconds per tokencode'], String(token.period));
    assert.equal(fields['PIN mode'], String((token.addPin ? 2 : 0) + (token.localPin ? 1 : 0)));
    const time = random.time();
    const pin = random.pin();
    assert.equal(stokenCode([`--file=${file}`], secrets, time, pin), computePasscode(token, time, pin), `case ${i}`);
  }
});

interopTest('stoken: reads every CTF v2 string and link we write (password, device ID) with the same codes', ['stoken'], () => {
  const random = new SeededRandom('ctf-v2-write');
  const forms = ['bare', 'dashes', 'android', 'iphone', 'securid'] as const;
  for (let i = 0; i < 40; i++) {
    const token = random.token();
    const form = forms[i % forms.length];
    const secrets = random.secrets();
    const text =
      form === 'bare' || form === 'dashes'
        ? encodeCtfV2(token, { ...secrets, dashes: form === 'dashes' })
        : buildCtfLink(token, { app: form, version: 2, ...secrets });
    const time = random.time();
    const pin = random.pin();
    assert.equal(stokenCode([`--token=${text}`], secrets, time, pin), computePasscode(token, time, pin), `case ${i} (${form})`);
  }
});

interopTest('stoken: reads every CTF v3 link we write (password, device ID) with the same seed and codes', ['stoken'], () => {
  const random = new SeededRandom('ctf-v3-write');
  for (let i = 0; i < 30; i++) {
    const token = random.token();
    const app = (Object.keys(CTF_LINK_PREFIXES) as CtfLinkApp[])[i % 3];
    const secrets = random.secrets();
    const link = buildCtfLink(token, { app, version: 3, ...secrets });
    assert.equal(shownSeed([`--token=${link}`, ...secretArgs(secrets)]), token.seed.toString('hex'), `case ${i}`);
    const time = random.time();
    const pin = random.pin();
    // v3 keeps AddPIN but not LocalPIN, which never changes the code anyway.
    assert.equal(stokenCode([`--token=${link}`], secrets, time, pin), computePasscode(token, time, pin), `case ${i}`);
  }
});

function issueTemplate(random: SeededRandom): { template: string; userLogin: string } {
  const userLogin = random.text(1, 16);
  const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const template = `<?xml version="1.0"?>
<TKNBatch>
  <TKNHeader>
    <Origin>${escapeXml(random.text(1, 40))}</Origin>
    <Dest>${escapeXml(random.text(1, 50))}</Dest>
    <Name>${escapeXml(random.text(1, 40))}</Name>
    <DefDeath>${random.date(2001, 2043).replaceAll('-', '/')}</DefDeath>
    <DefDigits>${random.int(1, 8)}</DefDigits>
    <DefInterval>${random.pick([30, 60])}</DefInterval>
    <DefAddPIN>${random.int(0, 1)}</DefAddPIN>
    <DefLocalPIN>${random.int(0, 1)}</DefLocalPIN>
  </TKNHeader>
  <TKN>
    <SN>${random.digits(random.int(1, 12))}</SN>
    <UserLogin>${escapeXml(userLogin)}</UserLogin>
  </TKN>
</TKNBatch>
`;
  return { template, userLogin };
}

interopTest('stoken: every sdtid `stoken issue` writes (with/without a password) reads with the same seed and codes', ['stoken'], () => {
  const random = new SeededRandom('stoken-issue');
  for (let i = 0; i < 30; i++) {
    const { template, userLogin } = issueTemplate(random);
    const password = i % 2 === 0 ? random.text(1, 30) : undefined;
    const issued = stoken(['issue', `--template=${scratchFile(template)}`, ...(password ? [`--new-password=${password}`] : [])]);
    const file = scratchFile(issued);
    const token = firstItem(readSdtid(issued, { password }).tokens);
    const fields = show([`--file=${file}`, ...secretArgs({ password })]);
    assert.equal(token.seed.toString('hex'), fields['Decrypted seed']?.replaceAll(' ', ''), `case ${i}`);
    assert.equal(token.serial, fields['Serial number']);
    assert.equal(token.userLogin, userLogin.trim());
    // stoken shows the day after the last valid day, and cannot show days past 2038-01-19.
    const lastDay = Date.parse(`${token.expiresOn}T00:00:00Z`);
    if (lastDay < Date.parse('2038-01-18T00:00:00Z')) {
      assert.equal(lastDay + 86_400_000, Date.parse(`${fields['Expiration date']?.replaceAll('/', '-')}T00:00:00Z`), `case ${i}`);
    }
    const time = random.time();
    const pin = random.pin();
    assert.equal(computePasscode(token, time, pin), stokenCode([`--file=${file}`], { password }, time, pin), `case ${i}`);
  }
});

interopTest('stoken: every form `stoken export` writes (v2, links, v3, sdtid; passwords, device IDs) reads the same', ['stoken'], () => {
  const random = new SeededRandom('stoken-export');
  const forms = [[], ['--blocks'], ['--android'], ['--iphone'], ['--v3'], ['--sdtid']];
  for (let i = 0; i < 20; i++) {
    const sourcePassword = i % 3 === 0 ? random.text(1, 20) : undefined;
    const template = scratchFile(issueTemplate(random).template);
    const source = scratchFile(
      stoken(['issue', `--template=${template}`, ...(sourcePassword ? [`--new-password=${sourcePassword}`] : [])]),
    );
    const seed = shownSeed([`--file=${source}`, ...secretArgs({ password: sourcePassword })]);
    for (const form of forms) {
      const password = random.bool() ? random.password() : undefined;
      // sdtid files are not bound to devices.
      const deviceId = form[0] !== '--sdtid' && random.bool() ? random.deviceId() : undefined;
      const exported = stoken([
        'export',
        `--file=${source}`,
        ...form,
        ...secretArgs({ password: sourcePassword }),
        // No password: sometimes the option left out, sometimes given empty (stoken keys sdtid files differently).
        ...(password !== undefined || random.bool() ? [`--new-password=${password ?? ''}`] : []),
        ...(deviceId ? [`--new-devid=${deviceId}`] : []),
      ]);
      const token =
        form[0] === '--sdtid' ? firstItem(readSdtid(exported, { password }).tokens) : decodeCtf(exported, { password, deviceId });
      assert.equal(token.seed.toString('hex'), seed, `case ${i} ${form.join(' ')}`);
    }
  }
});
