/** SecurID-compatible 128-bit tokens: tokencodes, sdtid files and CTF strings (securid.md). */

export {
  buildCtfLink,
  CTF_LINK_PREFIXES,
  type CtfLink,
  type CtfLinkApp,
  type CtfLinkOptions,
  decodeCtf,
  parseCtfLink,
} from './ctf.js';
export type { CtfSecrets } from './ctf-secrets.js';
export { type CtfV2Options, decodeCtfV2, encodeCtfV2 } from './ctf-v2.js';
export { decodeCtfV3, encodeCtfV3 } from './ctf-v3.js';
export { readSdtid, type SdtidBatch, type SdtidReadOptions, type SdtidWriteOptions, writeSdtid } from './sdtid.js';
export { checkSecurIdToken, DEFAULT_FEATURES, type SecurIdFeatures, type SecurIdToken } from './token.js';
export { addPinToTokencode, computePasscode, computeTokencode, type TokencodeKey } from './tokencode.js';
