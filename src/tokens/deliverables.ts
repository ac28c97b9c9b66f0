import type { OtpAlgorithm } from '../core/otp/hotp.js';
import { buildOtpauthUri } from '../core/otp/otpauth.js';
import { writePskc } from '../core/pskc/write.js';
import { buildCtfLink, type CtfLinkApp, encodeCtfV2, type SecurIdToken, writeSdtid } from '../core/securid/index.js';
import { invalidInput } from '../errors.js';
import type { TokenMaterial, TokenType } from './types.js';

/** What a deliverable says about its holder, besides the token itself. */
export interface Holder {
  issuer: string;
  username: string;
  expiresOn: string | null;
  /** HOTP: the next counter. */
  counter: number;
}

const FAR_FUTURE = '2037-12-31';

function securIdToken(token: TokenMaterial, holder: Holder): SecurIdToken {
  return {
    serial: token.serial,
    seed: token.seed,
    digits: token.settings.digits,
    period: token.settings.period as 30 | 60,
    addPin: token.settings.addPin,
    localPin: false,
    expiresOn: holder.expiresOn ?? FAR_FUTURE,
    userLogin: holder.username,
  };
}

/** The otpauth link standard authenticator apps scan. */
export function otpauthLink(type: TokenType, token: TokenMaterial, holder: Holder): string {
  const common = {
    issuer: holder.issuer,
    account: holder.username,
    secret: token.seed,
    algorithm: token.settings.algorithm as OtpAlgorithm,
    digits: token.settings.digits,
  };
  if (type === 'totp') return buildOtpauthUri({ ...common, type: 'totp', period: token.settings.period });
  if (type === 'hotp') return buildOtpauthUri({ ...common, type: 'hotp', counter: holder.counter });
  throw invalidInput('noOtpauthForSecurId');
}

/** The CTF string (81 digits) and the app link carrying it. */
export function ctfDeliverable(token: TokenMaterial, holder: Holder, app: CtfLinkApp): { ctf: string; appLink: string } {
  const securId = securIdToken(token, holder);
  return { ctf: encodeCtfV2(securId), appLink: buildCtfLink(securId, { app }) };
}

export interface TokenFile {
  fileName: string;
  contentType: string;
  body: string;
}

/** The token file: sdtid for SecurID, PSKC for OATH tokens; password-protected when one is given. */
export function tokenFile(type: TokenType, token: TokenMaterial, holder: Holder, password?: string): TokenFile {
  if (type === 'securid') {
    return {
      fileName: `${token.serial}.sdtid`,
      contentType: 'application/xml',
      body: writeSdtid(securIdToken(token, holder), {
        origin: holder.issuer,
        dest: holder.username,
        name: `${holder.issuer} token ${token.serial}`,
        password,
      }),
    };
  }
  const common = {
    id: token.serial,
    serial: token.serial,
    secret: token.seed,
    digits: token.settings.digits,
    issuer: holder.issuer,
    userId: holder.username,
    algorithm: token.settings.algorithm as OtpAlgorithm,
  };
  const key =
    type === 'totp'
      ? { ...common, kind: 'totp' as const, period: token.settings.period }
      : { ...common, kind: 'hotp' as const, counter: holder.counter };
  return { fileName: `${token.serial}.pskcxml`, contentType: 'application/pskc+xml', body: writePskc([key], { password }) };
}
