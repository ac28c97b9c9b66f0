import type { Generated } from 'kysely';
import type {
  ApiTokenRole,
  BulkDistributionState,
  BulkItemResult,
  ChallengeKind,
  DistributionState,
  FilePasswordPolicy,
  MailState,
  PinCharset,
  ProfilePinMode,
  TokenOrigin,
  TokenRequestState,
  TokenState,
  UserRole,
  WebConsole,
} from '../model/vocabulary.js';
import type { TokenType } from '../tokens/types.js';

/**
 * The tables, as Kysely sees them. Times are milliseconds since the epoch (INTEGER in SQLite,
 * BIGINT in PostgreSQL, read back as numbers); booleans are 0/1 in both dialects.
 */
export interface MetaTable {
  key: string;
  value: string;
}

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string | null;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  role: UserRole;
  disabled: number;
  failed_logons: number;
  locked_until: number | null;
  created_at: number;
  updated_at: number;
}

export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  role: ApiTokenRole;
  token_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: number;
  actor_type: 'admin' | 'user' | 'apitoken' | 'system' | 'anonymous' | 'radius-client' | 'authn-agent';
  actor: string;
  action: string;
  target_type: string | null;
  target: string | null;
  result: 'success' | 'failure';
  source: string | null;
  details: string | null;
  /** The request the event came from (X-Request-Id, or a RADIUS packet's id). */
  request_id: string | null;
}

export interface TokensTable {
  id: Generated<number>;
  serial: string;
  token_type: TokenType;
  state: TokenState;
  origin: TokenOrigin;
  user_id: number | null;
  profile_id: number | null;
  label: string | null;
  /** Sealed under the master key with context `token:<serial>:seed`; null until CT-KIP derives it. */
  seed_sealed: string | null;
  digits: number;
  period: number;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512' | 'AES128';
  add_pin: Generated<number>;
  pin_mode: Generated<'none' | 'required'>;
  pin_hash: string | null;
  new_pin_required: Generated<number>;
  /** The PIN policy the token was made with (its profile's at the time; defaults for imported tokens). */
  pin_min_length: Generated<number>;
  pin_max_length: Generated<number>;
  pin_charset: Generated<PinCharset>;
  /** 1: a new PIN may repeat the one it replaces or the one before; 0: it may not. */
  pin_reuse: Generated<number>;
  /** Keyed hash of the PIN before the current one, for the reuse rule. */
  previous_pin_hash: string | null;
  /** HOTP: the next counter expected. */
  counter: Generated<number>;
  /** The last accepted time step or counter: replay protection advances it with a conditional update. */
  last_step: number | null;
  drift_steps: Generated<number>;
  failed_count: Generated<number>;
  next_code_required: Generated<number>;
  /** Last valid day, YYYY-MM-DD (UTC). */
  expires_on: string | null;
  /** JSON of non-secret facts from the source file (e.g. sdtid UserLogin). */
  attributes: string | null;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
  activated_at: number | null;
  last_used_at: number | null;
  /** Keyed hash of an emergency access code that stands in for the tokencode while the token is lost. */
  emergency_hash: string | null;
  emergency_expires_at: number | null;
  emergency_one_time: number | null;
  /** From a PSKC key's Policy: not usable before this time (StartDate), nor after it (ExpiryDate); null: no limit. */
  valid_from: number | null;
  valid_until: number | null;
  /** From a PSKC key's Policy (NumberOfTransactions): codes it may still be used for; null: no limit. */
  transactions_left: number | null;
  /** Wrong pairs of codes offered to resynchronise since the last right pair (or an admin's unlock). */
  resync_failures: Generated<number>;
}

export interface DeviceTypesTable {
  device_type: string;
  /** JSON of the DeviceDefinition an admin added or changed. */
  definition: string;
  created_at: number;
  updated_at: number;
}

export interface ProfilesTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  token_type: TokenType;
  device_type: string;
  app_version: string | null;
  delivery: 'qr' | 'ctkip' | 'file' | 'ctf';
  digits: number;
  period: number;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512' | 'AES128';
  pin_mode: ProfilePinMode;
  pin_min_length: Generated<number>;
  pin_max_length: Generated<number>;
  pin_charset: Generated<PinCharset>;
  pin_reuse: Generated<number>;
  token_lifetime_days: number | null;
  activation_lifetime_days: number;
  file_password_policy: FilePasswordPolicy;
  /** Sealed with context `profile:<name>:file-password` when the policy is `admin`. */
  file_password_sealed: string | null;
  self_service: number;
  requires_approval: number;
  ctkip_url: string | null;
  /** Whether the holder's mail names the CT-KIP URL (never the activation code). */
  mail_ctkip_url: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface DistributionsTable {
  id: Generated<number>;
  token_id: number;
  delivery: 'qr' | 'ctkip' | 'file' | 'ctf';
  state: DistributionState;
  locator: string | null;
  secret_hash: string | null;
  failed_attempts: Generated<number>;
  /** Sealed with context `distribution:<id>:file-password`. */
  file_password_sealed: string | null;
  /** The outstanding activation code or download link token, sealed with context `distribution:<id>:credential`. */
  credential_sealed: string | null;
  expires_at: number;
  created_by: string;
  created_at: number;
  redeemed_at: number | null;
}

export interface CtkipServerKeysTable {
  id: Generated<number>;
  /** PKCS#8 PEM sealed with context `ctkip-key:<id>`. */
  private_key_sealed: string;
  created_at: number;
  retired_at: number | null;
}

export interface CtkipSessionsTable {
  session_id: string;
  distribution_id: number;
  /** R_S, hex: it travels in clear in ServerHello, so it is no secret. */
  server_nonce: string;
  key_id: number;
  created_at: number;
  expires_at: number;
}

export interface RadiusClientsTable {
  id: Generated<number>;
  name: string;
  /** An IPv4/IPv6 address, or a CIDR range. */
  address: string;
  /** The shared secret, sealed with context `radius-client:<id>`. */
  secret_sealed: string;
  require_message_authenticator: number;
  created_at: number;
}

export interface AuthnAgentsTable {
  id: Generated<number>;
  /** The `clientId` the agent sends. */
  name: string;
  /** SHA-256 (hex) of the access key. */
  key_hash: string;
  created_at: number;
  rotated_at: number | null;
}

export interface AuthnAttemptsTable {
  /** The `authnAttemptId` given to the agent. */
  id: string;
  agent_name: string;
  username: string;
  /** `open` (awaiting the agent), `working` (claimed by a node), `done` (finished or cancelled). */
  status: 'open' | 'working' | 'done';
  /** The last `messageId` Tally sent: the agent's next request must answer it (`inResponseTo`). */
  message_id: string;
  /** The RSA method the attempt waits for (`SECURID`, `SECURID_NEXT_TOKENCODE`, ...). */
  awaited_method: string;
  /** The state of Tally's own challenge (auth_challenges) that the awaited answer continues. */
  challenge_state: string | null;
  /** The text of the prompt sent with the challenge. */
  prompt: string | null;
  expires_at: number;
}

export interface AuthChallengesTable {
  state: string;
  token_id: number;
  kind: ChallengeKind;
  /** new PIN awaiting confirmation (keyed hash) or the step the next code must follow. */
  data: string | null;
  expires_at: number;
  /** Answers the chain this challenge belongs to has had (new PIN, confirm PIN): it ends after a few. */
  attempts: Generated<number>;
}

export interface WebSessionsTable {
  /** SHA-256 (hex) of the session id; the id itself lives only in the browser's cookie. */
  id_hash: string;
  user_id: number;
  console: WebConsole;
  source: string | null;
  created_at: number;
  last_seen_at: number;
  /** The absolute end, however active the session is. */
  expires_at: number;
  /** A message for the next page, sealed; taken (and cleared) when shown. */
  flash_sealed: string | null;
}

/** Attempts per key (a log-on form and an address) in the current time window, counted by every node. */
export interface RateLimitsTable {
  key: string;
  window_start: number;
  hits: number;
}

/**
 * Failed password log-ons per console and username (known or not): `failures` counts attempts not
 * yet followed by a success, and no attempt is checked before `next_attempt_at`.
 */
export interface LogonDelaysTable {
  key: string;
  failures: number;
  last_attempt_at: number;
  next_attempt_at: number;
}

export interface TokenRequestsTable {
  id: Generated<number>;
  user_id: number;
  profile_id: number;
  state: TokenRequestState;
  reason: string | null;
  /** The token distributed on approval. */
  serial: string | null;
  created_at: number;
  decided_at: number | null;
  decided_by: string | null;
}

export interface BulkDistributionsTable {
  id: Generated<number>;
  /** The profile's name when the run started. */
  profile: string;
  created_by: string;
  state: BulkDistributionState;
  total: number;
  distributed: Generated<number>;
  failed: Generated<number>;
  created_at: number;
  /** Moves with every user done: a running run whose time stands still was interrupted. */
  updated_at: number;
  finished_at: number | null;
}

export interface BulkDistributionItemsTable {
  id: Generated<number>;
  bulk_id: number;
  /** The user's place in the list, from 1. */
  position: number;
  username: string;
  result: BulkItemResult;
  serial: string | null;
  /** The error code and message of a failure. */
  error: string | null;
  message: string | null;
}

/** A rendered mail to a token holder, from the change that caused it until it is sent (and kept a while) or given up. */
export interface MailOutboxTable {
  id: Generated<number>;
  /** What the mail is about: `token.distributed` or `request.decided`. */
  kind: string;
  /** The serial or the request id the mail is about. */
  about: string;
  username: string;
  recipient: string;
  subject: string;
  /** The text, sealed under the master key (`mail-outbox:<id>`): a mail may carry more than its subject says. */
  body_sealed: string;
  /** `queued` (waiting or being sent), `sent`, `failed` (given up after the retries; kept until retried). */
  state: MailState;
  /** Sends begun, counted when a sender claims the mail. */
  attempts: Generated<number>;
  created_at: number;
  /** When the mail is due next (after a failure: back-off with jitter). */
  next_attempt_at: number;
  /** The node sending it now and until when that claim holds; an expired lease is anyone's. */
  lease_owner: string | null;
  lease_until: number | null;
  /** Why the last send failed, in a few secret-free words (an SMTP reply code, a socket error's code). */
  last_error: string | null;
  sent_at: number | null;
}

export interface Database {
  tally_meta: MetaTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  audit_events: AuditEventsTable;
  tokens: TokensTable;
  device_types: DeviceTypesTable;
  profiles: ProfilesTable;
  distributions: DistributionsTable;
  ctkip_server_keys: CtkipServerKeysTable;
  ctkip_sessions: CtkipSessionsTable;
  radius_clients: RadiusClientsTable;
  auth_challenges: AuthChallengesTable;
  authn_agents: AuthnAgentsTable;
  authn_attempts: AuthnAttemptsTable;
  web_sessions: WebSessionsTable;
  rate_limits: RateLimitsTable;
  logon_delays: LogonDelaysTable;
  token_requests: TokenRequestsTable;
  bulk_distributions: BulkDistributionsTable;
  bulk_distribution_items: BulkDistributionItemsTable;
  mail_outbox: MailOutboxTable;
}
