/**
 * The one catalogue of Tally's errors. Every error a client can see has a stable code here, an HTTP
 * status and a default message; adapters map a TallyError once (HTTP problem JSON, CT-KIP fault,
 * RADIUS reject, CLI exit). `docs/errors.md` documents each code; a test keeps the two in step.
 * Messages never carry secrets (seeds, passwords, passcodes, activation codes).
 */
export const errorCatalogue = {
  // Requests and input
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body has an unsupported content type.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later.' },
  INTERNAL: { status: 500, message: 'Internal error. The server log has the details.' },

  // Access
  UNAUTHENTICATED: { status: 401, message: 'Authentication is required.' },
  FORBIDDEN: { status: 403, message: 'Your role does not allow this.' },
  INVALID_CREDENTIALS: { status: 401, message: 'The username or password is not right.' },
  USER_LOCKED: {
    status: 423,
    message: 'Too many failed attempts: the account is locked for a while, or until an administrator unlocks it.',
  },
  LOGON_DELAYED: { status: 429, message: 'Too many failed log-ons for this user: wait a few seconds, then try again.' },
  CSRF_FAILED: { status: 403, message: 'The form has expired or did not come from this site; reload the page and try again.' },

  // Configuration and store
  CONFIG_INVALID: { status: 500, message: 'The configuration is not valid.' },
  STORE_UNAVAILABLE: { status: 503, message: 'The database cannot be reached.' },
  STORE_NOT_INITIALISED: { status: 500, message: 'The store is not initialised; run `tally init` first.' },
  STORE_ALREADY_INITIALISED: { status: 409, message: 'The store is already initialised.' },
  MASTER_KEY_MISSING: { status: 500, message: 'The master key is missing.' },
  MASTER_KEY_INVALID: { status: 500, message: 'The master key is not valid or does not match the store.' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.' },

  // Users
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  USER_EXISTS: { status: 409, message: 'A user with that username exists already.' },
  API_TOKEN_NOT_FOUND: { status: 404, message: 'No such API token.' },
  RADIUS_CLIENT_NOT_FOUND: { status: 404, message: 'No such RADIUS client.' },
  AUTHN_AGENT_NOT_FOUND: { status: 404, message: 'No such authentication agent.' },
  AUTHN_AGENT_DENIED: { status: 401, message: 'The client ID or access key is not right.' },
  AUTHN_ATTEMPT_NOT_CONTINUABLE: {
    status: 400,
    message: 'The attempt is unknown, expired, finished or cancelled, or the request does not answer its last message.',
  },

  // Tokens
  TOKEN_NOT_FOUND: { status: 404, message: 'No such token.' },
  TOKEN_STATE_INVALID: { status: 409, message: 'The token is not in a state that allows this.' },
  PROFILE_NOT_FOUND: { status: 404, message: 'No such token profile.' },
  PROFILE_EXISTS: { status: 409, message: 'A token profile with that name exists already.' },
  DEVICE_TYPE_NOT_FOUND: { status: 404, message: 'No such device type.' },
  DELIVERY_NOT_SUPPORTED: { status: 422, message: 'The device cannot take this delivery.' },
  TOKENCODE_INVALID: { status: 400, message: 'The tokencode is not right.' },
  WRONG_PIN: { status: 400, message: 'The current PIN is not right.' },
  TOKEN_LOCKED: { status: 423, message: 'Too many wrong attempts; the token is locked.' },
  TOKEN_NOT_YET_VALID: { status: 409, message: 'The token may not be used yet (its start date is in the future).' },
  TOKEN_EXPIRED: { status: 409, message: 'The token has expired.' },
  TOKEN_USES_EXHAUSTED: { status: 409, message: 'The token has been used as many times as it may be.' },
  DOWNLOAD_LINK_INVALID: { status: 410, message: 'The download link has been used, has expired or has been replaced.' },
  TOKEN_REQUEST_NOT_FOUND: { status: 404, message: 'No such token request.' },
  TOKEN_REQUEST_PENDING: { status: 409, message: 'A request for this token profile is waiting for approval already.' },
  TOKEN_REQUEST_DECIDED: { status: 409, message: 'The token request has been decided already.' },
  BULK_DISTRIBUTION_NOT_FOUND: { status: 404, message: 'No such bulk distribution.' },

  // Formats (token files, strings, XML)
  FORMAT_INVALID: { status: 400, message: 'The data is not in a format Tally can read.' },
  XML_FORBIDDEN_CONSTRUCT: { status: 400, message: 'The XML contains a DOCTYPE or entity declaration, which is not accepted.' },
  INPUT_TOO_LARGE: { status: 413, message: 'The input is too large.' },
  PASSWORD_REQUIRED: { status: 400, message: 'The file is protected by a password; give it.' },
  WRONG_PASSWORD: { status: 400, message: 'The password is wrong for this file.' },
  INTEGRITY_CHECK_FAILED: {
    status: 400,
    message: 'The file failed its integrity check (MAC or checksum); it may be corrupt or tampered with.',
  },
  KEY_USAGE_NOT_OTP: { status: 400, message: 'The key may not be used for one-time passwords.' },
  KEY_POLICY_UNSUPPORTED: { status: 400, message: 'The key carries a usage policy Tally cannot enforce.' },
  UNSUPPORTED_ALGORITHM: { status: 400, message: 'The token uses an algorithm Tally does not support.' },

  // RADIUS (the adapter drops or rejects; these never reach an HTTP client)
  RADIUS_MALFORMED_PACKET: { status: 400, message: 'The RADIUS packet is malformed.' },
  RADIUS_BAD_AUTHENTICATOR: { status: 401, message: 'The RADIUS packet failed its authenticator check; the shared secret may be wrong.' },
  RADIUS_MESSAGE_AUTHENTICATOR_MISSING: { status: 401, message: 'The RADIUS packet has no Message-Authenticator, and one is required.' },

  // CT-KIP provisioning (the server answers these as SOAP faults; the last two are the client's)
  ACTIVATION_CODE_INVALID: { status: 403, message: 'The activation code is not valid, has expired or has been used.' },
  CTKIP_SOURCE_BLOCKED: { status: 429, message: 'Too many wrong activation codes from this address; try again in an hour.' },
  CTKIP_BAD_MESSAGE: { status: 400, message: 'The CT-KIP message is malformed or incomplete.' },
  CTKIP_UNSUPPORTED: {
    status: 400,
    message: 'The CT-KIP peer does not offer what this dialect needs (SecurID-AES keys, RSA nonce encryption, CT-KIP-PRF-AES).',
  },
  CTKIP_SESSION_UNKNOWN: { status: 400, message: 'The CT-KIP session is unknown or has ended; start the activation again.' },
  CTKIP_NONCE_MISMATCH: { status: 400, message: 'The server nonce returned by the client does not match the session.' },
  CTKIP_DECRYPT_FAILED: { status: 400, message: 'The client nonce could not be decrypted with the server key.' },
  CTKIP_MAC_MISMATCH: { status: 502, message: "The server's key confirmation (MAC) does not match; the token was not saved." },
  CTKIP_SERVER_FAULT: { status: 502, message: 'The CT-KIP server refused the request.' },
  CTKIP_UNREACHABLE: { status: 502, message: 'The CT-KIP server cannot be reached.' },

  // The token client (`tally token`): its local store
  TOKEN_STORE_MISSING: { status: 404, message: 'There is no token store at that path.' },
  TOKEN_STORE_KEY_MISSING: { status: 500, message: 'The key file of the token store is missing.' },
  TOKEN_STORE_LOCKED: { status: 409, message: 'Another tally command is changing the token store.' },
  TOKEN_STORE_UNAVAILABLE: { status: 503, message: 'The token store cannot be read or written.' },
  // (new codes go above this line, grouped with their kind)
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export class TallyError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? errorCatalogue[code].message);
    this.name = 'TallyError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return errorCatalogue[this.code].status;
  }
}

export function isTallyError(value: unknown): value is TallyError {
  return value instanceof TallyError;
}

/** PostgreSQL refused a text value it cannot store (a NUL byte, say); SQLite stores any text. */
export function isUnstorableText(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '22021' || code === '22P05';
}

/** VALIDATION_FAILED about one field, named as the REST API names it, so a client can show the error beside it. */
export function invalidField(field: string, message: string): TallyError {
  return new TallyError('VALIDATION_FAILED', message, { field });
}
