/** SecurID-compatible 128-bit tokens: tokencodes, sdtid files and CTF strings (securid.md). */
export { DEFAULT_FEATURES, checkSecurIdToken, type SecurIdFeatures, type SecurIdToken } from './token.js';
export { addPinToTokencode, computePasscode, computeTokencode, type TokencodeKey } from './tokencode.js';
export { readSdtid, writeSdtid, type SdtidBatch, type SdtidReadOptions, type SdtidWriteOptions } from './sdtid.js';
export type { CtfSecrets } from './ctf-secrets.js';
export { decodeCtfV2, encodeCtfV2, type CtfV2Options } from './ctf-v2.js';
export { decodeCtfV3, encodeCtfV3 } from './ctf-v3.js';
export {
  CTF_LINK_PREFIXES,
  buildCtfLink,
  decodeCtf,
  parseCtfLink,
  type CtfLink,
  type CtfLinkApp,
  type CtfLinkOptions,
} from './ctf.js';
