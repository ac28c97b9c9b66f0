import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileEnvName, parseTrustedProxies, resolveConfig, type Setting, type SettingName, settings } from './config.js';
import { isTallyError } from './errors.js';

test('--trust-proxy takes addresses and CIDRs of trusted proxies, comma-separated', () => {
  assert.deepEqual(parseTrustedProxies('10.0.0.5'), ['10.0.0.5']);
  assert.deepEqual(parseTrustedProxies(' 10.0.0.5, 10.1.0.0/16 ,::1,fd00::/8,loopback '), [
    '10.0.0.5',
    '10.1.0.0/16',
    '::1',
    'fd00::/8',
    'loopback',
  ]);
  assert.deepEqual(resolveConfig(['trustProxy'], {}, { TALLY_TRUST_PROXY: '192.168.1.1,192.168.1.2' }).trustProxy, [
    '192.168.1.1',
    '192.168.1.2',
  ]);
  assert.equal(resolveConfig(['trustProxy'], {}, {}).trustProxy, undefined, 'no proxy is trusted by default');
});

test('--trust-proxy refuses true, hop counts and what is no address, with a message naming the flag', () => {
  for (const raw of [
    'true',
    'TRUE',
    'yes',
    '1',
    '2',
    'false',
    ',',
    '10.0.0.300',
    '10.0.0.0/33',
    '::1/129',
    '10.0.0.0/8/8',
    'proxy.example.org',
    '10.0.0.1,*',
  ]) {
    assert.throws(
      () => resolveConfig(['trustProxy'], { trustProxy: raw }, {}),
      (error: unknown) => isTallyError(error) && error.code === 'CONFIG_INVALID' && error.message.startsWith('--trust-proxy '),
      raw,
    );
  }
  assert.throws(() => parseTrustedProxies('true'), /not true\/false or a hop count/);
  assert.throws(() => parseTrustedProxies('10.0.0.0/33'), /"10\.0\.0\.0\/33", which is not an IP address, a CIDR/);
});

test('--ctkip-rate-limit is requests a minute per source, 120 by default', () => {
  assert.equal(resolveConfig(['ctkipRateLimit'], {}, {}).ctkipRateLimit, 120);
  assert.equal(resolveConfig(['ctkipRateLimit'], { ctkipRateLimit: '30' }, {}).ctkipRateLimit, 30);
  assert.throws(() => resolveConfig(['ctkipRateLimit'], { ctkipRateLimit: '0' }, {}), /--ctkip-rate-limit must be a whole number/);
});

describe('secret settings from files (TALLY_X_FILE)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tally-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const secretNames = (Object.keys(settings) as SettingName[]).filter((name) => (settings[name] as Setting<unknown>).secret);
  const fileWith = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const configError = (pattern: RegExp, secret?: string) => (error: unknown) =>
    isTallyError(error) &&
    error.code === 'CONFIG_INVALID' &&
    pattern.test(error.message) &&
    (secret === undefined || !error.message.includes(secret));

  test('the master key, the database URL and the SMTP password are secret settings', () => {
    for (const name of ['masterKey', 'databaseUrl', 'smtpPassword'] as const) assert.ok(secretNames.includes(name), name);
  });

  test('every secret setting reads its value from the file TALLY_X_FILE names, without the trailing line break', () => {
    const value = 'postgres://tally:pa55word@db.example.org:5432/tally';
    for (const name of secretNames) {
      const path = fileWith(`${name}.txt`, `${value}\r\n\n`);
      assert.equal(resolveConfig([name], {}, { [fileEnvName(name)]: path })[name], value, fileEnvName(name));
    }
    const ring = 'v1:AAAA\nv2:BBBB';
    assert.equal(
      resolveConfig(['masterKey'], {}, { TALLY_MASTER_KEY_FILE: fileWith('ring', `${ring}\n`) }).masterKey,
      ring,
      'inner lines kept',
    );
  });

  test('the variable and its _FILE both set is an error naming both', () => {
    const path = fileWith('both', 'from-file');
    assert.throws(
      () => resolveConfig(['smtpPassword'], {}, { TALLY_SMTP_PASSWORD: 'from-env', TALLY_SMTP_PASSWORD_FILE: path }),
      configError(/^TALLY_SMTP_PASSWORD and TALLY_SMTP_PASSWORD_FILE are both set/, 'from-'),
    );
  });

  test('an unreadable or empty file is an error naming the variable and the path, never the content', () => {
    const missing = join(dir, 'missing');
    assert.throws(
      () => resolveConfig(['masterKey'], {}, { TALLY_MASTER_KEY_FILE: missing }),
      configError(new RegExp(`^TALLY_MASTER_KEY_FILE names ${missing}, which cannot be read \\(ENOENT\\)`)),
    );
    assert.throws(
      () => resolveConfig(['masterKey'], {}, { TALLY_MASTER_KEY_FILE: dir }),
      configError(/^TALLY_MASTER_KEY_FILE names .*EISDIR/),
    );
    assert.throws(
      () => resolveConfig(['masterKey'], {}, { TALLY_MASTER_KEY_FILE: fileWith('empty', '\n') }),
      configError(/^TALLY_MASTER_KEY_FILE names .*, which is empty/),
    );
    const badUrl = 'mysql://tally:pa55word@db/tally';
    assert.throws(
      () => resolveConfig(['databaseUrl'], {}, { TALLY_DATABASE_URL_FILE: fileWith('url', badUrl) }),
      configError(/^TALLY_DATABASE_URL_FILE must be a URL starting with postgres:/, 'pa55word'),
    );
  });

  test('a flag wins without reading the file; settings that are not secret take no _FILE', () => {
    assert.equal(
      resolveConfig(['smtpPassword'], { smtpPassword: 'from-flag' }, { TALLY_SMTP_PASSWORD_FILE: join(dir, 'missing') }).smtpPassword,
      'from-flag',
    );
    assert.equal(resolveConfig(['dataDir'], {}, { TALLY_DATA_DIR_FILE: fileWith('dir', '/srv/tally') }).dataDir, './data');
  });
});
