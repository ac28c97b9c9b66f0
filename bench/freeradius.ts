import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RadiusClient, type RadiusEndpoint } from './radius-client.js';
import type { RadiusServer, RadiusTarget } from './targets.js';
import type { BenchUser } from './users.js';

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
 */
export function freeradiusConfig(dir: string, port: number, secret: string): string {
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
  }
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
    totp
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
    throw new Error(`FreeRADIUS rejects the benchmark configuration ${dir}/radiusd.conf (kept for a look):\n${errors.join('\n') || check.stdout + check.stderr}`);
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

/** FreeRADIUS 3.2 with rlm_totp, started in the foreground (`-f`, not `-X`, whose logging would dominate). */
export const freeradiusTotp: RadiusTarget = {
  name: 'freeradius-totp',
  note:
    'rlm_totp (FreeRADIUS 3.2.1) keeps no replay state, so a code is accepted any number of times, and accepts only the current 30 s step; ' +
    'Tally persists replay state on every accept.',
  async start(users): Promise<RadiusServer> {
    const dir = mkdtempSync(join(tmpdir(), 'tally-bench-freeradius-'));
    const secret = randomBytes(12).toString('hex');
    const port = await freeUdpPort();
    writeFileSync(join(dir, 'radiusd.conf'), freeradiusConfig(dir, port, secret));
    // raddbdir must have a (here empty) local dictionary; the stock one is read from /usr/share.
    writeFileSync(join(dir, 'dictionary'), '');
    writeFileSync(join(dir, 'users'), freeradiusUsers(users));
    // On failure the directory stays, for the reader of the error to look at.
    checkConfig(dir);

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
    };
    try {
      await waitUntilAnswering({ host: HOST, port, secret }, failed);
    } catch (e) {
      await stop();
      throw new Error(`${(e as Error).message}; its output:\n${log}`);
    }
    return { host: HOST, port, secret, pids: [server.pid as number], stop };
  },
};
