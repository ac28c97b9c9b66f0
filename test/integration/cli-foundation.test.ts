import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import { freePort, repoRoot, startServe, storeArgs, tally } from '../support/cli.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

test("--version prints the package version; a command group's --help lists its commands and exits 0", () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const printed = tally([flag]);
    assert.equal(printed.status, 0, flag);
    assert.equal(printed.stdout, `tally ${version}\n`, flag);
  }
  for (const group of ['token', 'apitoken']) {
    const help = tally([group, '--help']);
    assert.equal(help.status, 0, `${group} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: tally ${group} COMMAND`), group);
  }
  const tokenHelp = tally(['token', '--help']).stdout;
  for (const command of ['activate', 'import', 'code', 'export', 'list', 'remove'])
    assert.match(tokenHelp, new RegExp(`\\n  token ${command} `), command);
  assert.equal(tally(['token']).status, 2, 'a group alone is still bad usage');
});

test('--help on every command; unknown commands and flags name what is wrong and exit 2', () => {
  const overview = tally(['--help']);
  assert.equal(overview.status, 0);
  for (const command of ['init', 'migrate', 'serve', 'apitoken create', 'rotate-master-key']) {
    assert.match(overview.stdout, new RegExp(`\\n  ${command} `));
    const help = tally([...command.split(' '), '--help']);
    assert.equal(help.status, 0, command);
    assert.match(help.stdout, new RegExp(`^Usage: tally ${command}`), command);
  }
  assert.match(tally(['serve', '--help']).stdout, /--database-url VALUE/);
  const unknown = tally(['frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const unknownSub = tally(['apitoken', 'delete']);
  assert.equal(unknownSub.status, 2);
  assert.match(unknownSub.stderr, /apitoken create/);
  const badFlag = tally(['serve', '--prot', '80']);
  assert.equal(badFlag.status, 2);
  assert.match(badFlag.stderr, /unknown flag --prot/);
  const badPort = tally(['serve', '--port', 'eighty']);
  assert.equal(badPort.status, 2);
  assert.match(badPort.stderr, /--port must be a whole number from 0 to 65535 \(got "eighty"\)/);
  const badEnv = tally(['serve'], { env: { TALLY_ADMIN_PORT: '70000' } });
  assert.equal(badEnv.status, 2);
  assert.match(badEnv.stderr, /TALLY_ADMIN_PORT must be a whole number/);
  const badUrl = tally(['migrate', '--database-url', 'mysql://x']);
  assert.equal(badUrl.status, 2);
  assert.match(badUrl.stderr, /--database-url must be a URL starting with postgres: or postgresql:/);
  const missing = tally(['apitoken', 'create', '--role', 'agent']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--name is required/);
  const badRole = tally(['apitoken', 'create', '--name', 'x', '--role', 'root']);
  assert.match(badRole.stderr, /--role must be one of superadmin, helpdesk, agent \(got "root"\)/);
});

test('an unreachable database is a clear message and exit 1', () => {
  const result = tally(['migrate', '--database-url', 'postgres://nobody@127.0.0.1:1/none']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /Cannot reach PostgreSQL at 127\.0\.0\.1:1\/none \(ECONNREFUSED\)/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});

for (const dialect of testDialects()) {
  describe(`CLI on ${dialect}`, () => {
    const place = freshStoreOptions(dialect);
    const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
    after(() => place.cleanup());

    test('init creates the store, a 0600 master key and the admin; a second init refuses with exit 1', () => {
      const noStdin = tally(['init', ...args, '--admin-user', 'root']);
      assert.equal(noStdin.status, 2);
      const weak = tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'short\n' });
      assert.equal(weak.status, 1);
      assert.match(weak.stderr, /password must be 8/);
      const first = tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' });
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /Initialised/);
      assert.equal(statSync(join(place.dataDir, 'master.key')).mode & 0o777, 0o600);
      assert.doesNotMatch(first.stdout + first.stderr, /root-password-1/);
      const second = tally(['init', ...args, '--admin-user', 'other', '--admin-password-stdin'], { input: 'other-password-1\n' });
      assert.equal(second.status, 1);
      assert.match(second.stderr, /initialised already; nothing was changed/);
    });

    test('apitoken create prints {"token"} once; serve answers the API with it; SIGTERM stops cleanly', async () => {
      const created = tally(['apitoken', 'create', ...args, '--name', 'ci', '--role', 'superadmin', '--json']);
      assert.equal(created.status, 0, created.stderr);
      const { token } = JSON.parse(created.stdout) as { token: string };
      assert.match(token, /^tly_/);
      const [port, adminPort] = [await freePort(), await freePort()];
      const server = await startServe([
        ...args,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--admin-port',
        String(adminPort),
        '--radius-port',
        '0',
      ]);
      try {
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
        const users = await fetch(`http://127.0.0.1:${adminPort}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(users.status, 200);
        assert.deepEqual(
          ((await users.json()) as { users: { username: string }[] }).users.map((u) => u.username),
          ['root'],
        );
        const noToken = await fetch(`http://127.0.0.1:${adminPort}/api/v1/users`);
        assert.equal(noToken.status, 401);
      } finally {
        const code = await server.stop('SIGTERM');
        assert.equal(code, 0, server.output());
        assert.match(server.output(), /"msg":"stopped"/);
      }
      assert.doesNotMatch(server.output(), new RegExp(token));
    });

    test('a wrong or missing master key stops serve with a clear message', async () => {
      const wrong = tally(['apitoken', 'create', ...args, '--name', 'x', '--role', 'agent'], {
        env: { TALLY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
      });
      assert.equal(wrong.status, 1);
      assert.match(wrong.stderr, /master key does not open/);
      const keyFile = join(place.dataDir, 'master.key');
      const saved = readFileSync(keyFile);
      writeFileSync(keyFile, 'not a key');
      const broken = tally(['serve', ...args, '--port', '0', '--admin-port', '0']);
      assert.equal(broken.status, 1);
      assert.match(broken.stderr, /master key/i);
      writeFileSync(keyFile, saved, { mode: 0o600 });
    });

    test('rotate-master-key re-encrypts under a new version; the old key no longer opens the store', () => {
      const before = readFileSync(join(place.dataDir, 'master.key'), 'utf8');
      const rotated = tally(['rotate-master-key', ...args]);
      assert.equal(rotated.status, 0, rotated.stderr);
      assert.match(rotated.stdout, /under master key version 2/);
      const after = readFileSync(join(place.dataDir, 'master.key'), 'utf8');
      assert.match(after, /^v2:/);
      assert.doesNotMatch(after, /^v1:/m);
      const withNew = tally(['apitoken', 'create', ...args, '--name', 'after-rotation', '--role', 'agent']);
      assert.equal(withNew.status, 0, withNew.stderr);
      const withOld = tally(['apitoken', 'create', ...args, '--name', 'old-key', '--role', 'agent'], { env: { TALLY_MASTER_KEY: before } });
      assert.equal(withOld.status, 1);
    });
  });
}

test('the quick start (serve --init-if-needed) initialises a fresh data dir once and prints how to log on', async () => {
  const place = freshStoreOptions('sqlite');
  try {
    const ports = [
      '--port',
      String(await freePort()),
      '--admin-port',
      String(await freePort()),
      '--radius-port',
      '0',
      '--host',
      '127.0.0.1',
    ];
    const first = await startServe(['--data-dir', place.dataDir, '--init-if-needed', ...ports]);
    assert.equal(await first.stop(), 0);
    assert.match(first.output(), /Security Console log-on: username "admin", password "[A-Za-z0-9_-]{16}"/);
    assert.match(first.output(), /Self-Service Console: http:\/\/localhost:\d+\//);
    assert.equal(statSync(join(place.dataDir, 'master.key')).mode & 0o777, 0o600);
    const second = await startServe(['--data-dir', place.dataDir, '--init-if-needed', ...ports]);
    assert.equal(await second.stop(), 0);
    assert.doesNotMatch(second.output(), /password "/);
  } finally {
    await place.cleanup();
  }
});

test('inventory import: a per-token report, --json, exit 1 when the file or a token is refused', () => {
  const place = freshStoreOptions('sqlite');
  try {
    const args = ['--data-dir', place.dataDir];
    assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
    const file = join(repoRoot, 'test/vectors/securid/t3-6d-60s-password.sdtid');
    const wrong = tally(['inventory', 'import', file, ...args, '--password', 'nope']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /password is wrong/);
    assert.doesNotMatch(wrong.stderr, /nope/);
    const imported = tally(['inventory', 'import', file, ...args, '--password', 'Tally-vector-pass3']);
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /498012736455\s+securid\s+imported/);
    const again = tally(['inventory', 'import', file, ...args, '--password', 'Tally-vector-pass3', '--json']);
    assert.equal(again.status, 1);
    assert.equal(JSON.parse(again.stdout).refused, 1);
    const replaced = tally(['inventory', 'import', file, ...args, '--password', 'Tally-vector-pass3', '--replace']);
    assert.equal(replaced.status, 0);
    assert.match(replaced.stdout, /1 replaced/);
    const missing = tally(['inventory', 'import', join(place.dataDir, 'nothing.sdtid'), ...args]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read/);
    const signedFile = join(place.dataDir, 'signed.pskcxml');
    const pskc = writePskc([
      { kind: 'totp', id: 'CLI-SIGNED', serial: 'CLI-SIGNED', secret: Buffer.alloc(20, 3), digits: 6, algorithm: 'SHA1', period: 30 },
    ]);
    writeFileSync(
      signedFile,
      pskc.replace(/<\/(\w+:)?KeyContainer>\s*$/, (end) => `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>${end}`),
    );
    const signed = tally(['inventory', 'import', signedFile, ...args]);
    assert.equal(signed.status, 0, signed.stderr);
    assert.match(
      signed.stdout,
      /pskc: 1 imported, 0 replaced, 0 refused\.\nNote: The file carries an XML signature, which Tally does not check/,
    );
  } finally {
    void place.cleanup();
  }
});
