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
  OVERLOADED: { status: 503, message: 'Tally is answering as many requests as it can; try again in a moment.' },
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
  STORE_UNAVAILABLE: { status: 503, message: 'The database cannot be reached or written just now.' },
  STORE_NOT_INITIALISED: { status: 500, message: 'The store is not initialised; run `tally init` first.' },
  STORE_ALREADY_INITIALISED: { status: 409, message: 'The store is already initialised.' },
  MASTER_KEY_MISSING: { status: 500, message: 'The master key is missing.' },
  MASTER_KEY_INVALID: { status: 500, message: 'The master key is not valid or does not match the store.' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.' },
  AUDIT_NOT_EXPORTED: {
    status: 409,
    message: 'Part of the audit trail to be purged has not been exported; export it first (tally audit export), or force the purge.',
  },
  BACKUP_INVALID: { status: 422, message: 'The file is not a complete, undamaged Tally backup archive.' },
  BACKUP_SCHEMA_NEWER: { status: 409, message: 'The backup archive comes from a newer Tally than this one.' },
  RESTORE_TARGET_NOT_EMPTY: { status: 409, message: 'A backup restores only into an empty store.' },

  // Users
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  USER_EXISTS: { status: 409, message: 'A user with that username exists already.' },
  API_TOKEN_NOT_FOUND: { status: 404, message: 'No such API token.' },
  RADIUS_CLIENT_NOT_FOUND: { status: 404, message: 'No such RADIUS client.' },
  IDENTITY_SOURCE_NOT_FOUND: { status: 404, message: 'No such identity source.' },
  DIRECTORY_UNAVAILABLE: {
    status: 503,
    message: 'The directory cannot be reached or did not answer in time; try again later. Internal accounts log on as usual.',
  },
  DIRECTORY_BIND_REFUSED: { status: 422, message: "The directory refused the identity source's bind account (its DN or password)." },
  IDENTITY_SOURCE_UNREACHABLE: {
    status: 422,
    message: "The identity source's test found no directory that answers: check its URLs, TLS settings and timeout.",
  },
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
  PROFILE_RESTRICTED: {
    status: 403,
    message: 'This token profile is for members of certain directory groups; ask your IT help desk.',
  },
  PROFILE_EXISTS: { status: 409, message: 'A token profile with that name exists already.' },
  DEVICE_TYPE_NOT_FOUND: { status: 404, message: 'No such device type.' },
  DELIVERY_NOT_SUPPORTED: { status: 422, message: 'The device cannot take this delivery.' },
  TOKENCODE_INVALID: { status: 400, message: 'The tokencode is not right.' },
  WRONG_PIN: { status: 400, message: 'The current PIN is not right.' },
  PIN_GENERATED: { status: 409, message: "Tally generates this token's PIN; the holder cannot choose one." },
  TOKEN_LOCKED: { status: 423, message: 'Too many wrong attempts; the token is locked.' },
  TOKEN_NOT_YET_VALID: { status: 409, message: 'The token may not be used yet (its start date is in the future).' },
  TOKEN_EXPIRED: { status: 409, message: 'The token has expired.' },
  TOKEN_USES_EXHAUSTED: { status: 409, message: 'The token has been used as many times as it may be.' },
  DOWNLOAD_LINK_INVALID: { status: 410, message: 'The download link has been used, has expired or has been replaced.' },
  TOKEN_REQUEST_NOT_FOUND: { status: 404, message: 'No such token request.' },
  TOKEN_REQUEST_PENDING: { status: 409, message: 'A request for this token profile is waiting for approval already.' },
  TOKEN_REQUEST_DECIDED: { status: 409, message: 'The token request has been decided already.' },
  TOKEN_LIMIT_REACHED: { status: 409, message: 'The user has as many tokens as the per-user token limit allows.' },
  SELF_SERVICE_DISABLED: {
    status: 403,
    message: 'This is switched off in the Self-Service Console; ask your IT help desk.',
  },
  BULK_DISTRIBUTION_NOT_FOUND: { status: 404, message: 'No such bulk distribution.' },
  MAIL_TEMPLATE_NOT_FOUND: { status: 404, message: 'No such kind of mail.' },
  BULK_CREDENTIALS_DOWNLOADED: {
    status: 410,
    message: "The bulk distribution's credentials file has been downloaded already; it is given once.",
  },
  BULK_CREDENTIALS_EXPIRED: { status: 410, message: "The bulk distribution's activation codes have expired." },
  MAIL_NOT_FOUND: { status: 404, message: 'No such mail in the outbox.' },

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

/**
 * The driver could not reach or use the database: PostgreSQL down, restarting or failing over (a
 * refused or broken connection, SQLSTATE class 08, or 57P01-57P03 while it shuts down or starts),
 * or SQLite's file unwritable (disk full, read-only, I/O error). node-postgres reports a dropped
 * connection and a connect timeout by message only. Such a request is answered STORE_UNAVAILABLE
 * with a retry hint, never as an internal error.
 */
export function isStoreUnreachable(error: unknown): boolean {
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) return true;
  // 25006: a write reached a read-only server (a standby, or a primary fenced during a failover).
  if (code.startsWith('08') || code === '25006' || code === '57P01' || code === '57P02' || code === '57P03') return true;
  if (/^SQLITE_(FULL|IOERR|READONLY|CANTOPEN)/.test(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(message);
}

/** Seconds a client is asked to wait before trying again while the store cannot be reached. */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** PostgreSQL refused a text value it cannot store (a NUL byte, say); SQLite stores any text. */
export function isUnstorableText(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '22021' || code === '22P05';
}

/**
 * Every VALIDATION_FAILED message, as a template whose `{name}` parts are filled from the throw's
 * parameters (`invalidField` fills `{field}` itself). Parameters name fields, limits and choices,
 * never a value that may be secret (a seed, a password, a PIN, a passcode). `docs/errors.md` lists
 * each template; a test keeps the two in step.
 */
export const validationMessages = {
  // Shared shapes: one wording for one kind of refusal
  oneOf: '{field} must be one of {choices}.',
  wholeNumber: '{field} must be a whole number.',
  wholeNumberRange: '{field} must be a whole number from {min} to {max}.',
  wholeDaysRange: '{field} must be a whole number of days from {min} to {max}.',
  lengthRange: '{field} must be {min} to {max} characters long.',
  textTooLong: '{field} must be at most {max} characters, without control characters.',
  timeValue: '{field} must be an ISO-8601 time or unix seconds.',
  dayValue: '{field} must be a day, like 2026-11-29.',
  appliesOnlyTo: '{field} applies to {what} only.',
  absoluteHttpUrl: '{field} must be an absolute http(s) URL.',
  unstorableCharacter: 'The request holds a character that cannot be stored (such as NUL).',
  schemaRefused: 'The request is not valid: {reason}.',
  trueOrFalse: '{field} must be true or false.',

  // Settings (the store-backed ones an administrator changes at run time)
  settingUnknown: 'Unknown setting "{name}"; the settings are {choices}.',

  // Users, API tokens, RADIUS clients
  usernameShape: 'The username must be 1 to 128 letters, digits or . _ @ -, starting with a letter or digit.',
  usernameEmpty: 'The username is empty.',
  emailInvalid: 'The email address is not valid.',
  apiTokenNameShape: 'The API token name must be 1 to 128 letters, digits, spaces or . _ @ -.',
  radiusClientNameShape: '{field} must be 1 to 128 letters, digits, spaces or . _ @ -.',
  radiusClientAddress: '{field} must be an IPv4 or IPv6 address, or a CIDR range like 10.0.0.0/24.',
  radiusSecretLength: '{field} must be {min} to {max} characters long (RFC 2865 advises at least 16).',
  userFileEmpty: 'The file is empty: it needs a header row ({columns}) and a row per user.',
  userFileUnknownColumns: 'Unknown column(s) {names}; use {columns}.',
  userFileNoUsername: 'The header row needs a username column.',
  userFileMissing: 'Choose a CSV file or paste its text.',
  assignmentFileEmpty: 'The file is empty: it needs the header row {columns} and a row per token.',
  assignmentFileHeader: 'The first row must be the header {columns} (in any order); it has {names}.',
  assignmentFileColumnMissing: 'The header row needs a {name} column; it is {columns}.',
  assignmentRowFields: 'The row has {count} fields; the header has {columns}.',
  assignmentDuplicateSerial: 'Serial {serial} is listed on line {line} already; each token is assigned once.',
  serialEmpty: 'The serial is empty.',
  cellLooksLikeFormula: '{field} starts like a spreadsheet formula (=, +, - or @); write the value itself.',
  identitySourceNameShape: '{field} must be 1 to 64 letters, digits or . _ -, starting with a letter or digit.',
  ldapUrl: '{field} must be ldaps:// URLs, or ldap:// with startTls or allowPlain; 1 to 8 of them.',
  ldapAttributeName: '{field} must be an LDAP attribute name.',
  ldapFilter: '{field} must be one parenthesised LDAP filter, like (objectClass=person).',
  ldapDn: '{field} must be a distinguished name, like ou=people,dc=example,dc=org.',
  ldapRoleGroup: '{field} takes a group DN for superadmin or helpdesk only.',
  directoryGroupForm: "{field} must be SOURCE:DN: an identity source's name, a colon, and the group's DN.",
  directoryGroupsLength: '{field} takes at most {max} directory groups.',
  bulkUsernamesOrGroup: '{field}: give either usernames or a directory group, not both.',

  // Token profiles and devices
  profileNameShape: '{field} must be 1 to 128 letters, digits, spaces or . ( ) @ + - _.',
  deviceTypeShape: '{field} must be 1 to 32 lower-case letters, digits or -.',
  deviceVersionKey: '{field} keys are major versions or *, not "{key}".',
  deviceUnknownDelivery: 'Unknown delivery "{delivery}"; use {choices}.',
  deviceNotesKey: '{field} keys are deliveries ({choices}), not "{key}".',
  deviceTokenType: 'The {device} does not take {tokenType} tokens; it takes {choices}.',
  deviceTokenTypesMissing: 'Tick the token types the device takes.',
  appVersionShape: '{field} must start with a major version number, like 2 or 2.1 (got "{version}").',
  deliveryMissing: 'Choose how the token reaches its holder.',
  keyValueLine: '“{line}” is not “key: value”.',
  noPeriodForCounter: 'HOTP tokens have no period.',
  filePasswordWhenAdmin: '{field} is given exactly when filePasswordPolicy is "admin".',
  ctfBulkDistribution:
    'Profile {profile} delivers a CTF string, which is shown only to whoever distributes it; a bulk distribution needs a delivery the holder completes in the Self-Service Console (QR, CT-KIP or file).',

  // Token settings, by type
  periodChoice: '{field} must be 30 or 60 seconds{forType}.',
  digitsChoice: '{field} must be {choices} for {types} tokens.',
  algorithmChoice: '{field} must be {choices} for {types} tokens.',
  securIdAlgorithm: 'SecurID tokens use the AES128 algorithm.',
  addPinSecurIdOnly: 'Only SecurID tokens add the PIN into the code.',
  securIdSerial: 'A SecurID serial is 12 digits.',
  oathSerial: 'A serial must be 1 to 64 letters, digits or . _ : -.',
  noOtpauthForSecurId: 'SecurID tokens have no otpauth link.',

  // Tokens: administration, self-service, distribution
  pinDigits: 'The PIN must be 4 to 8 digits.',
  pinPolicy: 'A PIN is {policy}.',
  pinLongerThanCode: 'This token takes a PIN of at most {digits} digits.',
  pinTooEasy: 'That PIN is too easy to guess.',
  pinUsedBefore: 'Choose a PIN other than your last two.',
  pinRepetitionDiffers: 'The new PIN and its repetition differ; type the same new PIN twice.',
  rejectionReasonLength: '{field} must be 1 to {max} characters: the user reads it.',
  bulkNoUsernames: 'The list has no usernames.',
  bulkGroupEmpty: '{field} has no members that its identity source finds as users.',
  bulkUsernameTooLong: '"{start}…" is longer than a username can be.',
  emergencyChoiceMissing: 'Choose what emergency access to give.',
  confirmUnassign: 'Tick the box to confirm the token is to be taken from its holder.',
  confirmDelete: 'Tick the box to confirm the token is to be deleted.',
  confirmReissue: 'Tick the box to confirm: the token in use, or the code or link waiting, stops working.',
  confirmDisable: 'Tick the box to confirm the token is to stop authenticating.',
  confirmRemoveSource: 'Tick the box to confirm the source is to be removed and its users disabled.',
  sourceAtEnd: 'The source is already at that end of the order.',
  tokenFileMissing: 'Choose a token file.',
  uploadNoFile: 'The upload has no file part.',
  uploadUnknownFields: 'Unknown form field(s): {names}.',
  uploadMalformed: 'The upload is not a well-formed multipart/form-data body.',
  base64Value: '{field} must be base64.',

  // Mail templates
  mailTemplateBraces: '{field} has braces that make no variable, near "{near}"; a variable is written like {example}.',
  mailTemplateUnknownVariable: '{field} uses {names}, which this mail does not have; it may use {choices}.',
  mailSubjectOneLine: '{field} must be one line, without line breaks or other control characters.',
  mailTextControl: '{field} may hold line breaks and tabs, but no other control characters.',
  mailTemplateNoSubject: 'The {kind} template is a part of other mails and has no subject of its own.',

  // The token client and its exports
  activationCodeDiffers: 'The activation code given differs from the one in the link; give one of them.',
  activationCodeMissing: 'The link carries no activation code; give it after the URL.',
  activationCodeShape: 'An activation code is 1 to 256 printable characters without spaces.',
  exportNeedsExpiry:
    'Token {serial} came without an expiry date (PSKC files do not carry one), which sdtid and CTF need; export it as pskc.',
  otpauthNoPassword: 'An otpauth URI cannot carry a password; export as pskc to protect the token with one.',
  exportFormatChoice: '{type} tokens cannot be exported as {format}; use {choices}.',

  // Codecs (src/core): what a token must hold for a format or an algorithm
  otpCounterRange: 'An OTP counter must be a whole number from 0 to 2^64-1.',
  oathDigits: 'An OATH code has 6, 7 or 8 digits.',
  oathSecretEmpty: 'An OATH secret cannot be empty.',
  totpPeriod: 'A TOTP period must be a whole number of seconds above 0.',
  totpTime: 'The time must be a finite unix time not before T0.',
  unixSeconds: 'The time must be a non-negative whole number of unix seconds.',
  otpauthUnwritable: 'Cannot build an otpauth link: {problem}.',
  pskcUnwritable: 'Cannot write the PSKC file: {problem}.',
  securIdTokenSerial: 'The token serial must be 12 decimal digits.',
  securIdTokenSeed: 'The token seed must be 16 bytes.',
  securIdTokenDigits: 'The token digits must be an integer from 1 to 8.',
  securIdTokenPeriod: 'The token period must be 30 or 60 seconds.',
  securIdTokenExpiry: 'The token expiry date must be a YYYY-MM-DD date from 1970 on.',
  ctfPasswordLength: 'A token string password is at most {max} bytes.',
  ctfV2Expiry: 'A CTF v2 string holds expiry dates from 2000-01-01 to 2044-11-08 only.',
  ctfV3Nonce: 'A CTF v3 nonce is 16 bytes.',
  sdtidFieldText: 'The sdtid {name} must be non-empty text without control characters.',
  sdtidNoTokens: 'An sdtid file needs at least one token.',
  sdtidBirthDate: 'The sdtid birth date must be a YYYY-MM-DD date.',
  sdtidBatchSecret: 'The sdtid batch secret must be 16 bytes.',
  ctkipServiceUrl: 'The CT-KIP service URL is not a URL.',
  ctkipServiceUrlShape: 'The CT-KIP service URL must be a plain http(s) URL without query or credentials.',
  ctkipLinkCode: 'An activation code in a link must be 1 to {max} digits.',
  ctkipPinType: 'PinType must be a digit.',
  ctkipCmacKey: 'AES-CMAC needs a 16-byte key.',
  ctkipNonceLength: '{what} must be {bytes} bytes.',
  ctkipSessionId: 'The session id must be 1 to 256 printable ASCII characters.',
  ctkipServerKey: 'The CT-KIP server key must be an RSA key.',
  ctkipSerial: 'The serial must be 12 digits.',
  ctkipExpiry: 'The key expiry date must be an ISO-8601 date or date-time.',
  ctkipDigits: 'CT-KIP tokens have 6 or 8 digits.',
  ctkipPeriod: 'CT-KIP tokens change every 30 or 60 seconds.',
  requiredField: '{field} is required.',
  stringOfAtMost: '{field} must be a string of at most {max} characters.',
  mustBeArray: '{field} must be an array.',
  firstMustBeObject: '{field}[0] must be an object.',
  needsNameValue: '{field} needs a name and a value.',
  bodyJsonObject: 'The body must be a JSON object.',
  agentName: '{field} must be 1 to 128 letters, digits, spaces or . _ @ -.',
  notARealInstant: '{name} "{text}" is not a real date or time.',
  sinceBeforeUntil: '--since ({since}) must be before --until ({until}).',
  purgeBeforeInFuture: '--before ({before}) is in the future; the purge takes only what is past.',
  pinpadSecurIdOnly: 'pinMode "pinpad" is for SecurID tokens only: other apps show the code without a PIN in it.',
  pinpadDigitsOnly: 'A PINPad PIN is digits only: the app adds it into the tokencode digit by digit.',
  atLeastField: '{field} must be at least {other}.',
  pinpadLongerThanCode:
    "{field} must be at most {digits} for a PINPad token of {digits} digits: the app drops PIN digits beyond the tokencode's.",
} as const satisfies Record<string, string>;

type ValidationMessage = keyof typeof validationMessages;

/** The `{name}` parts of a template, as a union of names. */
type TemplateNames<T extends string> = T extends `${string}{${infer Name}}${infer Rest}` ? Name | TemplateNames<Rest> : never;
type Parameters<K extends ValidationMessage, Given extends string = never> = Record<
  Exclude<TemplateNames<(typeof validationMessages)[K]>, Given>,
  string | number
>;
/** No second argument for a template without parameters; a record of exactly its names otherwise. */
type ParameterArgument<K extends ValidationMessage, Given extends string = never> = [
  Exclude<TemplateNames<(typeof validationMessages)[K]>, Given>,
] extends [never]
  ? []
  : [parameters: Parameters<K, Given>];

function fill(template: ValidationMessage, values: Record<string, string | number>): string {
  return validationMessages[template].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name]));
}

/** A catalogue template filled in with its parameters. */
export function validationMessage<K extends ValidationMessage>(template: K, ...[parameters]: ParameterArgument<K>): string {
  return fill(template, parameters ?? {});
}

/** VALIDATION_FAILED not about one field (a whole form, a file, a codec's input). */
export function invalidInput<K extends ValidationMessage>(template: K, ...parameters: ParameterArgument<K>): TallyError {
  return new TallyError('VALIDATION_FAILED', validationMessage(template, ...parameters));
}

/**
 * VALIDATION_FAILED about one field, named as the REST API names it (`details.field`), so a client
 * can show the error beside it; the template's `{field}` is that name.
 */
export function invalidField<K extends ValidationMessage>(
  field: string,
  template: K,
  ...[parameters]: ParameterArgument<K, 'field'>
): TallyError {
  return new TallyError('VALIDATION_FAILED', fill(template, { ...parameters, field }), { field });
}
