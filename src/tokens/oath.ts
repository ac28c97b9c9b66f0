import { randomBytes } from 'node:crypto';
import { hotp, OTP_ALGORITHMS, type OtpAlgorithm } from '../core/otp/hotp.js';
import { invalidField } from '../errors.js';
import { type TokenMaterial, type TokenSettings, type TokenTypeModule, timeStep } from './types.js';

function checkOathSettings(settings: TokenSettings, timeBased: boolean): void {
  if (!OTP_ALGORITHMS.includes(settings.algorithm as OtpAlgorithm)) {
    throw invalidField('algorithm', 'algorithmChoice', { choices: 'SHA1, SHA256 or SHA512', types: 'TOTP and HOTP' });
  }
  if (![6, 7, 8].includes(settings.digits)) throw invalidField('digits', 'digitsChoice', { choices: '6, 7 or 8', types: 'TOTP and HOTP' });
  if (timeBased && settings.period !== 30 && settings.period !== 60) {
    throw invalidField('period', 'periodChoice', { forType: '' });
  }
  if (settings.addPin) throw invalidField('addPin', 'addPinSecurIdOnly');
}

function oathSerial(prefix: string): string {
  return prefix + randomBytes(4).toString('hex').toUpperCase();
}

function checkOathSerial(serial: string): void {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(serial)) {
    throw invalidField('serial', 'oathSerial');
  }
}

function code(token: TokenMaterial, step: number): string {
  return hotp({ secret: token.seed, algorithm: token.settings.algorithm as OtpAlgorithm, digits: token.settings.digits }, step);
}

/** OATH tokens take PIN + code, the PIN typed in front (as RADIUS PAP clients send it). */
function prefixPin(_token: TokenMaterial, otp: string, pin: string): string {
  return pin + otp;
}

export const totpType: TokenTypeModule = {
  type: 'totp',
  label: 'TOTP (time-based, RFC 6238)',
  movingFactor: 'time',
  seedBytes: 20,
  defaults: { digits: 6, period: 30, algorithm: 'SHA1', addPin: false },
  algorithms: OTP_ALGORITHMS,
  defaultLifetimeDays: null,
  deliveries: ['qr', 'file'],
  seedDerivedByCtkip: () => false,
  checkSettings: (settings) => checkOathSettings(settings, true),
  newSerial: () => oathSerial('TOTP'),
  checkSerial: checkOathSerial,
  stepAt: timeStep,
  codeAt: code,
  passcode: prefixPin,
};

export const hotpType: TokenTypeModule = {
  type: 'hotp',
  label: 'HOTP (counter-based, RFC 4226)',
  movingFactor: 'counter',
  seedBytes: 20,
  defaults: { digits: 6, period: 0, algorithm: 'SHA1', addPin: false },
  algorithms: OTP_ALGORITHMS,
  defaultLifetimeDays: null,
  deliveries: ['qr', 'file'],
  seedDerivedByCtkip: () => false,
  checkSettings: (settings) => checkOathSettings(settings, false),
  newSerial: () => oathSerial('HOTP'),
  checkSerial: checkOathSerial,
  stepAt: (token) => token.counter,
  codeAt: code,
  passcode: prefixPin,
};
