import { randomInt } from 'node:crypto';
import { addPinToTokencode, computeTokencode } from '../core/securid/index.js';
import { invalidField } from '../errors.js';
import { type TokenMaterial, type TokenTypeModule, timeStep } from './types.js';

export const securidType: TokenTypeModule = {
  type: 'securid',
  label: 'SecurID-compatible (128-bit AES, time-based)',
  movingFactor: 'time',
  seedBytes: 16,
  defaults: { digits: 8, period: 60, algorithm: 'AES128', addPin: false },
  algorithms: ['AES128'],
  // SecurID tokens need a last day: three years, as RSA's software tokens commonly have.
  defaultLifetimeDays: 3 * 365,
  deliveries: ['qr', 'ctkip', 'file', 'ctf'],
  // The SecurID apps' QR code is a CT-KIP activation link: the seed is derived either way.
  seedDerivedByCtkip: (delivery) => delivery === 'ctkip' || delivery === 'qr',
  checkSettings(settings) {
    if (settings.algorithm !== 'AES128') throw invalidField('algorithm', 'securIdAlgorithm');
    if (![6, 8].includes(settings.digits)) throw invalidField('digits', 'digitsChoice', { choices: '6 or 8', types: 'SecurID' });
    if (settings.period !== 30 && settings.period !== 60) {
      throw invalidField('period', 'periodChoice', { forType: ' for SecurID tokens' });
    }
  },
  newSerial: () => String(randomInt(0, 1_000_000_000_000)).padStart(12, '0'),
  checkSerial(serial) {
    if (!/^\d{12}$/.test(serial)) throw invalidField('serial', 'securIdSerial');
  },
  stepAt: timeStep,
  codeAt(token: TokenMaterial, step: number): string {
    const interval = token.settings.period as 30 | 60;
    return computeTokencode({ serial: token.serial, seed: token.seed, digits: token.settings.digits, period: interval }, step * interval);
  },
  /** With AddPIN the app adds the PIN into the tokencode; otherwise the user types PIN + tokencode. */
  passcode(token, code, pin) {
    return token.settings.addPin ? addPinToTokencode(code, pin) : pin + code;
  },
};
