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
const KEY_CHECK = 'master_key_check';
// Matches the tally_meta entry of store/sealed.ts, so key rotation re-seals it with the rest.
const KEY_CHECK_CONTEXT = `meta:${KEY_CHECK}`;
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
  await new UnitOfWork(store.db).transaction(async (repos) => {
    const meta = repos.meta;
    if (!(await meta.insertOnce(INITIALISED_AT, new Date(now).toISOString()))) {
      throw new TallyError('STORE_ALREADY_INITIALISED', `${store.description} is initialised already; nothing was changed.`);
    }
    await meta.set(KEY_CHECK, seal(keyring, Buffer.from(KEY_CHECK_TEXT), KEY_CHECK_CONTEXT));
    await repos.users.insert({
      username: admin.username,
      passwordHash,
      email: null,
      firstName: null,
      lastName: null,
      role: 'superadmin',
      now,
    });
    await new AuditService(repos.audit, clock).record(systemActor, {
      action: 'store.initialise',
      targetType: 'user',
      target: admin.username,
    });
  });
}

/** Boot check: the store is initialised and the keyring opens its secrets. */
export async function checkStoreReady(store: Store, keyring: Keyring): Promise<void> {
  const meta = new MetaRepository(store.db);
  if ((await meta.get(INITIALISED_AT)) === undefined) {
    throw new TallyError('STORE_NOT_INITIALISED', `${store.description} is not initialised: run \`tally init\` first.`);
  }
  const check = await meta.get(KEY_CHECK);
  if (check === undefined) throw new TallyError('MASTER_KEY_INVALID', 'The store has no master key check value.');
  try {
    if (open(keyring, check, KEY_CHECK_CONTEXT).toString() !== KEY_CHECK_TEXT) throw new Error('mismatch');
  } catch {
    throw new TallyError(
      'MASTER_KEY_INVALID',
      `The master key does not open ${store.description}: check TALLY_MASTER_KEY or DATA_DIR/master.key.`,
    );
  }
}
