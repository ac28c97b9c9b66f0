import { randomBytes } from 'node:crypto';
import type { SecurIdToken } from '../../src/core/securid/token.js';

/** A SecurID test token with a fresh random seed: 8 digits, a code a minute, no PIN in the app. */
export function securIdTestToken(serial: string, addPin = false): SecurIdToken {
  return { serial, seed: randomBytes(16), digits: 8, period: 60, addPin, localPin: false, expiresOn: '2035-12-31' };
}
