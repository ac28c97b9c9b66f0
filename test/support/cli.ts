import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const entry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tally ARGS` as a real process (through tsx), with the given stdin and environment additions. */
export function tally(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const result = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: repoRoot,
    input: options.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same, asynchronously: for running several processes at once. */
export function tallyAsync(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: repoRoot, env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export function storeArgs(options: { dataDir: string; databaseUrl?: string; schema?: string }): string[] {
  const args = ['--data-dir', options.dataDir];
  if (options.databaseUrl) args.push('--database-url', options.databaseUrl);
  if (options.schema) args.push('--database-schema', options.schema);
  return args;
}

/** The store arguments of a store `tally init` has just set up (admin `admin`), for CLI tests of other commands. */
export function initialisedStoreArgs(options: { dataDir: string; databaseUrl?: string; schema?: string }): string[] {
  const args = storeArgs(options);
  const init = tally(['init', '--admin-user', 'admin', '--admin-password-stdin', ...args], { input: 'a long enough Passw0rd\n' });
  if (init.status !== 0) throw new Error(`tally init failed: ${init.stderr}`);
  return args;
}

/** Starts `tally serve` and resolves once /healthz answers on both listeners. */
export async function startServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ stop: (signal?: NodeJS.Signals) => Promise<number | null>; signal: (signal: NodeJS.Signals) => void; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'serve', ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Generous: on a loaded machine the first start (tsx, the argon2 hash, the CT-KIP key) can take tens of seconds.
  const deadline = Date.now() + 90_000;
  while (!/Tally is running/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tally serve did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    output: () => output,
    signal: (signal) => child.kill(signal),
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
