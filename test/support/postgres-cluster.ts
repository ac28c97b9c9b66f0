import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.js';

const BIN = '/usr/lib/postgresql/15/bin';

/** Whether a private PostgreSQL cluster can be made here (the server binaries and a `postgres` user). */
export function canRunPrivateCluster(): boolean {
  return existsSync(join(BIN, 'initdb')) && spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status === 0;
}

export interface PrivateCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`. */
  url: string;
  port: number;
  start(): void;
  /** `fast`: clients are told and disconnected; `immediate`: the server dies as on a crash. */
  stop(mode?: 'fast' | 'immediate'): void;
  destroy(): void;
}

/**
 * A PostgreSQL 15 cluster of the test's own, on a free loopback port, that the test stops and
 * starts under a serving Tally. initdb refuses root, so the server runs as the `postgres` user in
 * a temp dir it owns; fsync is off (the cluster is thrown away).
 */
export async function createPrivateCluster(): Promise<PrivateCluster> {
  const root = mkdtempSync(join(tmpdir(), 'tally-pg-'));
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(root, uid, gid);
  const data = join(root, 'data');
  const asPostgres = (command: string, args: string[]) => {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
  };
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
  const port = await freePort();
  const serverOptions = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const cluster: PrivateCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => asPostgres('pg_ctl', ['-D', data, '-o', serverOptions, '-l', join(root, 'log'), '-w', '-t', '60', 'start']),
    stop: (mode = 'fast') => asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']),
    destroy: () => {
      spawnSync('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
      rmSync(root, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}
