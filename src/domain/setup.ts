import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { invalidField, TallyError } from '../errors.js';
import type { Store } from '../store/connect.js';
import { MetaRepository } from '../store/repositories/meta.js';
import { UnitOfWork } from '../store/unit-of-work.js';
import { systemActor } from './actor.js';
import { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import { hashPassword } from './passwords.js';
import { USERNAME_PATTERN, validatePassword } from './users.js';

const INITIALISED_AT = 'initialised_at';
/** The `tally_meta` entry a store's master key check value is kept under. */
export const MASTER_KEY_CHECK_ENTRY = 'master_key_check';
// Matches the tally_meta entry of store/sealed.ts, so key rotation re-seals it with the rest.
const KEY_CHECK_CONTEXT = `meta:${MASTER_KEY_CHECK_ENTRY}`;
const KEY_CHECK_TEXT = 'tally master key check';

export async function isInitialised(store: Store): Promise<boolean> {
  return (await new MetaRepository(store.db).get(INITIALISED_AT)) !== undefined;
}

/**
 * Creates what a new store needs, in one transaction: the initialisation mark, a value sealed under
 * the master key (so a wrong key is caught at boot, not at the first seed), and the first super admin.
 * Refuses an initialised store.
 */
export async function initialiseStore(
  store: Store,
  keyring: Keyring,
  admin: { username: string; password: string },
  clock: Clock,
): Promise<void> {
  if (!USERNAME_PATTERN.test(admin.username)) {
    throw invalidField('username', 'usernameShape');
  }
  validatePassword(admin.password);
  const passwordHash = await hashPassword(admin.password);
  const now = clock.now();
  const work = new UnitOfWork(store.db);
  await work.transaction(async (repos) => {
    const meta = repos.meta;
    if (!(await meta.insertOnce(INITIALISED_AT, new Date(now).toISOString()))) {
      throw new TallyError('STORE_ALREADY_INITIALISED', `${store.description} is initialised already; nothing was changed.`);
    }
    await meta.set(MASTER_KEY_CHECK_ENTRY, seal(keyring, Buffer.from(KEY_CHECK_TEXT), KEY_CHECK_CONTEXT));
    await repos.users.insert({
      username: admin.username,
      passwordHash,
      email: null,
      firstName: null,
      lastName: null,
      role: 'superadmin',
      now,
    });
    await new AuditService(work, clock).record(
      { actor: systemActor, entry: { action: 'store.initialise', targetType: 'user', target: admin.username } },
      repos.connection,
    );
  });
}

/** Boot check: the store is initialised and the keyring opens its secrets. */
export async function checkStoreReady(store: Store, keyring: Keyring): Promise<void> {
  const meta = new MetaRepository(store.db);
  if ((await meta.get(INITIALISED_AT)) === undefined) {
    throw new TallyError('STORE_NOT_INITIALISED', `${store.description} is not initialised: run \`tally init\` first.`);
  }
  checkMasterKeyOpens(keyring, await meta.get(MASTER_KEY_CHECK_ENTRY), store.description);
}

/**
 * Refuses a keyring that does not open a store, by the check value `tally init` sealed into its
 * `tally_meta` (entry MASTER_KEY_CHECK_ENTRY); `where` names the store or archive for the message.
 */
export function checkMasterKeyOpens(keyring: Keyring, check: string | undefined, where: string): void {
  if (check === undefined) throw new TallyError('MASTER_KEY_INVALID', `${where} has no master key check value.`);
  try {
    if (open(keyring, check, KEY_CHECK_CONTEXT).toString() !== KEY_CHECK_TEXT) throw new Error('mismatch');
  } catch {
    throw new TallyError('MASTER_KEY_INVALID', `The master key does not open ${where}: check TALLY_MASTER_KEY or DATA_DIR/master.key.`);
  }
}
