import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface RadclientRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** radclient (freeradius-utils) as a child process; asynchronous because the server may share this event loop. */
export async function radclient(
  port: number,
  secret: string,
  lines: string[],
  options: { timeoutSeconds?: number } = {},
): Promise<RadclientRun> {
  const child = spawn('radclient', ['-x', '-r', '1', '-t', String(options.timeoutSeconds ?? 3), `127.0.0.1:${port}`, 'auth', secret]);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(`${lines.join('\n')}\n`);
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stdout, stderr };
}

/** The attribute lines of the reply radclient accepted; fails when it got another reply or none. */
export function received(run: RadclientRun, code: 'Access-Accept' | 'Access-Reject' | 'Access-Challenge'): string {
  const at = run.stdout.indexOf(`Received ${code} `);
  assert.ok(at >= 0, `radclient did not get an ${code}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout.slice(at);
}

/** An Access-Request as radclient reads it: PAP, signed with a Message-Authenticator; `expect` lets it exit 0 on non-Accept replies. */
export function papRequest(
  user: string,
  passcode: string,
  extra: { state?: string; expect?: 'Access-Reject' | 'Access-Challenge' } = {},
): string[] {
  return [
    `User-Name = "${user}"`,
    `User-Password = "${passcode}"`,
    'Message-Authenticator = 0x00',
    ...(extra.state ? [`State = 0x${extra.state}`] : []),
    ...(extra.expect ? [`Response-Packet-Type = ${extra.expect}`] : []),
  ];
}

export function replyState(reply: string): string | undefined {
  return /State = 0x([0-9a-f]+)/.exec(reply)?.[1];
}
