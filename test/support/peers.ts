import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import { type TestContext, test } from 'node:test';

const found = new Map<string, boolean>();

/** Whether an external peer command (stoken, oathtool, radclient, zbarimg, chromium...) is on PATH. */
export function hasPeer(command: string): boolean {
  let known = found.get(command);
  if (known === undefined) {
    known = spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
    found.set(command, known);
  }
  return known;
}

/** On a laptop, a missing peer skips; in CI (REQUIRE_INTEROP=1) it fails. */
export function interopRequired(): boolean {
  return process.env.REQUIRE_INTEROP === '1';
}

/**
 * An interop test: runs when every peer exists, skips politely when one is missing, and fails
 * (never skips) when REQUIRE_INTEROP=1.
 */
export function interopTest(name: string, peers: string[], fn: (t: TestContext) => unknown | Promise<unknown>): void {
  const missing = peers.filter((p) => !hasPeer(p));
  if (missing.length > 0 && !interopRequired()) {
    test(name, { skip: `peer not installed: ${missing.join(', ')}` }, () => {});
    return;
  }
  test(name, async (t) => {
    if (missing.length > 0) {
      throw new Error(`REQUIRE_INTEROP=1 but peer(s) missing: ${missing.join(', ')}`);
    }
    await fn(t);
  });
}

/** Runs a peer command and returns its stdout; throws with stderr on a non-zero exit. */
export function runPeer(command: string, args: string[], options: SpawnSyncOptions & { input?: string } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${String(result.stderr).trim()}`);
  }
  return String(result.stdout);
}
