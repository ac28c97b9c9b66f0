import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { envName, fileEnvName, type Setting, settings } from '../../src/config.js';
import { freePort, repoRoot, startServe } from '../support/cli.js';
import { interopTest } from '../support/peers.js';

const unitFile = join(repoRoot, 'packaging', 'systemd', 'tally.service');

/** Runs systemd-analyze on a copy of the unit changed by `edit`, in a directory of its own. */
function analyze(args: string[], edit: (unit: string) => string = (unit) => unit) {
  const dir = mkdtempSync(join(tmpdir(), 'tally-unit-'));
  try {
    const file = join(dir, 'tally.service');
    writeFileSync(file, edit(readFileSync(unitFile, 'utf8')));
    const result = spawnSync('systemd-analyze', [...args, file], { encoding: 'utf8' });
    // verify also loads the machine's other units; only what it says about this one counts.
    const aboutUnit = `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => line.includes('tally.service'));
    return { status: result.status, aboutUnit };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interopTest('the systemd unit passes systemd-analyze verify with nothing said about it', ['systemd-analyze'], () => {
  assert.deepEqual(analyze(['verify']), { status: 0, aboutUnit: [] });
  // The check sees what is wrong: a misspelt directive is reported, a missing program fails.
  assert.match(
    analyze(['verify'], (unit) => unit.replace('ProtectSystem=strict', 'ProtectSytem=strict')).aboutUnit.join('\n'),
    /Unknown key 'ProtectSytem'/,
  );
  assert.notEqual(analyze(['verify'], (unit) => unit.replace('ExecStart=/usr/bin/node', 'ExecStart=/nonexistent/node')).status, 0);
});

interopTest("the systemd unit's exposure (systemd-analyze security) is at most 2.0 of 10", ['systemd-analyze'], () => {
  const hardened = analyze(['security', '--offline=true', '--threshold=20']);
  assert.equal(hardened.status, 0, hardened.aboutUnit.join('\n'));
  const unhardened = (unit: string) => unit.replace(/^# Read-only system[\s\S]*?^SystemCallFilter=~.*$/m, '');
  assert.notEqual(
    analyze(['security', '--offline=true', '--threshold=20'], unhardened).status,
    0,
    'the threshold catches a unit without the hardening',
  );
  const unit = readFileSync(unitFile, 'utf8');
  for (const directive of [
    'DynamicUser=yes',
    'StateDirectory=tally',
    'ProtectSystem=strict',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=\n',
  ])
    assert.ok(unit.includes(directive), directive);
});

test('the packaging examples name only settings Tally knows', () => {
  const known = new Set(
    Object.entries(settings).flatMap(([name, setting]) =>
      (setting as Setting<unknown>).secret ? [envName(name), fileEnvName(name)] : [envName(name)],
    ),
  );
  for (const file of [
    join('systemd', 'tally.service'),
    join('systemd', 'tally.env'),
    join('container', 'compose.yaml'),
    join('container', 'Containerfile'),
  ]) {
    const named = readFileSync(join(repoRoot, 'packaging', file), 'utf8').match(/\bTALLY_[A-Z0-9_]+/g) ?? [];
    assert.ok(named.length > 0, file);
    assert.deepEqual(
      named.filter((name) => !known.has(name)),
      [],
      file,
    );
  }
});

test("the container's HEALTHCHECK command exits 0 while a real Tally is ready and 1 once it is gone", async () => {
  const containerfile = readFileSync(join(repoRoot, 'packaging', 'container', 'Containerfile'), 'utf8');
  assert.match(containerfile, /^HEALTHCHECK .* CMD \["node", "\/opt\/tally\/readyz\.mjs"\]$/m);
  assert.match(containerfile, /^COPY packaging\/container\/readyz\.mjs \.\/readyz\.mjs$/m);
  const dir = mkdtempSync(join(tmpdir(), 'tally-health-'));
  const adminPort = String(await freePort());
  const check = () =>
    spawnSync(process.execPath, [join(repoRoot, 'packaging', 'container', 'readyz.mjs')], {
      env: { ...process.env, TALLY_ADMIN_PORT: adminPort },
      timeout: 10_000,
    }).status;
  const serve = await startServe([
    ...['--data-dir', dir, '--init-if-needed', '--host', '127.0.0.1', '--port', String(await freePort())],
    ...['--admin-port', adminPort, '--radius-port', '0'],
  ]);
  try {
    assert.equal(check(), 0);
  } finally {
    assert.equal(await serve.stop(), 0);
  }
  assert.equal(check(), 1);
  rmSync(dir, { recursive: true, force: true });
});

test('what the Containerfile copies from the build context exists and is not ignored', () => {
  const containerfile = readFileSync(join(repoRoot, 'packaging', 'container', 'Containerfile'), 'utf8');
  const ignore = readFileSync(join(repoRoot, 'packaging', 'container', 'Containerfile.dockerignore'), 'utf8');
  const sources = [...containerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) => (match[1] ?? '').split(' '));
  assert.ok(sources.length >= 5, String(sources));
  for (const source of sources) {
    assert.ok(existsSync(join(repoRoot, source)), source);
    assert.ok(ignore.split('\n').includes(`!${source}`), `${source} let in by Containerfile.dockerignore`);
  }
});
