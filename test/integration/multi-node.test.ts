import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { freePort, startServe, storeArgs, tally } from '../support/cli.js';
import { activate } from '../support/ctkip.js';
import { firstItem, item } from '../support/items.js';
import { overHttp } from '../support/node.js';
import { interopTest } from '../support/peers.js';
import { papRequest, radclient } from '../support/radclient.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

const RADIUS_SECRET = 'multi-node-secret';

interface Node {
  public: string;
  admin: string;
  radiusPort: number;
  stop: () => Promise<number | null>;
}

for (const dialect of testDialects()) {
  describe(`two Tally processes on one ${dialect} store`, () => {
    const place = freshStoreOptions(dialect);
    const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
    const nodes: Node[] = [];
    let token = '';
    const secret = randomBytes(20);

    before(async () => {
      assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
      token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
      for (let i = 0; i < 2; i++) {
        const [port, adminPort, radiusPort] = [await freePort(), await freePort(), await freePort()];
        const publicUrl = `http://127.0.0.1:${port}`;
        const server = await startServe([
          ...args,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--admin-port',
          String(adminPort),
          '--radius-host',
          '127.0.0.1',
          '--radius-port',
          String(radiusPort),
          '--public-url',
          publicUrl,
          '--log-level',
          'warn',
        ]);
        nodes.push({ public: publicUrl, admin: `http://127.0.0.1:${adminPort}`, radiusPort, stop: server.stop });
      }
      const call = async (path: string, body: object) => {
        const response = await fetch(firstItem(nodes).admin + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const text = await response.text();
        assert.ok(response.status < 300, `${path}: ${response.status} ${text}`);
        return JSON.parse(text) as Record<string, string>;
      };
      await call('/api/v1/users', { username: 'nina' });
      await call('/api/v1/tokens/import', {
        file: Buffer.from(
          writePskc([{ kind: 'totp', id: 'NODE-TOTP', serial: 'NODE-TOTP', secret, digits: 6, algorithm: 'SHA1', period: 30 }]),
        ).toString('base64'),
      });
      await call('/api/v1/tokens/NODE-TOTP/assign', { username: 'nina' });
      await call('/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET });
      await call('/api/v1/profiles', { name: 'file', tokenType: 'hotp', deviceType: 'tally-cli', delivery: 'file' });
      await call('/api/v1/profiles', { name: 'ctkip', tokenType: 'securid', deviceType: 'tally-cli', delivery: 'ctkip' });
    });
    after(async () => {
      for (const node of nodes) await node.stop();
      await place.cleanup();
    });

    const distribute = async (profile: string) =>
      (await (
        await fetch(`${firstItem(nodes).admin}/api/v1/users/nina/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ profile }),
        })
      ).json()) as Record<'serial' | 'activationCode' | 'downloadUrl', string>;

    test('the same code sent to both nodes at once is accepted once (REST)', async () => {
      const passcode = totp({ secret }, Math.floor(Date.now() / 1000));
      const results = await Promise.all(
        nodes.flatMap((node) =>
          [0, 1, 2].map(() =>
            fetch(`${node.admin}/api/v1/auth/verify`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ username: 'nina', passcode }),
            }).then((r) => r.json() as Promise<{ result: string }>),
          ),
        ),
      );
      assert.equal(results.filter((r) => r.result === 'accept').length, 1, JSON.stringify(results));
    });

    interopTest('the same code sent to both nodes at once is accepted once (RADIUS, radclient)', ['radclient'], async () => {
      // The next step's code: inside the small window, and after the step the REST test used.
      const passcode = totp({ secret }, Math.floor(Date.now() / 1000) + 30);
      const runs = await Promise.all(nodes.map((node) => radclient(node.radiusPort, RADIUS_SECRET, papRequest('nina', passcode))));
      const accepted = runs.filter((run) => run.stdout.includes('Received Access-Accept'));
      assert.equal(accepted.length, 1, runs.map((r) => r.stdout).join('\n'));
    });

    test('one download link redeemed on both nodes at once: exactly one file', async () => {
      const { downloadUrl } = await distribute('file');
      const path = new URL(downloadUrl).pathname;
      const statuses = await Promise.all(
        nodes.flatMap((node) => [0, 1, 2].map(() => fetch(node.public + path, { method: 'POST' }).then((r) => r.status))),
      );
      assert.deepEqual(statuses.sort(), [200, 410, 410, 410, 410, 410]);
    });

    test('CT-KIP: the exchange starts on one node and finishes on the other', async () => {
      const { activationCode, serial } = await distribute('ctkip');
      const { startExchange, finishExchange } = await import('../support/ctkip.js');
      const started = await startExchange(overHttp(firstItem(nodes).public), activationCode);
      assert.ok(started.session && started.requestXml, started.fault);
      const finished = await finishExchange(overHttp(item(nodes, 1).public), activationCode, started.session, started.requestXml);
      assert.equal(finished.token?.serial, serial, finished.fault);
      assert.ok((await activate(overHttp(item(nodes, 1).public), activationCode)).fault, 'the code is used up on every node');
    });
  });
}
