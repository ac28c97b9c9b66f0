import { spawnSync } from 'node:child_process';

/** The PostgreSQL the benchmarks use: the one the tests use unless TALLY_BENCH_DATABASE_URL says otherwise. */
export function benchDatabaseUrl(): string {
  return process.env.TALLY_BENCH_DATABASE_URL ?? process.env.TALLY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** The local PostgreSQL postmaster's pid, so that its backends' CPU counts as the server's. */
export function postmasterPids(): number[] {
  const result = spawnSync('sh', ['-c', 'head -n1 /var/lib/postgresql/*/main/postmaster.pid 2>/dev/null'], { encoding: 'utf8' });
  const pid = Number((result.stdout ?? '').trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? [pid] : [];
}
