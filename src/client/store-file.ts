/**
 * The token store on disk: FILE (the sealed tokens, see store.ts) and, unless the store is sealed
 * with a passphrase, FILE.key beside it. Both mode 0600. Changes take a lock (FILE.lock) so that
 * two commands cannot both hand out the same HOTP code or lose each other's imports, and every
 * write goes to a temporary file renamed over the old one, so a failure leaves the old store whole.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { TallyError } from '../errors.js';
import {
  formatKeyFile,
  newPassphraseSource,
  openStore,
  parseKeyFile,
  passphraseKey,
  readEnvelope,
  STORE_KEY_BYTES,
  type StoreKeySource,
  sealStore,
} from './store.js';
import type { ClientToken } from './tokens.js';

export const PASSPHRASE_ENV = 'TALLY_TOKEN_STORE_PASSPHRASE';

/** How long a command waits for another one holding the lock (an activation can take a while). */
const LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 50;
/** Token stores are small; a far larger file is not one, and is not read into memory. */
const MAX_STORE_BYTES = 16 * 1024 * 1024;

export interface TokenStore {
  path: string;
  tokens: ClientToken[];
  /** Seals and writes the tokens, replacing the store atomically. */
  save(tokens: readonly ClientToken[]): void;
}

export function keyFilePath(path: string): string {
  return `${path}.key`;
}

function errnoCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'unknown error';
}

function readSmallFile(path: string, what: string): string | undefined {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new TallyError('TOKEN_STORE_UNAVAILABLE', `Cannot read ${what} ${path}: ${errnoCode(error)}.`);
  }
  if (size > MAX_STORE_BYTES) throw new TallyError('INPUT_TOO_LARGE', `${path} is ${size} bytes; a token store is far smaller.`);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new TallyError('TOKEN_STORE_UNAVAILABLE', `Cannot read ${what} ${path}: ${errnoCode(error)}.`);
  }
}

/** Writes a file with mode 0600 through a temporary file in the same directory and a rename. */
function writeAtomically(path: string, content: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new TallyError('TOKEN_STORE_UNAVAILABLE', `Cannot write ${path}: ${errnoCode(error)}; the store was left as it was.`);
  }
}

/** A new key file is created exclusively: an existing key is never overwritten. */
function createKeyFile(path: string, key: Buffer): void {
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, formatKeyFile(key));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new TallyError('TOKEN_STORE_UNAVAILABLE', `Cannot create the key file ${path}: ${errnoCode(error)}.`);
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/** A lock left by a process that has since died (a killed activation) is taken over. */
function lockIsStale(lockPath: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(lockPath, 'utf8').trim());
  } catch {
    return false;
  }
  return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !processIsAlive(pid);
}

async function acquireLock(path: string, waitMs: number): Promise<() => void> {
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') {
        throw new TallyError('TOKEN_STORE_UNAVAILABLE', `Cannot lock the token store ${path} (${lockPath}): ${errnoCode(error)}.`);
      }
    }
    if (lockIsStale(lockPath)) {
      rmSync(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new TallyError('TOKEN_STORE_LOCKED', `Another tally command is changing ${path}; if none is running, remove ${lockPath}.`);
    }
    await sleep(LOCK_POLL_MS);
  }
}

function passphraseFrom(env: NodeJS.ProcessEnv): string | undefined {
  const passphrase = env[PASSPHRASE_ENV];
  if (passphrase === '') throw new TallyError('PASSWORD_REQUIRED', `${PASSPHRASE_ENV} is set but empty; give a passphrase or unset it.`);
  return passphrase;
}

interface StoreKey {
  source: StoreKeySource;
  key: Buffer;
  /** A key file to create with the store's first write. */
  newKeyFile?: string;
}

function existingStoreKey(path: string, source: StoreKeySource, env: NodeJS.ProcessEnv): StoreKey {
  if (source.kind === 'passphrase') {
    const passphrase = passphraseFrom(env);
    if (passphrase === undefined) throw new TallyError('PASSWORD_REQUIRED', `${path} is sealed with a passphrase; set ${PASSPHRASE_ENV}.`);
    return { source, key: passphraseKey(source, passphrase) };
  }
  const keyPath = keyFilePath(path);
  const content = readSmallFile(keyPath, 'the key file');
  if (content === undefined) {
    throw new TallyError(
      'TOKEN_STORE_KEY_MISSING',
      `${path} is sealed with the key in ${keyPath}, which is missing; restore it from a backup.`,
    );
  }
  return { source, key: parseKeyFile(content, keyPath) };
}

/** For a store that does not exist yet: a passphrase when one is given, else a key file (reused if one is there). */
function newStoreKey(path: string, env: NodeJS.ProcessEnv): StoreKey {
  const passphrase = passphraseFrom(env);
  if (passphrase !== undefined) {
    const source = newPassphraseSource();
    return { source, key: passphraseKey(source, passphrase) };
  }
  const keyPath = keyFilePath(path);
  const content = readSmallFile(keyPath, 'the key file');
  if (content !== undefined) return { source: { kind: 'key-file' }, key: parseKeyFile(content, keyPath) };
  return { source: { kind: 'key-file' }, key: randomBytes(STORE_KEY_BYTES), newKeyFile: keyPath };
}

function missingStore(path: string): TallyError {
  return new TallyError(
    'TOKEN_STORE_MISSING',
    `There is no token store at ${path}; create it with \`tally token import\` or \`tally token activate\`.`,
  );
}

function openExisting(path: string, content: string, env: NodeJS.ProcessEnv): { tokens: ClientToken[]; storeKey: StoreKey } {
  const envelope = readEnvelope(content, path);
  const storeKey = existingStoreKey(path, envelope.key, env);
  return { tokens: openStore(envelope, storeKey.key, path), storeKey };
}

/** The tokens of an existing store, for commands that change nothing (no lock taken). */
export function readTokenStore(path: string, env: NodeJS.ProcessEnv): ClientToken[] {
  const content = readSmallFile(path, 'the token store');
  if (content === undefined) throw missingStore(path);
  return openExisting(path, content, env).tokens;
}

/**
 * Opens the store at `path` under its lock and hands it to `use`; with `create`, a store that does
 * not exist yet starts empty and is made on the first save. The key comes from the store's own
 * header: a passphrase from TALLY_TOKEN_STORE_PASSPHRASE, or FILE.key. Nothing is written unless
 * `use` calls save; every failure before that leaves the files as they were.
 */
export async function withTokenStore<T>(
  path: string,
  env: NodeJS.ProcessEnv,
  options: { create: boolean; lockWaitMs?: number },
  use: (store: TokenStore) => Promise<T>,
): Promise<T> {
  if (!options.create && !existsSync(path)) throw missingStore(path);
  const release = await acquireLock(path, options.lockWaitMs ?? LOCK_WAIT_MS);
  try {
    const content = readSmallFile(path, 'the token store');
    if (content === undefined && !options.create) throw missingStore(path);
    const { tokens, storeKey } =
      content === undefined ? { tokens: [], storeKey: newStoreKey(path, env) } : openExisting(path, content, env);
    return await use({
      path,
      tokens,
      save(updated) {
        const sealed = sealStore(updated, storeKey.key, storeKey.source);
        if (storeKey.newKeyFile !== undefined) {
          createKeyFile(storeKey.newKeyFile, storeKey.key);
          delete storeKey.newKeyFile;
        }
        writeAtomically(path, sealed);
      },
    });
  } finally {
    release();
  }
}
