import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { benchDatabaseUrl, postmasterPids } from './postgres.js';
import { RadiusClient, type RadiusEndpoint } from './radius-client.js';
import type { RadiusServer, RadiusTarget } from './targets.js';
import { BENCH_PERIOD, type BenchUser } from './users.js';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const LOG_LIMIT = 64 * 1024;

/**
 * The whole server configuration, self-contained so that nothing under /etc/freeradius is read
 * or changed.
 *
 * - `max_requests`: FreeRADIUS keeps each request for `cleanup_delay` (5 s) after replying, to
 *   answer retransmissions; at 20,000 requests/s the stock 16,384 would make it drop requests.
 * - `reject_delay = 0`: the stock 1 s delay would turn every wrong code into a 1 s stall.
 * - The thread pool is the stock one, so the figures are those of a stock install.
 * - `require_message_authenticator`: Tally requires it by default, so both servers check it.
 * - rlm_totp has only an `authenticate` method and reads the code from TOTP-Password, so
 *   `authorize` copies the PAP password there, lets `files` put the user's TOTP-Secret in the
 *   control list and hands the request to totp.
 * - With `replay`, a code rlm_totp accepted is then marked used the way Tally marks it: a
 *   conditional UPDATE of the user's last step through rlm_sql, and a reject when it changes no
 *   row. rlm_totp accepts only the request's own step, so that step is `%l / 30`.
 */
export function freeradiusConfig(
  dir: string,
  port: number,
  secret: string,
  replay?: Pick<ReplayDatabase, 'sqlConnection' | 'table'>,
): string {
  const replayModules = replay
    ? `
  expr {
  }
  always reject {
    rcode = reject
  }
  sql {
    ${replay.sqlConnection}
    read_clients = no
    pool {
      start = 4
      min = 4
      max = 32
      spare = 8
      uses = 0
      lifetime = 0
      idle_timeout = 0
    }
  }`
    : '';
  const step = `%{expr:%l / ${BENCH_PERIOD}}`;
  const authenticate = replay
    ? `Auth-Type totp {
      totp
      if ("%{sql:UPDATE ${replay.table} SET step = ${step} WHERE username = '%{User-Name}' AND step < ${step}}" != 1) {
        reject
      }
    }`
    : 'totp';
  return `prefix = /usr
raddbdir = ${dir}
localstatedir = ${dir}
logdir = ${dir}
run_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/radiusd.pid
max_requests = 1048576
security {
  reject_delay = 0
}
thread pool {
  start_servers = 5
  max_servers = 32
  min_spare_servers = 3
  max_spare_servers = 10
}
client bench {
  ipaddr = ${HOST}
  secret = "${secret}"
  require_message_authenticator = yes
}
modules {
  files {
    filename = ${dir}/users
  }
  totp {
  }${replayModules}
}
server bench {
  listen {
    type = auth
    ipaddr = ${HOST}
    port = ${port}
  }
  authorize {
    files
    update request {
      &TOTP-Password := &User-Password
    }
    update control {
      &Auth-Type := totp
    }
  }
  authenticate {
    ${authenticate}
  }
}
`;
}

/** One users-file entry per user: a check item with `:=` lands in the control list, where rlm_totp looks. */
export function freeradiusUsers(users: readonly BenchUser[]): string {
  return users.map((user) => `${user.username} TOTP-Secret := "${user.seedBase32}"\n`).join('');
}

/** A UDP port that was free a moment ago; FreeRADIUS binds it right after. */
async function freeUdpPort(): Promise<number> {
  const probe = dgram.createSocket('udp4');
  probe.bind(0, HOST);
  await once(probe, 'listening');
  const { port } = probe.address();
  probe.close();
  return port;
}

function checkConfig(dir: string): void {
  const check = spawnSync('freeradius', ['-C', '-l', 'stdout', '-d', dir], { encoding: 'utf8' });
  if (check.error) throw new Error(`Cannot run freeradius (Debian package freeradius): ${check.error.message}`);
  if (check.status !== 0) {
    const errors = `${check.stdout}${check.stderr}`.split('\n').filter((line) => /error/i.test(line));
    throw new Error(
      `FreeRADIUS rejects the benchmark configuration ${dir}/radiusd.conf (kept for a look):\n${errors.join('\n') || check.stdout + check.stderr}`,
    );
  }
}

/** Resolves once the server answers an Access-Request (a Reject for an unknown user will do). */
async function waitUntilAnswering(endpoint: RadiusEndpoint, failed: Promise<never>): Promise<void> {
  const client = await RadiusClient.open(endpoint);
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if ((await Promise.race([client.request('bench-readiness-probe', '000000', 200), failed])) !== 'lost') return;
      await sleep(100);
    }
    throw new Error(`freeradius did not answer within ${READY_TIMEOUT_MS / 1000} s`);
  } finally {
    client.close();
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Where FreeRADIUS keeps replay state: one row per user with the last step it accepted. */
export interface ReplayDatabase {
  /** The rlm_sql settings that reach it. */
  sqlConnection: string;
  /** The table, as the UPDATE names it. */
  table: string;
  /** Processes whose CPU is the server's too (PostgreSQL's postmaster and backends). */
  pids: number[];
  remove(): Promise<void>;
}

/**
 * rlm_sql opens SQLite with its default synchronous = FULL and offers no setting, so every commit
 * waits for an fsync of the log, as Tally's (`--sqlite-synchronous full`, the default) does once
 * per batch. The file lives where Tally's benchmark store does (the OS temp dir, which must be on
 * disk for the figures to mean anything: the report names its file system), so both pay the same
 * disk's syncs.
 */
/** In WAL mode, as Tally's store is. */
function sqliteReplayDatabase(users: readonly BenchUser[], parent: string): ReplayDatabase {
  const dir = mkdtempSync(join(parent, 'tally-bench-freeradius-replay-'));
  const file = join(dir, 'replay.db');
  const database = new BetterSqlite3(file);
  try {
    database.pragma('journal_mode = WAL');
    database.exec('create table totp_steps (username text primary key, step integer not null)');
    const insert = database.prepare('insert into totp_steps (username, step) values (?, 0)');
    database.transaction(() => {
      for (const user of users) insert.run(user.username);
    })();
  } finally {
    database.close();
  }
  return {
    sqlConnection: `driver = "rlm_sql_sqlite"
    dialect = "sqlite"
    sqlite {
      filename = "${file}"
      busy_timeout = 5000
    }`,
    table: 'totp_steps',
    pids: [],
    remove: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** In a schema of its own on the PostgreSQL Tally's benchmark uses, with the server's own commit settings. */
async function postgresReplayDatabase(users: readonly BenchUser[]): Promise<ReplayDatabase> {
  const url = new URL(benchDatabaseUrl());
  const schema = `bench_freeradius_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  try {
    // One transaction, so that a failure leaves no schema behind.
    await client.query('begin');
    await client.query(`create schema ${schema}`);
    await client.query(`create table ${schema}.totp_steps (username text primary key, step bigint not null)`);
    await client.query(`insert into ${schema}.totp_steps (username, step) select unnest($1::text[]), 0`, [
      users.map((user) => user.username),
    ]);
    await client.query('commit');
    await client.query(`analyze ${schema}.totp_steps`);
  } finally {
    await client.end();
  }
  return {
    sqlConnection: `driver = "rlm_sql_postgresql"
    dialect = "postgresql"
    server = "${url.hostname}"
    port = ${url.port || 5432}
    login = "${decodeURIComponent(url.username)}"
    password = "${decodeURIComponent(url.password)}"
    radius_db = "${url.pathname.slice(1)}"`,
    table: `${schema}.totp_steps`,
    pids: postmasterPids(),
    async remove() {
      const cleanup = new pg.Client({ connectionString: url.href });
      await cleanup.connect();
      await cleanup.query(`drop schema if exists ${schema} cascade`).finally(() => cleanup.end());
    },
  };
}

/** FreeRADIUS 3.2 with rlm_totp, started in the foreground (`-f`, not `-X`, whose logging would dominate). */
/** `replayIn`: where replay state is kept, if anywhere: SQLite (in a new directory under `sqliteParent`) or PostgreSQL. */
async function startFreeradius(
  users: readonly BenchUser[],
  replayIn?: 'sqlite' | 'postgres',
  sqliteParent = tmpdir(),
): Promise<RadiusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-bench-freeradius-'));
  const secret = randomBytes(12).toString('hex');
  const port = await freeUdpPort();
  const replay =
    replayIn === 'sqlite'
      ? sqliteReplayDatabase(users, sqliteParent)
      : replayIn === 'postgres'
        ? await postgresReplayDatabase(users)
        : undefined;
  writeFileSync(join(dir, 'radiusd.conf'), freeradiusConfig(dir, port, secret, replay));
  // raddbdir must have a (here empty) local dictionary; the stock one is read from /usr/share.
  writeFileSync(join(dir, 'dictionary'), '');
  writeFileSync(join(dir, 'users'), freeradiusUsers(users));
  try {
    checkConfig(dir);
  } catch (error) {
    // The directory stays, for the reader of the error to look at; the replay rows are of no help there.
    await replay?.remove();
    throw error;
  }

  const server = spawn('freeradius', ['-f', '-l', 'stdout', '-d', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-LOG_LIMIT);
  };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  const failed = new Promise<never>((_, reject) => {
    server.once('error', reject);
    server.once('exit', (code, signal) => reject(new Error(`freeradius exited (${signal ?? code})`)));
  });
  // Only the readiness wait listens to `failed`; later it settles when stop() ends the process.
  failed.catch(() => {});
  const stop = async () => {
    await stopProcess(server);
    rmSync(dir, { recursive: true, force: true });
    await replay?.remove();
  };
  try {
    await waitUntilAnswering({ host: HOST, port, secret }, failed);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}; its output:\n${log}`);
  }
  return { host: HOST, port, secret, pids: [server.pid as number], stop };
}

export const freeradiusTotp: RadiusTarget = {
  name: 'freeradius-totp',
  note:
    'rlm_totp (FreeRADIUS 3.2.1) keeps no replay state, so a code is accepted any number of times, and accepts only the current 30 s step; ' +
    'Tally persists replay state on every accept.',
  start: (users) => startFreeradius(users),
};

export const freeradiusTotpSqliteReplay: RadiusTarget = {
  name: 'freeradius-totp-sqlite-replay',
  note:
    'FreeRADIUS 3.2.1 + rlm_totp with replay state kept as Tally keeps it: after rlm_totp accepts, rlm_sql runs a conditional UPDATE of the ' +
    "user's last step in SQLite (WAL, synchronous = FULL: an fsync per commit, on the same disk as Tally's store) and rejects when no row changes; " +
    'one commit per request (rlm_sql has no group commit), no audit trail.',
  start: (users) => startFreeradius(users, 'sqlite'),
};

/**
 * The same peer with its SQLite file under `parent`: the harness test puts it on a memory file
 * system, so that a disk other jobs keep busy cannot time its requests out.
 */
export function freeradiusTotpSqliteReplayUnder(parent: string): RadiusTarget {
  return { ...freeradiusTotpSqliteReplay, start: (users) => startFreeradius(users, 'sqlite', parent) };
}

export const freeradiusTotpPostgresReplay: RadiusTarget = {
  name: 'freeradius-totp-postgres-replay',
  note:
    "As freeradius-totp-sqlite-replay, with the user's last step in PostgreSQL (rlm_sql_postgresql, Debian freeradius-postgresql; the same server " +
    "and settings as Tally's, its backends' CPU included): one commit per request, no audit trail.",
  start: (users) => startFreeradius(users, 'postgres'),
};
