import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { TallyError } from './errors.js';
import { HELPDESK_CREDENTIAL_POLICIES, SQLITE_SYNCHRONOUS_MODES } from './model/vocabulary.js';
import { parsePostgresAddress } from './store/postgres-address.js';

/**
 * One typed schema for every setting, each with a default and a doc line. Values come from
 * command-line flags, then `TALLY_*` environment variables, then the default; they are validated
 * at boot with messages that name the flag and what is allowed. `docs/configuration.md` is
 * generated from this table (`npm run docs:config`) and a test keeps it in step.
 */
export interface Setting<T> {
  doc: string;
  /** Shown in docs; `undefined` means "not set". */
  default: T | undefined;
  kind: 'string' | 'boolean' | 'integer';
  /** Parses and validates the raw text; throws a plain Error with what is allowed. */
  parse: (raw: string) => T;
  /**
   * A secret (a password, a key, a URL that may hold a password): never printed back in errors,
   * and also read from the file named by `TALLY_X_FILE` (the container secrets convention).
   */
  secret?: boolean;
}

function text(doc: string, fallback?: string, options: { secret?: boolean } = {}): Setting<string> {
  return {
    doc,
    default: fallback,
    kind: 'string',
    secret: options.secret,
    parse: (raw) => {
      if (raw.trim() === '') throw new Error('must not be empty');
      return raw;
    },
  };
}

function integer(doc: string, fallback: number | undefined, min: number, max: number): Setting<number> {
  return {
    doc,
    default: fallback,
    kind: 'integer',
    parse: (raw) => {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error(`must be a whole number from ${min} to ${max}`);
      const value = Number(raw);
      if (value < min || value > max) throw new Error(`must be a whole number from ${min} to ${max}`);
      return value;
    },
  };
}

function port(doc: string, fallback: number): Setting<number> {
  return integer(doc, fallback, 0, 65535);
}

function flag(doc: string): Setting<boolean> {
  return {
    doc,
    default: false,
    kind: 'boolean',
    parse: (raw) => {
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new Error('must be true or false');
    },
  };
}

function url(doc: string, protocols: string[], options: { secret?: boolean } = {}): Setting<string> {
  return {
    doc,
    default: undefined,
    kind: 'string',
    secret: options.secret,
    parse: (raw) => {
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        throw new Error(`must be a URL starting with ${protocols.join(' or ')}`);
      }
      if (!protocols.includes(parsed.protocol)) throw new Error(`must be a URL starting with ${protocols.join(' or ')}`);
      return raw.replace(/\/+$/, '');
    },
  };
}

function oneOf<T extends string>(doc: string, values: readonly T[], fallback: T): Setting<T> {
  return {
    doc,
    default: fallback,
    kind: 'string',
    parse: (raw) => {
      if (!(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
      return raw as T;
    },
  };
}

/** Names proxy-addr (fastify's trustProxy) knows for whole ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * The addresses of trusted reverse proxies: IPv4/IPv6 addresses or CIDRs (or `loopback`,
 * `linklocal`, `uniquelocal`), comma-separated. Not `true` nor a hop count: those make Tally believe
 * whatever X-Forwarded-For a client sends, so a client would pick its own address for the rate
 * limits and the audit.
 */
export function parseTrustedProxies(raw: string): string[] {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0 || entries.some((entry) => /^(true|false|yes|no|on|off|\d+)$/i.test(entry))) {
    throw new Error(
      'takes the addresses or CIDRs of the trusted reverse proxies, comma-separated (e.g. 10.0.0.5,10.1.0.0/16 or loopback), not true/false or a hop count',
    );
  }
  for (const entry of entries) {
    if (PROXY_RANGE_NAMES.includes(entry)) continue;
    const [address, prefix, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || rest.length > 0)
      throw new Error(
        `has "${entry.slice(0, 64)}", which is not an IP address, a CIDR (address/prefix) or one of ${PROXY_RANGE_NAMES.join(', ')}`,
      );
  }
  return entries;
}

/** Where audit events are forwarded: `udp://`, `tcp://` (RFC 6587) or `tls://` (RFC 5425) with a host and a port. */
export interface SyslogAddress {
  protocol: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
}

const SYSLOG_DEFAULT_PORTS = { udp: 514, tcp: 514, tls: 6514 } as const;

export function parseSyslogUrl(raw: string): SyslogAddress {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('must be a URL such as udp://host:514, tcp://host:514 or tls://host:6514');
  }
  const protocol = url.protocol.slice(0, -1);
  if (protocol !== 'udp' && protocol !== 'tcp' && protocol !== 'tls') throw new Error('must start with udp://, tcp:// or tls://');
  if (url.hostname === '') throw new Error('must name a host');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.username !== '')
    throw new Error('takes only a host and a port (no path, query or user)');
  return {
    protocol,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? SYSLOG_DEFAULT_PORTS[protocol] : Number(url.port),
  };
}

/** Every setting Tally knows, by its camelCase name. The flag is `--kebab-case`, the env `TALLY_SNAKE_CASE`. */
export const settings = {
  dataDir: text('Directory for the SQLite database and the master key file.', './data'),
  databaseUrl: {
    ...text(
      'PostgreSQL URL (`postgres://user:password@host:5432/db`); without it the store is SQLite in the data dir. A failover list as libpq takes it: `postgres://user@h1:5432,h2:5432/db?target_session_attrs=read-write` (or `host=h1,h2 port=5432 dbname=db target_session_attrs=read-write`) tries the hosts in order for each new connection and uses the first that accepts writes (`any`, the default: the first that answers; `primary`: the first not in recovery).',
      undefined,
      { secret: true },
    ),
    parse: (raw: string) => {
      parsePostgresAddress(raw);
      return raw.trim().replace(/\/+$/, '');
    },
  },
  databaseSchema: {
    ...text("PostgreSQL schema to keep Tally's tables in (created if missing); default: the server's search path."),
    parse: (raw: string) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) throw new Error('must be lower-case letters, digits and underscores');
      return raw;
    },
  },
  sqliteSynchronous: oneOf(
    "How SQLite commits (SQLite only): `full` (the default) syncs the write-ahead log to disk before a commit returns, so every accept Tally answered (and the step it used up) survives a power cut; one sync covers a whole batch of concurrent authentications. `normal` syncs only at checkpoints: faster at low concurrency, but a power cut (not a crash of Tally alone) can forget the last moments' accepted steps, and a code used then would be accepted again.",
    SQLITE_SYNCHRONOUS_MODES,
    'full',
  ),
  masterKey: text(
    'The master key ring for seed encryption (`v1:<base64>` lines, or one base64 key); overrides `DATA_DIR/master.key`. Environment only.',
    undefined,
    { secret: true },
  ),
  logLevel: oneOf('Log level.', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  host: text('Address of the public listener (Self-Service Console, CT-KIP, downloads).', '0.0.0.0'),
  port: port('Port of the public listener.', 8080),
  adminHost: text('Address of the admin listener (Security Console, REST API); loopback by default.', '127.0.0.1'),
  adminPort: port('Port of the admin listener.', 8081),
  metricsToken: text(
    'A bearer token Prometheus must send to scrape `GET /metrics` on the admin listener (`Authorization: Bearer TOKEN`; in prometheus.yml, `authorization: {credentials: TOKEN}`). Without it /metrics answers whoever reaches the admin listener.',
    undefined,
    { secret: true },
  ),
  radiusHost: text('Address the RADIUS server listens on.', '0.0.0.0'),
  radiusPort: port('UDP port of the RADIUS server; 0 turns RADIUS off.', 1812),
  authnApiHost: text('Address of the RSA SecurID Authentication API listener.', '0.0.0.0'),
  authnApiPort: integer(
    "Port of the RSA SecurID Authentication API listener (RSA's REST agent protocol; RSA's own default is 5555). Off when absent.",
    undefined,
    0,
    65535,
  ),
  authnApiTlsCert: text('PEM certificate file for the Authentication API listener; needs --authn-api-tls-key. Agents expect HTTPS.'),
  authnApiTlsKey: text('PEM private key file for the Authentication API listener.'),
  authnAttemptSeconds: integer("How long an Authentication API attempt waits for the agent's next request, in seconds.", 600, 30, 3600),
  publicUrl: url(
    'The public URL users see in links, CT-KIP URLs and mails (e.g. behind a reverse proxy). Default: http://localhost:PORT.',
    ['http:', 'https:'],
  ),
  issuer: text('The issuer name authenticator apps show above the account, and token files carry.', 'Tally'),
  tlsCert: text('PEM certificate file for the public listener (HTTPS); needs --tls-key.'),
  tlsKey: text('PEM private key file for the public listener.'),
  adminTlsCert: text('PEM certificate file for the admin listener; needs --admin-tls-key.'),
  adminTlsKey: text('PEM private key file for the admin listener.'),
  trustProxy: {
    doc: 'The reverse proxies in front of the public listener whose X-Forwarded-For (and -Proto, -Host) Tally believes: IP addresses or CIDRs, comma-separated (e.g. `10.0.0.5,10.1.0.0/16`; also `loopback`, `linklocal`, `uniquelocal`). The client address (for rate limits, log-on delays and the audit) is then the last address in X-Forwarded-For not among them; a request from any other peer is taken at its own address, its headers ignored. `true` and hop counts are refused: they would believe any client. Default: no proxy trusted.',
    default: undefined,
    kind: 'string',
    parse: parseTrustedProxies,
  } satisfies Setting<string[]>,
  sessionIdleMinutes: integer('Console sessions end after this many minutes without a request.', 15, 1, 1440),
  sessionMaxHours: integer('Console sessions end this many hours after log-on, however active they are.', 8, 1, 720),
  ctkipRateLimit: integer(
    'CT-KIP requests allowed per minute from one client address, counted over every node on the store (more are answered with a RATE_LIMITED fault); 10 wrong activation codes from one address within an hour block it for the rest of the hour as well.',
    120,
    1,
    100000,
  ),
  maxRequestsInFlight: integer(
    'HTTP requests each listener works on at once; more are refused at once with 503 (OVERLOADED, Retry-After: 1), before their body is read, so that memory stays bounded under a flood. /healthz, /readyz and /metrics are always answered. RADIUS and REST authentications also wait in one queue of at most 10,000.',
    2000,
    10,
    100000,
  ),
  logonRateLimit: integer(
    'Console log-on attempts allowed per minute from one client address, counted over every node on the store (more are refused with 429); per username, growing log-on delays apply as well.',
    20,
    1,
    10000,
  ),
  selfServiceLogon: oneOf(
    'What a Self-Service Console log-on takes: `password`, or `password+passcode` (a user who has an active token also gives a passcode, PIN + tokencode; a wrong one looks like a wrong password and counts toward the passcode lockout).',
    ['password', 'password+passcode'] as const,
    'password',
  ),
  selfServiceEmergencyAccess: oneOf(
    'What a user who reports a token lost in the Self-Service Console gets in its place, shown once: `none`, a `one-time` emergency access code, or a `fixed` one that works any number of times; either works for 7 days.',
    ['none', 'one-time', 'fixed'] as const,
    'one-time',
  ),
  helpdeskCredentials: oneOf(
    'What a help desk administrator is shown when distributing a token or reporting one lost: `none` (the holder gets the activation code in the Self-Service Console, and a lost token gets no emergency access code from the help desk), or `one-time-codes` (activation codes and emergency access codes, which the help desk reads to a user whose identity it checked). Seeds, token files and their links never go to the help desk. Every credential shown to an administrator is recorded in the audit trail as `credential.shown`.',
    HELPDESK_CREDENTIAL_POLICIES,
    'none',
  ),
  smtpHost: text('SMTP server for the mails to token holders (token distributed, request decided); without it no mail is sent.'),
  smtpPort: port('Port of the SMTP server.', 587),
  smtpSecure: flag(
    'Talk TLS to the SMTP server from the first byte (usually port 465); otherwise STARTTLS is used when the server offers it, and required when --smtp-user is set.',
  ),
  smtpUser: text('SMTP user name, when the server wants authentication.'),
  smtpPassword: text('SMTP password (prefer the environment variable to the flag).', undefined, { secret: true }),
  mailFrom: text('The From address of mails to token holders.', 'Tally <tally@localhost>'),
  auditSyslog: {
    doc: 'Forward every audit event to a syslog server or SIEM as RFC 5424 messages: `udp://host:514`, `tcp://host:514` (octet-counted frames, RFC 6587) or `tls://host:6514` (RFC 5425). Events are read from the audit table behind a cursor kept in the store, so a restart or an outage of the server loses none (at least once); one node at a time forwards. Default: off.',
    default: undefined,
    kind: 'string',
    parse: parseSyslogUrl,
  } satisfies Setting<SyslogAddress>,
  auditSyslogCaFile: text("PEM file of the CA certificates that `tls://` syslog servers are checked against instead of the system's."),
  initIfNeeded: flag('On first start, initialise the store and create an admin with a generated password (used by `npm start`).'),
} satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof settings;
type ValueOf<S> = S extends Setting<infer T> ? T : never;
export type Config<N extends SettingName> = { [K in N]: ValueOf<(typeof settings)[K]> | undefined };

export function flagName(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function envName(name: string): string {
  return `TALLY_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** The variable naming a file that holds a secret setting's value (`TALLY_MASTER_KEY_FILE`). */
export function fileEnvName(name: string): string {
  return `${envName(name)}_FILE`;
}

/**
 * A setting's raw value from the environment, and where it came from. A secret setting may come
 * from the file its `_FILE` variable names instead (trailing line breaks dropped, as editors and
 * `echo` add them). Both set is an error rather than a silent choice; an unreadable or empty file
 * is named, its content never shown.
 */
function fromEnvironment(name: string, setting: Setting<unknown>, env: NodeJS.ProcessEnv): { raw: string | undefined; source: string } {
  const direct = env[envName(name)];
  const file = setting.secret ? env[fileEnvName(name)] : undefined;
  if (file === undefined || file === '') return { raw: direct, source: envName(name) };
  const source = fileEnvName(name);
  if (direct !== undefined && direct !== '')
    throw new TallyError('CONFIG_INVALID', `${envName(name)} and ${source} are both set; set one of them.`);
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
  } catch (error) {
    throw new TallyError(
      'CONFIG_INVALID',
      `${source} names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
  if (raw.trim() === '') throw new TallyError('CONFIG_INVALID', `${source} names ${file}, which is empty.`);
  return { raw, source };
}

/**
 * Resolves the named settings from flags (already split by the CLI), then the environment, then
 * defaults. A bad value throws CONFIG_INVALID naming the flag (or variable) and what is allowed.
 */
export function resolveConfig<N extends SettingName>(
  names: readonly N[],
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv = process.env,
): Config<N> {
  const config = {} as Record<string, unknown>;
  for (const name of names) {
    const setting = settings[name] as Setting<unknown>;
    const fromFlag = flags[name];
    // A flag wins over the environment, so the environment (and a secret's file) is not read then.
    const { raw, source } = fromFlag !== undefined ? { raw: fromFlag, source: flagName(name) } : fromEnvironment(name, setting, env);
    if (raw === undefined || (raw === '' && fromFlag === undefined)) {
      config[name] = setting.default;
      continue;
    }
    if (typeof raw === 'boolean') {
      config[name] = raw;
      continue;
    }
    try {
      config[name] = setting.parse(raw);
    } catch (error) {
      const shown = setting.secret ? '' : ` (got "${raw.length > 80 ? `${raw.slice(0, 80)}…` : raw}")`;
      throw new TallyError('CONFIG_INVALID', `${source} ${(error as Error).message}${shown}.`);
    }
  }
  return config as Config<N>;
}

/** The Markdown reference of every setting, for docs/configuration.md. */
export function configurationReference(): string {
  const rows = Object.entries(settings).map(([name, s]) => {
    const setting = s as Setting<unknown>;
    const shown = setting.default === undefined ? '—' : `\`${String(setting.default)}\``;
    const flagCell = name === 'masterKey' ? '—' : `\`${flagName(name)}\``;
    const envCell = setting.secret ? `\`${envName(name)}\` or \`${fileEnvName(name)}\`` : `\`${envName(name)}\``;
    return `| ${flagCell} | ${envCell} | ${shown} | ${setting.doc} |`;
  });
  return [
    '# Configuration',
    '',
    'Generated from `src/config.ts` by `npm run docs:config`; do not edit by hand.',
    '',
    'Every setting is a command-line flag or a `TALLY_*` environment variable; a flag wins over the',
    'environment. Values are checked at start-up: a bad one stops Tally with a message naming the',
    'setting and what is allowed, and exit code 2.',
    '',
    'A secret setting (a key, a password, a database URL) can instead be read from a file: set',
    '`TALLY_X_FILE` to its path (the container secrets convention, e.g. `/run/secrets/tally_master_key`).',
    'A trailing line break is dropped; setting both `TALLY_X` and `TALLY_X_FILE` is an error, and so is',
    'a file Tally cannot read or an empty one (the message names the variable and the path, never the content).',
    '',
    '| flag | environment | default | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
