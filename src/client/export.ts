/** `tally token export`: one stored token in a format another app or tool reads. */

import { buildOtpauthUri } from '../core/otp/otpauth.js';
import type { PskcKey } from '../core/pskc/model.js';
import { writePskc } from '../core/pskc/write.js';
import { buildCtfLink, encodeCtfV2, writeSdtid } from '../core/securid/index.js';
import { invalidInput } from '../errors.js';
import { type ClientToken, type OathToken, type SecurIdClientToken, toSecurId } from './tokens.js';

export const EXPORT_FORMATS = ['sdtid', 'ctf', 'ctf-v3', 'otpauth', 'pskc'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const FORMATS_BY_TYPE: Record<ClientToken['type'], readonly ExportFormat[]> = {
  securid: ['sdtid', 'ctf', 'ctf-v3', 'pskc'],
  totp: ['otpauth', 'pskc'],
  hotp: ['otpauth', 'pskc'],
};

const TYPE_NAMES: Record<ClientToken['type'], string> = { securid: 'SecurID', totp: 'TOTP', hotp: 'HOTP' };

function exportSecurId(token: SecurIdClientToken, format: ExportFormat, password: string | undefined): string {
  if (format === 'pskc') {
    const key: PskcKey = {
      kind: 'securid-aes',
      id: token.serial,
      serial: token.serial,
      secret: token.seed,
      digits: token.digits,
      period: token.period,
    };
    return writePskc([key], { password });
  }
  const securId = toSecurId(token);
  if (format === 'sdtid') return writeSdtid(securId, { password });
  if (format === 'ctf') return encodeCtfV2(securId, { password });
  // stoken and the apps take v3 only inside the Android link.
  return buildCtfLink(securId, { app: 'android', version: 3, password });
}

function exportOath(token: OathToken, format: ExportFormat, password: string | undefined): string {
  const common = {
    ...(token.issuer === undefined ? {} : { issuer: token.issuer }),
    secret: token.secret,
    algorithm: token.algorithm,
    digits: token.digits,
  };
  if (format === 'pskc') {
    const key: PskcKey =
      token.type === 'hotp'
        ? { kind: 'hotp', ...common, id: token.serial, serial: token.serial, userId: token.account, counter: token.counter }
        : { kind: 'totp', ...common, id: token.serial, serial: token.serial, userId: token.account, period: token.period };
    return writePskc([key], { password });
  }
  if (password !== undefined) {
    throw invalidInput('otpauthNoPassword');
  }
  const account = token.account ?? token.serial;
  return token.type === 'hotp'
    ? buildOtpauthUri({ type: 'hotp', ...common, account, counter: token.counter })
    : buildOtpauthUri({ type: 'totp', ...common, account, period: token.period });
}

/**
 * The token in `format`, as text ending in a newline. `password` protects the output where the
 * format can carry one (sdtid, CTF, PSKC); an otpauth URI cannot.
 */
export function exportToken(token: ClientToken, format: ExportFormat, options: { password?: string } = {}): string {
  const allowed = FORMATS_BY_TYPE[token.type];
  if (!allowed.includes(format)) {
    throw invalidInput('exportFormatChoice', { type: TYPE_NAMES[token.type], format, choices: allowed.join(', ') });
  }
  const password = options.password === '' ? undefined : options.password;
  const text = token.type === 'securid' ? exportSecurId(token, format, password) : exportOath(token, format, password);
  return text.endsWith('\n') ? text : `${text}\n`;
}
