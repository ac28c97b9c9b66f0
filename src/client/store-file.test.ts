import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { firstItem } from '../../test/support/items.js';
import { formatKeyFile } from './store.js';
import { keyFilePath, PASSPHRASE_ENV, readTokenStore, withTokenStore } from './store-file.js';
import type { ClientToken } from './tokens.js';

const root = mkdtempSync(join(tmpdir(), 'tally-store-file-'));
after(() => rmSync(root, { recursive: true, force: true }));
function freshDir(): string {
  return mkdtempSync(join(root, 'd-'));
}

function totp(serial: string): ClientToken {
  return { type: 'totp', serial, secret: randomBytes(20), algorithm: 'SHA1', digits: 6, period: 30 };
}

const noPassphrase: NodeJS.ProcessEnv = {};
const withPassphrase: NodeJS.ProcessEnv = { [PASSPHRASE_ENV]: 'a long passphrase' };

async function create(path: string, tokens: ClientToken[], env = noPassphrase): Promise<void> {
  await withTokenStore(path, env, { create: true }, async (store) => store.save([...store.tokens, ...tokens]));
}

/** Every file of the directory with its bytes, to show a failure changed nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'base64')]));
}

test('the first save creates the store and its key file, both 0600; later opens read them back', async () => {
  const dir = freshDir();
  const path = join(dir, 'tokens');
  const a = totp('A');
  await create(path, [a]);
  assert.deepEqual(readdirSync(dir).sort(), ['tokens', 'tokens.key']);
  for (const file of [path, keyFilePath(path)]) assert.equal(statSync(file).mode & 0o777, 0o600, file);
  assert.deepEqual(readTokenStore(path, noPassphrase), [a]);
  const b = totp('B');
  await create(path, [b]);
  assert.deepEqual(readTokenStore(path, noPassphrase), [a, b]);
  // A passphrase set later does not change how an existing store is keyed.
  assert.deepEqual(readTokenStore(path, withPassphrase), [a, b]);
});

test('nothing is written when the command fails before saving', async () => {
  const dir = freshDir();
  const path = join(dir, 'tokens');
  await assert.rejects(
    withTokenStore(path, noPassphrase, { create: true }, async () => {
      throw new Error('the exchange failed');
    }),
    /the exchange failed/,
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('a missing store is named; reading does not create one', async () => {
  const dir = freshDir();
  const path = join(dir, 'tokens');
  const missing = { code: 'TOKEN_STORE_MISSING', message: new RegExp(`There is no token store at ${path}; create it with`) };
  assert.throws(() => readTokenStore(path, noPassphrase), missing);
  await assert.rejects(
    withTokenStore(path, noPassphrase, { create: false }, async () => undefined),
    missing,
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('a passphrase store needs the passphrase, and no key file is made for it', async () => {
  const dir = freshDir();
  const path = join(dir, 'tokens');
  await create(path, [totp('A')], withPassphrase);
  assert.deepEqual(readdirSync(dir), ['tokens']);
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).key.kind, 'passphrase');
  assert.equal(firstItem(readTokenStore(path, withPassphrase)).serial, 'A');
  const before = snapshot(dir);
  assert.throws(() => readTokenStore(path, noPassphrase), {
    code: 'PASSWORD_REQUIRED',
    message: new RegExp(`sealed with a passphrase; set ${PASSPHRASE_ENV}`),
  });
  assert.throws(() => readTokenStore(path, { [PASSPHRASE_ENV]: 'wrong' }), { code: 'WRONG_PASSWORD' });
  assert.throws(() => readTokenStore(path, { [PASSPHRASE_ENV]: '' }), { code: 'PASSWORD_REQUIRED', message: /set but empty/ });
  await assert.rejects(create(path, [totp('B')], { [PASSPHRASE_ENV]: 'wrong' }), { code: 'WRONG_PASSWORD' });
  assert.deepEqual(snapshot(dir), before);
});

test('a wrong or missing key file and a corrupt store fail clearly and leave every file as it was', async () => {
  const dir = freshDir();
  const path = join(dir, 'tokens');
  await create(path, [totp('A')]);
  const good = snapshot(dir);

  writeFileSync(keyFilePath(path), formatKeyFile(randomBytes(32)));
  const wrongKey = snapshot(dir);
  assert.throws(() => readTokenStore(path, noPassphrase), { code: 'INTEGRITY_CHECK_FAILED', message: /does not open with its key file/ });
  await assert.rejects(create(path, [totp('B')]), { code: 'INTEGRITY_CHECK_FAILED' });
  assert.deepEqual(snapshot(dir), wrongKey);

  rmSync(keyFilePath(path));
  await assert.rejects(create(path, [totp('B')]), { code: 'TOKEN_STORE_KEY_MISSING', message: /tokens\.key, which is missing/ });
  assert.deepEqual(readdirSync(dir), ['tokens']);

  const goodKey = good['tokens.key'];
  assert.ok(goodKey !== undefined, 'the snapshot holds tokens.key');
  writeFileSync(keyFilePath(path), Buffer.from(goodKey, 'base64'));
  for (const corrupt of [
    '',
    '{"format":"tally-token-store"',
    readFileSync(path, 'utf8').replace(/"sealed": "v1\.(.)/, '"sealed": "v1.A$1'),
  ]) {
    writeFileSync(path, corrupt);
    const before = snapshot(dir);
    assert.throws(
      () => readTokenStore(path, noPassphrase),
      (error: { code: string }) => ['FORMAT_INVALID', 'INTEGRITY_CHECK_FAILED'].includes(error.code),
    );
    await assert.rejects(create(path, [totp('B')]));
    assert.deepEqual(snapshot(dir), before);
  }
});

test('concurrent changes queue on the lock, so none is lost; a stale lock is taken over, a live one waited for', async () => {
  const dir = freshDir();
  const path = join(dir, 'tokens');
  await create(path, [totp('first')]);
  const serials = Array.from({ length: 8 }, (_, i) => `T${i}`);
  await Promise.all(
    serials.map((serial) =>
      withTokenStore(path, noPassphrase, { create: false }, async (store) => {
        const tokens = store.tokens;
        await new Promise((resolve) => setTimeout(resolve, 5));
        store.save([...tokens, totp(serial)]);
      }),
    ),
  );
  assert.deepEqual(
    readTokenStore(path, noPassphrase)
      .map((t) => t.serial)
      .sort(),
    ['first', ...serials].sort(),
  );
  assert.ok(!existsSync(`${path}.lock`));
  assert.deepEqual(readdirSync(dir).sort(), ['tokens', 'tokens.key'], 'no temporary files are left behind');

  // No process has pid 2^22 + 1 (above Linux's pid_max), so this lock is stale.
  writeFileSync(`${path}.lock`, `${2 ** 22 + 1}\n`);
  await create(path, [totp('after stale')]);
  assert.ok(!existsSync(`${path}.lock`));

  writeFileSync(`${path}.lock`, `${process.ppid}\n`);
  await assert.rejects(
    withTokenStore(path, noPassphrase, { create: false, lockWaitMs: 200 }, async () => undefined),
    {
      code: 'TOKEN_STORE_LOCKED',
      message: new RegExp(`if none is running, remove ${path}\\.lock`),
    },
  );
  rmSync(`${path}.lock`);
});

test('a store in a directory that does not exist is refused with the cause', async () => {
  const path = join(freshDir(), 'no-such-dir', 'tokens');
  await assert.rejects(create(path, [totp('A')]), { code: 'TOKEN_STORE_UNAVAILABLE', message: /ENOENT/ });
});
