/**
 * Tally's vocabulary: the words every layer shares (roles, states, kinds), each listed once. Types
 * derive from the lists, so a REST schema, a form's options and a column's type cannot drift apart.
 * A leaf module: it imports nothing.
 */

export const USER_ROLES = ['user', 'helpdesk', 'superadmin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const API_TOKEN_ROLES = ['superadmin', 'helpdesk', 'agent'] as const;
export type ApiTokenRole = (typeof API_TOKEN_ROLES)[number];

export const TOKEN_STATES = ['unassigned', 'pending', 'active', 'disabled'] as const;
export type TokenState = (typeof TOKEN_STATES)[number];

export const TOKEN_ORIGINS = ['generated', 'imported'] as const;
export type TokenOrigin = (typeof TOKEN_ORIGINS)[number];

/** Who sets the password of a token file: nobody, the administrator, or Tally (shown once). */
export const FILE_PASSWORD_POLICIES = ['none', 'admin', 'generated'] as const;
export type FilePasswordPolicy = (typeof FILE_PASSWORD_POLICIES)[number];

/** How a token reaches its holder's app. */
export const DELIVERIES = ['qr', 'ctkip', 'file', 'ctf'] as const;
export type Delivery = (typeof DELIVERIES)[number];

export const DISTRIBUTION_STATES = ['open', 'redeemed', 'superseded'] as const;
export type DistributionState = (typeof DISTRIBUTION_STATES)[number];

/**
 * How a profile's tokens take a PIN: none; typed in front of the tokencode (fob style); or typed
 * into the app, which mixes it into the code it shows (PINPad, SecurID only).
 */
export const PROFILE_PIN_MODES = ['none', 'required', 'pinpad'] as const;
export type ProfilePinMode = (typeof PROFILE_PIN_MODES)[number];

/** What a PIN may be made of. */
export const PIN_CHARSETS = ['digits', 'alphanumeric'] as const;
export type PinCharset = (typeof PIN_CHARSETS)[number];

export const CHALLENGE_KINDS = ['new-pin', 'confirm-pin', 'next-code'] as const;
export type ChallengeKind = (typeof CHALLENGE_KINDS)[number];

export const WEB_CONSOLES = ['self-service', 'security'] as const;
export type WebConsole = (typeof WEB_CONSOLES)[number];

export const TOKEN_REQUEST_STATES = ['pending', 'approved', 'rejected'] as const;
export type TokenRequestState = (typeof TOKEN_REQUEST_STATES)[number];

/** A mail in the outbox: `queued` (waiting or being sent), `sent` (kept a while), `failed` (given up until retried). */
export const MAIL_STATES = ['queued', 'sent', 'failed'] as const;
export type MailState = (typeof MAIL_STATES)[number];

export const BULK_DISTRIBUTION_STATES = ['running', 'finished'] as const;
export type BulkDistributionState = (typeof BULK_DISTRIBUTION_STATES)[number];

export const BULK_ITEM_RESULTS = ['waiting', 'distributed', 'failed'] as const;
export type BulkItemResult = (typeof BULK_ITEM_RESULTS)[number];

/**
 * The mails Tally sends to token holders, and the parts several of them share (`steps-*`: what the
 * holder does next with a token, put in as `{{nextSteps}}`); each has a template an administrator
 * may edit.
 */
export const MAIL_TEMPLATE_KINDS = [
  'token-issued',
  'token-reissued',
  'request-approved',
  'request-declined',
  'token-file-downloaded',
  'steps-activate',
  'steps-activate-ctkip-url',
  'steps-ctf',
  'steps-active',
] as const;
export type MailTemplateKind = (typeof MAIL_TEMPLATE_KINDS)[number];
/** A bulk run's credentials file as stored: none (the profile does not deliver by CT-KIP), waiting to be downloaded, downloaded. */
export const BULK_CREDENTIALS_STORED = ['none', 'waiting', 'downloaded'] as const;
export type BulkCredentialsStored = (typeof BULK_CREDENTIALS_STORED)[number];
/** ... and as shown: `pending` while the run goes on, `ready` to download, `expired` once its codes no longer work. */
export const BULK_CREDENTIALS_STATES = ['none', 'pending', 'ready', 'downloaded', 'expired'] as const;
export type BulkCredentialsState = (typeof BULK_CREDENTIALS_STATES)[number];

/** The rows of an assignment import's report. */
export const ASSIGNMENT_RESULTS = ['assigned', 'refused'] as const;
export type AssignmentResult = (typeof ASSIGNMENT_RESULTS)[number];

/** What the help desk may be shown of a token's credentials (`--helpdesk-credentials`). */
export const HELPDESK_CREDENTIAL_POLICIES = ['none', 'one-time-codes'] as const;
export type HelpdeskCredentials = (typeof HELPDESK_CREDENTIAL_POLICIES)[number];

/**
 * How SQLite commits (`--sqlite-synchronous`): `full` syncs the write-ahead log at every commit,
 * `normal` only at checkpoints (a power cut can then forget the last commits).
 */
export const SQLITE_SYNCHRONOUS_MODES = ['full', 'normal'] as const;
export type SqliteSynchronous = (typeof SQLITE_SYNCHRONOUS_MODES)[number];
/** The kinds of LDAP directory an identity source is, each with its usual attributes and checks. */
export const DIRECTORY_PRESETS = ['openldap', 'ad'] as const;
export type DirectoryPreset = (typeof DIRECTORY_PRESETS)[number];

/** What the directory last said of a directory user. */
export const DIRECTORY_STATES = ['present', 'disabled', 'gone'] as const;
export type DirectoryState = (typeof DIRECTORY_STATES)[number];

/** How an identity source's sync ended. */
export const SYNC_OUTCOMES = ['ok', 'failed'] as const;
export type SyncOutcome = (typeof SYNC_OUTCOMES)[number];
