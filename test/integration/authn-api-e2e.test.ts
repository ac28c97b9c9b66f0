import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { promisify } from 'node:util';
import { writeSdtid } from '../../src/core/securid/index.js';
import { freePort, startServe, storeArgs, tally } from '../support/cli.js';
import { interopTest, runPeer } from '../support/peers.js';
import { freshStoreOptions, testDialects } from '../support/store.js';
import { securIdTestToken } from '../support/tokens.js';

/**
 * Two real `tally serve` processes on one store, each with the Authentication API listener on;
 * curl speaks for the agent and stoken computes the passcode from the token's sdtid file.
 */
const curlAsync = promisify(execFile);

interface Reply {
  context: { authnAttemptId: string; messageId: string; inResponseTo: string };
  attemptResponseCode: string;
  attemptReasonCode: string;
  challengeMethods: { challenges: { requiredMethods: { methodId: string }[] }[] } | null;
}

for (const dialect of testDialects()) {
  describe(`the Authentication API on two Tally processes on one ${dialect} store`, () => {
    const place = freshStoreOptions(dialect);
    const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
    const nodes: { authn: string; stop: () => Promise<number | null> }[] = [];
    const sdtidFiles = new Map<string, string>();
    const home = mkdtempSync(join(tmpdir(), 'tally-authn-e2e-'));
    let admin = '';
    let token = '';
    let accessKey = '';

    before(async () => {
      assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
      token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
      for (let i = 0; i < 2; i++) {
        const [port, adminPort, authnPort] = [await freePort(), await freePort(), await freePort()];
        const server = await startServe([
          ...args,
          ...['--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort), '--radius-port', '0'],
          ...['--authn-api-host', '127.0.0.1', '--authn-api-port', String(authnPort), '--log-level', 'warn'],
        ]);
        if (i === 0) admin = `http://127.0.0.1:${adminPort}`;
        nodes.push({ authn: `http://127.0.0.1:${authnPort}/mfa/v1_1/authn`, stop: server.stop });
      }
      const call = async (path: string, body: object) => {
        const response = await fetch(admin + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const text = await response.text();
        assert.ok(response.status < 300, `${path}: ${response.status} ${text}`);
        return JSON.parse(text) as Record<string, string>;
      };
      for (const [username, serial] of [
        ['sam', '500000000001'],
        ['rita', '500000000002'],
      ] as const) {
        const key = securIdTestToken(serial);
        const file = join(home, `${serial}.sdtid`);
        writeFileSync(file, writeSdtid(key));
        sdtidFiles.set(username, file);
        await call('/api/v1/users', { username });
        await call('/api/v1/tokens/import', { file: Buffer.from(writeSdtid([key])).toString('base64') });
        await call(`/api/v1/tokens/${serial}/assign`, { username });
      }
      accessKey = JSON.parse(tally(['authn-agent', 'add', ...args, '--name', 'curl-agent', '--json']).stdout).accessKey;
      assert.match(tally(['authn-agent', 'list', ...args]).stdout, /^curl-agent\t/);
    });
    after(async () => {
      for (const node of nodes) await node.stop();
      await place.cleanup();
    });

    const curlArgs = (url: string, body: object) => [
      ...['-sS', '-X', 'POST', url, '-H', 'content-type: application/json', '-H', `client-key: ${accessKey}`],
      ...['--data-binary', JSON.stringify(body)],
    ];
    const curl = (url: string, body: object) => JSON.parse(runPeer('curl', curlArgs(url, body))) as Reply;
    const passcode = (username: string) =>
      runPeer('stoken', ['tokencode', '--file', sdtidFiles.get(username) ?? '', '--pin=0000', '-b'], {
        env: { ...process.env, HOME: home },
      }).trim();
    const initialize = (node: number, subjectName: string) =>
      curl(`${nodes[node]?.authn}/initialize`, {
        clientId: 'curl-agent',
        subjectName,
        context: { authnAttemptId: '', messageId: 'curl-1', inResponseTo: '' },
      });
    const verifyBody = (started: Reply, value: string) => ({
      clientId: 'curl-agent',
      subjectCredentials: [{ methodId: 'SECURID', collectedInputs: [{ name: 'SECURID', value }] }],
      context: { authnAttemptId: started.context.authnAttemptId, messageId: 'curl-2', inResponseTo: started.context.messageId },
    });

    interopTest(
      `[${dialect}] curl: initialize on one node, the stoken passcode verified on the other → SUCCESS, once`,
      ['curl', 'stoken'],
      () => {
        const started = initialize(0, 'sam');
        assert.equal(started.attemptResponseCode, 'CHALLENGE');
        assert.equal(started.challengeMethods?.challenges[0]?.requiredMethods[0]?.methodId, 'SECURID');
        const done = curl(`${nodes[1]?.authn}/verify`, verifyBody(started, passcode('sam')));
        assert.equal(done.attemptResponseCode, 'SUCCESS', JSON.stringify(done));
        assert.equal(done.context.authnAttemptId, started.context.authnAttemptId);
        assert.equal(done.context.inResponseTo, 'curl-2');
        const again = curl(`${nodes[0]?.authn}/verify`, verifyBody(started, passcode('sam')));
        assert.equal(again.attemptReasonCode, 'ATTEMPT_NOT_CONTINUABLE', 'the attempt the other node finished is finished here too');
      },
    );

    interopTest(
      `[${dialect}] curl: the same verify sent to both nodes at once continues the attempt once`,
      ['curl', 'stoken'],
      async () => {
        const started = initialize(1, 'rita');
        const body = verifyBody(started, passcode('rita'));
        const replies = await Promise.all(
          nodes.map(async (node) => JSON.parse((await curlAsync('curl', curlArgs(`${node.authn}/verify`, body))).stdout) as Reply),
        );
        const codes = replies.map((reply) => (reply.attemptResponseCode === 'SUCCESS' ? 'SUCCESS' : reply.attemptReasonCode)).sort();
        assert.deepEqual(codes, ['ATTEMPT_NOT_CONTINUABLE', 'SUCCESS']);
      },
    );
  });
}
