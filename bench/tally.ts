import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { generateMasterKey, makeKeyring } from '../src/core/crypto/secret-box.js';
import { systemActor } from '../src/domain/actor.js';
import { systemClock } from '../src/domain/clock.js';
import { createServices } from '../src/domain/services.js';
import { initialiseStore } from '../src/domain/setup.js';
import type { SqliteSynchronous } from '../src/model/vocabulary.js';
import { migrateToLatest, openStore } from '../src/store/connect.js';
import { writeKeyringFile } from '../src/store/master-key.js';
import { freeradiusTotpPostgresReplay, freeradiusTotpSqliteReplay } from './freeradius.js';
import { benchDatabaseUrl, postmasterPids } from './postgres.js';
import type { RadiusServer, RadiusTarget } from './targets.js';
import type { BenchUser } from './users.js';

const HOST = '127.0.0.1';
const SECRET = 'tally-bench-secret';
const entry = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const root = fileURLToPath(new URL('../', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Provisions the users straight into the store (bulk inserts: the benchmark measures verifying, not
 * provisioning), each with an active TOTP token whose seed is sealed like any other.
 */
async function provision(
  dataDir: string,
  databaseUrl: string | undefined,
  schema: string | undefined,
  users: readonly BenchUser[],
  ctkipTokens: number,
): Promise<{ agentToken: string; activationCodes: string[] }> {
  // Set-up is not measured: its many small commits need not wait for the disk (the server opens the store itself).
  const store = await openStore({ dataDir, databaseUrl, schema, sqliteSynchronous: 'normal' });
  try {
    await migrateToLatest(store);
    const keyring = makeKeyring([generateMasterKey(1)]);
    writeKeyringFile(dataDir, keyring);
    await initialiseStore(store, keyring, { username: 'bench-admin', password: 'bench-admin-password' }, systemClock);
    const services = createServices(store, keyring, systemClock);
    await services.radiusClients.create(systemActor, { name: 'bench', address: HOST, secret: SECRET });
    const now = Date.now();
    for (let i = 0; i < users.length; i += 500) {
      const chunk = users.slice(i, i + 500);
      await store.db.transaction().execute(async (trx) => {
        const rows = await trx
          .insertInto('users')
          .values(
            chunk.map((u) => ({
              username: u.username,
              password_hash: null,
              email: null,
              first_name: null,
              last_name: null,
              role: 'user' as const,
              disabled: 0,
              failed_logons: 0,
              locked_until: null,
              created_at: now,
              updated_at: now,
            })),
          )
          .returning(['id', 'username'])
          .execute();
        const ids = new Map(rows.map((r) => [r.username, r.id]));
        await trx
          .insertInto('tokens')
          .values(
            chunk.map((u, j) => {
              const serial = `BENCH${String(i + j).padStart(7, '0')}`;
              return {
                serial,
                token_type: 'totp' as const,
                state: 'active' as const,
                origin: 'imported' as const,
                user_id: ids.get(u.username)!,
                profile_id: null,
                label: null,
                seed_sealed: services.tokens.sealSeed(serial, u.seed),
                digits: 6,
                period: 30,
                algorithm: 'SHA1' as const,
                last_step: null,
                expires_on: null,
                attributes: null,
                disabled_reason: null,
                created_at: now,
                updated_at: now,
                activated_at: now,
                last_used_at: null,
                emergency_hash: null,
                emergency_expires_at: null,
                emergency_one_time: null,
              };
            }),
          )
          .execute();
      });
    }
    const { token: agentToken } = await services.apiTokens.create(systemActor, { name: 'bench-agent', role: 'agent' });
    const activationCodes: string[] = [];
    if (ctkipTokens > 0) {
      await services.profiles.create(systemActor, {
        name: 'bench-ctkip',
        tokenType: 'securid',
        deviceType: 'tally-cli',
        delivery: 'ctkip',
      });
      // The most tokens a user may hold (the setting's ceiling), so that few holders are needed.
      const tokensPerHolder = 100;
      await services.settings.change(systemActor, { tokensPerUser: tokensPerHolder });
      for (let i = 0; i < ctkipTokens; i++) {
        const holder = `bench-ctkip-holder-${Math.floor(i / tokensPerHolder)}`;
        if (i % tokensPerHolder === 0) await services.users.create(systemActor, { username: holder });
        activationCodes.push((await services.distribution.distributeToUser(systemActor, holder, 'bench-ctkip')).activationCode!);
      }
    }
    if (store.dialect === 'postgres') await sql`analyze`.execute(store.db);
    return { agentToken, activationCodes };
  } finally {
    await store.close();
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** A running Tally for the benchmarks: RADIUS, the admin API (agent token) and CT-KIP. */
export interface TallyServer extends RadiusServer {
  adminUrl: string;
  publicUrl: string;
  agentToken: string;
  activationCodes: string[];
}

export async function startTally(
  dialect: 'sqlite' | 'postgres',
  users: readonly BenchUser[],
  ctkipTokens = 0,
  sqliteSynchronous: SqliteSynchronous = 'full',
  /** More `tally serve` options (the overload run's bound). */
  serveOptions: readonly string[] = [],
): Promise<TallyServer> {
  const databaseUrl = dialect === 'postgres' ? benchDatabaseUrl() : undefined;
  const schema = dialect === 'postgres' ? `bench_${randomBytes(4).toString('hex')}` : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-bench-'));
  const { agentToken, activationCodes } = await provision(dataDir, databaseUrl, schema, users, ctkipTokens);
  const [port, adminPort, radiusPort] = [await freePort(), await freePort(), await freePort()];
  // TALLY_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the server under load.
  const nodeArgs = (process.env.TALLY_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [
    ...nodeArgs,
    '--import',
    'tsx',
    entry,
    'serve',
    '--data-dir',
    dataDir,
    '--host',
    HOST,
    '--port',
    String(port),
    '--admin-port',
    String(adminPort),
    '--radius-host',
    HOST,
    '--radius-port',
    String(radiusPort),
    '--log-level',
    'warn',
    ...serveOptions,
  ];
  if (databaseUrl) args.push('--database-url', databaseUrl, '--database-schema', schema!);
  else args.push('--sqlite-synchronous', sqliteSynchronous);
  const server = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Generous: on a machine loaded by other jobs, compiling and starting the server can take a minute.
  const deadline = Date.now() + 120_000;
  while (!output.includes('Tally is running')) {
    if (server.exitCode !== null || Date.now() > deadline) {
      await stopProcess(server);
      throw new Error(`tally serve did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pids = [server.pid as number, ...(dialect === 'postgres' ? postmasterPids() : [])];
  return {
    host: HOST,
    port: radiusPort,
    secret: SECRET,
    pids,
    adminUrl: `http://${HOST}:${adminPort}`,
    publicUrl: `http://${HOST}:${port}`,
    agentToken,
    activationCodes,
    async stop() {
      await stopProcess(server);
      if (schema && databaseUrl) {
        const store = await openStore({ dataDir, databaseUrl });
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
        await store.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function tallyTarget(dialect: 'sqlite' | 'postgres'): RadiusTarget {
  return {
    name: `tally-${dialect}`,
    note:
      dialect === 'sqlite'
        ? "Tally on SQLite (WAL, synchronous = FULL, the default: one fsync per batch of concurrent requests, on disk): every accept durably advances the token's last accepted step (replay protection) and appends an audit event, in the same transaction, before it is answered."
        : "Tally on PostgreSQL (same machine, its backends' CPU included): replay state and audit as for SQLite.",
    peer: (dialect === 'sqlite' ? freeradiusTotpSqliteReplay : freeradiusTotpPostgresReplay).name,
    start: (users) => startTally(dialect, users),
  };
}

export const tallySqlite = tallyTarget('sqlite');
export const tallyPostgres = tallyTarget('postgres');

/** The cost of durability: the same Tally with the commits a power cut can forget. */
export const tallySqliteNormal: RadiusTarget = {
  name: 'tally-sqlite-normal',
  note: "Tally on SQLite with --sqlite-synchronous normal (WAL synced at checkpoints only: a power cut can forget the last accepted steps); shown to price tally-sqlite's durability, not as a peer of anything.",
  strongerVariant: tallySqlite.name,
  start: (users) => startTally('sqlite', users, 0, 'normal'),
};
