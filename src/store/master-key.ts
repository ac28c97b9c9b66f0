import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
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

/** Writes the keyring with mode 0600, atomically (a temp file renamed over the old one). */
export function writeKeyringFile(dataDir: string, keyring: Keyring, fileName = MASTER_KEY_FILE): string {
  const path = join(dataDir, fileName);
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, formatKeyring(keyring), { mode: 0o600, flag: 'w' });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  return path;
}
