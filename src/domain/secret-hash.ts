import { createHmac, randomBytes } from 'node:crypto';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import type { MetaRepository } from '../store/repositories/meta.js';

const LOOKUP_KEY = 'lookup_key';
const LOOKUP_CONTEXT = `meta:${LOOKUP_KEY}`;

/**
 * Keyed hashes for short secrets that must be found by value (activation codes) or checked fast
 * (PINs): HMAC-SHA256 under a random key kept sealed in the store. A copy of the database alone
 * cannot brute-force a 12-digit code or a 4-digit PIN; with the master key it could, which is why
 * codes are also one-time, expiring and attempt-limited.
 */
export type SecretPurpose = 'activation-code' | 'pin' | 'emergency-code' | 'authn-signing';

/** The loaded key: hashing is synchronous, so it can run inside a transaction without touching the store. */
export interface SecretHashKey {
  hash(purpose: SecretPurpose, secret: string): string;
}

export class SecretHasher {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly meta: MetaRepository,
    private readonly keyring: Keyring,
  ) {}

  private loadKey(): Promise<Buffer> {
    this.key ??= (async () => {
      const meta = this.meta;
      // Two processes may race to create it; insertOnce lets exactly one win and both read the winner.
      await meta.insertOnce(LOOKUP_KEY, seal(this.keyring, randomBytes(32), LOOKUP_CONTEXT));
      const sealed = await meta.get(LOOKUP_KEY);
      return open(this.keyring, sealed as string, LOOKUP_CONTEXT);
    })();
    this.key.catch(() => {
      this.key = undefined;
    });
    return this.key;
  }

  /**
   * Load before opening a transaction: on SQLite the store has one connection, and a transaction
   * that waited for the key to be read would wait for itself.
   */
  async load(): Promise<SecretHashKey> {
    const key = await this.loadKey();
    return { hash: (purpose, secret) => createHmac('sha256', key).update(`${purpose}\0${secret}`).digest('hex') };
  }
}
