import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.js';
import { eventually } from './node.js';

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
  /** Runs SQL through psql as the superuser and gives the unaligned, tuples-only output. */
  psql(statement: string): string;
  /**
   * Makes a streaming standby of this (running) cluster with `pg_basebackup -R`, started on a port
   * of its own. With `synchronous`, this cluster then waits for the standby to have every commit
   * before it answers it (`synchronous_standby_names`), as a failover without lost steps needs.
   */
  createStandby(options?: { synchronous?: boolean }): Promise<PrivateCluster>;
  /** A standby becomes a primary (`pg_ctl promote`, waiting until it takes writes). */
  promote(): void;
  destroy(): void;
}

/**
 * A PostgreSQL 15 cluster of the test's own, on a free loopback port, that the test stops and
 * starts under a serving Tally. initdb refuses root, so the server runs as the `postgres` user in
 * a temp dir it owns; fsync is off (the cluster is thrown away).
 */
export async function createPrivateCluster(): Promise<PrivateCluster> {
  const root = ownedTempDir();
  const data = join(root, 'data');
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
  const cluster = clusterIn(root, await freePort());
  cluster.start();
  return cluster;
}

function ownedTempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'tally-pg-'));
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(root, uid, gid);
  return root;
}

function asPostgres(command: string, args: string[]): string {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** The cluster whose data directory is ROOT/data, served on PORT with its socket in ROOT. */
function clusterIn(root: string, port: number): PrivateCluster {
  const data = join(root, 'data');
  const serverOptions = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const cluster: PrivateCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => {
      asPostgres('pg_ctl', ['-D', data, '-o', serverOptions, '-l', join(root, 'log'), '-w', '-t', '60', 'start']);
    },
    stop: (mode = 'fast') => {
      asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    psql: (statement) => asPostgres('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-XAtq', '-c', statement]).trim(),
    async createStandby(options = {}) {
      const standbyRoot = ownedTempDir();
      asPostgres('pg_basebackup', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-D',
        join(standbyRoot, 'data'),
        '-R',
        '-X',
        'stream',
        '--no-sync',
      ]);
      const standby = clusterIn(standbyRoot, await freePort());
      standby.start();
      await eventually('the standby streams', async () =>
        cluster.psql('select count(*) from pg_stat_replication where state = $$streaming$$') === '1' ? true : undefined,
      );
      if (options.synchronous) {
        cluster.psql(`alter system set synchronous_standby_names = '*'`);
        cluster.psql('select pg_reload_conf()');
        await eventually('the standby is synchronous', async () =>
          cluster.psql('select count(*) from pg_stat_replication where sync_state = $$sync$$') === '1' ? true : undefined,
        );
      }
      return standby;
    },
    promote: () => {
      asPostgres('pg_ctl', ['-D', data, '-w', '-t', '60', 'promote']);
    },
    destroy: () => {
      spawnSync('runuser', ['-u', 'postgres', '--', join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
      rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}
