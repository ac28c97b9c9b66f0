import { isIP } from 'node:net';

/**
 * Which server of a failover address list a connection may use (libpq's `target_session_attrs`):
 * `any` takes the first that answers; `read-write` the first whose sessions accept writes
 * (`SHOW transaction_read_only` is off); `primary` the first not in recovery (`pg_is_in_recovery()`).
 * libpq's `read-only`, `standby` and `prefer-standby` are refused: Tally writes on every connection.
 */
export const TARGET_SESSION_ATTRS = ['any', 'read-write', 'primary'] as const;
export type TargetSessionAttrs = (typeof TARGET_SESSION_ATTRS)[number];

export interface PostgresServer {
  /** A name, an IPv4 or IPv6 address (without brackets), or a Unix socket directory. */
  host: string;
  port: number;
}

/** A parsed `--database-url`: the servers to try in order, and one node-postgres URL for each. */
export interface PostgresAddress {
  servers: PostgresServer[];
  targetSessionAttrs: TargetSessionAttrs;
  /** `servers[i]`'s single-host URL (credentials, database and other parameters kept; holds the password). */
  urls: string[];
  /** `h1:5432,[::1]:5433/db`: where the data is, for messages (never the user or password). */
  description: string;
}

export const POSTGRES_DEFAULT_PORT = 5432;

/**
 * Parses a libpq-style connection string, either a URL with a list of hosts
 * (`postgres://user:pw@h1:5432,[::1]:5433/db?target_session_attrs=read-write`) or keyword/value
 * pairs (`host=h1,h2 port=5432,5433 user=u dbname=db`). node-postgres takes one host only, so
 * Tally tries the list itself. Throws a plain Error whose message starts with "must" or "has" (the
 * config schema names the setting before it) and never holds the user's password.
 */
export function parsePostgresAddress(raw: string): PostgresAddress {
  const text = raw.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return parseUrlForm(text);
  if (/^\s*[a-z_]+\s*=/i.test(text)) return parseKeywordForm(text);
  throw new Error('must be a URL starting with postgres: or postgresql:, or libpq keyword/value pairs (host=... dbname=...)');
}

const URL_FORM = /^(postgres(?:ql)?):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i;

function parseUrlForm(text: string): PostgresAddress {
  const match = URL_FORM.exec(text.replace(/\/+$/, ''));
  if (!match) throw new Error('must be a URL starting with postgres: or postgresql:');
  const [, scheme, userInfo, hostList = '', path = '', query = ''] = match;
  if (userInfo !== undefined) decode(userInfo, 'its user or password');
  decode(path, 'its database name');
  const parameters = parseQuery(query);
  const entries = hostList.split(',');
  const servers = entries.map(parseHostEntry);
  const kept = parameters.filter(([name]) => name !== 'target_session_attrs');
  const rest = `${path}${kept.length ? `?${kept.map(([name, value]) => `${encode(name)}=${encode(value)}`).join('&')}` : ''}`;
  const credentials = userInfo === undefined ? '' : `${userInfo}@`;
  return {
    servers,
    targetSessionAttrs: targetSessionAttrs(parameters),
    urls: entries.map((entry) => `${scheme}://${credentials}${entry}${rest}`),
    description: `${servers.map(describeServer).join(',')}${decode(path, 'its database name')}`,
  };
}

/** One `host[:port]` of the URL's host list: `[v6]` in brackets, a percent-encoded socket directory, or a name. */
function parseHostEntry(entry: string): PostgresServer {
  const bracketed = /^\[([^\]]*)\](?::([^:]*))?$/.exec(entry);
  const plain = /^([^:[\]]*)(?::([^:]*))?$/.exec(entry);
  const [, hostText, portText] = bracketed ?? plain ?? [];
  if (hostText === undefined) throw new Error(`has a host it cannot read in its host list ("${entry}"; an IPv6 address goes in brackets)`);
  if (bracketed && isIP(hostText) !== 6) throw new Error(`has "[${hostText}]" in its host list, which is not an IPv6 address`);
  const host = decode(hostText, 'a host');
  if (host === '') throw new Error('has an empty host in its host list');
  if (!bracketed && !host.startsWith('/') && !/^[A-Za-z0-9._-]+$/.test(host)) {
    throw new Error(`has "${hostText}" in its host list, which is not a host name or address`);
  }
  return { host, port: parsePort(portText) };
}

function parsePort(text: string | undefined): number {
  if (text === undefined || text === '') return POSTGRES_DEFAULT_PORT;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new Error(`has the port "${text}", which is not a number from 1 to 65535`);
  }
  return Number(text);
}

function parseQuery(query: string): Array<[string, string]> {
  if (query === '') return [];
  return query.split('&').map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`has the parameter "${pair}" without a name=value form`);
    const name = decode(pair.slice(0, at), 'a parameter name');
    // A password given as a parameter is decoded but never shown.
    return [name, decode(pair.slice(at + 1), name === 'password' ? 'its password' : `the parameter ${name}`)];
  });
}

function targetSessionAttrs(parameters: ReadonlyArray<[string, string]>): TargetSessionAttrs {
  const given = parameters.filter(([name]) => name === 'target_session_attrs').map(([, value]) => value);
  if (given.length > 1) throw new Error('has target_session_attrs more than once');
  const value = given[0] ?? 'any';
  if (!(TARGET_SESSION_ATTRS as readonly string[]).includes(value)) {
    throw new Error(`has target_session_attrs=${value}; Tally writes, so it takes ${TARGET_SESSION_ATTRS.join(', ')}`);
  }
  return value as TargetSessionAttrs;
}

/**
 * libpq's keyword/value form: `key=value` pairs split by spaces, a value in single quotes when it
 * holds spaces (`\'` and `\\` escaped). `host` and `port` take comma-separated lists; one port
 * serves every host.
 */
function parseKeywordForm(text: string): PostgresAddress {
  const pairs = new Map<string, string>();
  const pattern = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)*))\s*/y;
  let at = 0;
  while (at < text.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) throw new Error('has a keyword/value pair it cannot read (write key=value, quoting a value with spaces in single quotes)');
    const [, name = '', quoted, bare = ''] = match;
    if (pairs.has(name)) throw new Error(`has ${name} more than once`);
    pairs.set(name, (quoted ?? bare).replace(/\\(.)/g, '$1'));
    at = pattern.lastIndex;
  }
  if (pairs.has('hostaddr')) throw new Error('has hostaddr, which Tally does not take; list the addresses in host');
  const hosts = (pairs.get('host') ?? 'localhost').split(',');
  const ports = (pairs.get('port') ?? '').split(',');
  if (ports.length !== 1 && ports.length !== hosts.length)
    throw new Error(`has ${hosts.length} hosts and ${ports.length} ports; give one port or one per host`);
  const servers = hosts.map((host, index) => {
    if (host === '') throw new Error('has an empty host in its host list');
    if (host.includes(':') && isIP(host) !== 6) throw new Error(`has "${host}" in its host list, which is not a host name or address`);
    return { host, port: parsePort(ports.length === 1 ? ports[0] : ports[index]) };
  });
  const user = pairs.get('user');
  const password = pairs.get('password');
  const database = pairs.get('dbname') ?? '';
  const credentials = user === undefined ? '' : `${encode(user)}${password === undefined ? '' : `:${encode(password)}`}@`;
  const others = [...pairs].filter(([name]) => !['host', 'port', 'user', 'password', 'dbname', 'target_session_attrs'].includes(name));
  const rest = `/${encode(database)}${others.length ? `?${others.map(([name, value]) => `${name}=${encode(value)}`).join('&')}` : ''}`;
  const given = pairs.get('target_session_attrs');
  return {
    servers,
    targetSessionAttrs: targetSessionAttrs(given === undefined ? [] : [['target_session_attrs', given]]),
    urls: servers.map((server) => `postgres://${credentials}${urlHost(server)}${rest}`),
    description: `${servers.map(describeServer).join(',')}/${database}`,
  };
}

/** `host:port`, an IPv6 address in brackets. */
export function describeServer(server: PostgresServer): string {
  return `${isIP(server.host) === 6 ? `[${server.host}]` : server.host}:${server.port}`;
}

function urlHost(server: PostgresServer): string {
  const host = isIP(server.host) === 6 ? `[${server.host}]` : encode(server.host);
  return `${host}:${server.port}`;
}

function encode(value: string): string {
  return encodeURIComponent(value);
}

/** Percent-decodes a part; a bad escape names the part, never its text (it may be the password). */
function decode(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new Error(`has a bad percent-encoding in ${what}`);
  }
}
