/** The secrets that open a protected CTF string (v2 or v3), and the errors both versions give. */
import { invalidInput, TallyError } from '../../errors.js';

/** What a protected token needs to open: its password and/or the device ID it is bound to. */
export interface CtfSecrets {
  password?: string;
  deviceId?: string;
}

/** stoken's documented limit; it mangles longer passwords in both CTF versions. */
const MAX_CTF_PASSWORD_BYTES = 40;

export function checkCtfPassword(password: string | undefined): void {
  if (password !== undefined && Buffer.byteLength(password, 'utf8') > MAX_CTF_PASSWORD_BYTES) {
    throw invalidInput('ctfPasswordLength', { max: MAX_CTF_PASSWORD_BYTES });
  }
}

/** The device ID reuses the password codes; `details.secret` tells a client which one to ask for. */
export function deviceIdRequired(): TallyError {
  return new TallyError('PASSWORD_REQUIRED', 'The token is bound to a device; give its device ID.', { secret: 'deviceId' });
}

export function wrongDeviceId(): TallyError {
  return new TallyError('WRONG_PASSWORD', 'The device ID does not match the one the token is bound to.', { secret: 'deviceId' });
}

export function passwordRequired(): TallyError {
  return new TallyError('PASSWORD_REQUIRED', 'The token string is protected by a password; give it.');
}

export function wrongPassword(): TallyError {
  return new TallyError('WRONG_PASSWORD', 'The password is wrong for this token string.');
}
