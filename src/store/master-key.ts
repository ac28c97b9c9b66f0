import { closeSync, existsSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKeyring, type Keyring, parseKeyring } from '../core/crypto/secret-box.js';
import { TallyError } from '../errors.js';

const MASTER_KEY_FILE = 'master.key';

export function masterKeyPath(dataDir: string): string {
  return join(dataDir, MASTER_KEY_FILE);
}

/** The keyring from TALLY_MASTER_KEY if given, else from DATA_DIR/master.key. */
export function loadKeyring(options: { dataDir: string; masterKey?: string }): Keyring {
  if (options.masterKey !== undefined) return parseKeyring(options.masterKey);
  const path = masterKeyPath(options.dataDir);
  if (!existsSync(path)) {
    throw new TallyError(
      'MASTER_KEY_MISSING',
      `No master key: ${path} does not exist and TALLY_MASTER_KEY is not set. Run \`tally init\` first, or set TALLY_MASTER_KEY.`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TallyError('MASTER_KEY_INVALID', `Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}.`);
  }
  return parseKeyring(text);
}

export function keyFileIsPrivate(dataDir: string): boolean {
  const path = masterKeyPath(dataDir);
  return !existsSync(path) || (statSync(path).mode & 0o077) === 0;
}

/**
 * Writes the keyring with mode 0600, atomically (a temp file renamed over the old one) and durably:
 * the file is synced before the rename and the directory after it, so a crash or power cut right
 * after `init` or a rotation cannot leave a database whose key was never on disk.
 */
export function writeKeyringFile(dataDir: string, keyring: Keyring, fileName = MASTER_KEY_FILE): string {
  const path = join(dataDir, fileName);
  const temp = `${path}.tmp-${process.pid}`;
  const file = openSync(temp, 'w', 0o600);
  try {
    writeFileSync(file, formatKeyring(keyring));
    fchmodSync(file, 0o600);
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
  renameSync(temp, path);
  const directory = openSync(dataDir, 'r');
  try {
    fsyncSync(directory);
  } finally {
    closeSync(directory);
  }
  return path;
}
