import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { ClientSession } from '../../src/core/ctkip/exchange.js';
import { totp } from '../../src/core/otp/totp.js';
import { writePskc } from '../../src/core/pskc/write.js';
import { openStore } from '../../src/store/connect.js';
import { storeArgs, tally } from '../support/cli.js';
import { activate, finishExchange, startExchange } from '../support/ctkip.js';
import {
  callApi,
  callApiOk,
  eventually,
  lastAuthenticationReason,
  overHttp,
  type ServedNode,
  startNode,
  verifyOn,
} from '../support/node.js';
import { hasPeer, interopTest } from '../support/peers.js';
import { papRequest, radclient, received } from '../support/radclient.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

const RADIUS_SECRET = 'crash-secret';
const BULK_USERS = 120;
const IMPORTED = 1500;

for (const dialect of testDialects()) {
  /**
   * One crash for all of it, as a real one would find them: a batch just answered, CT-KIP exchanges
   * half done, a bulk distribution running and a token import in flight; then each test checks
   * what the restarted process makes of one of them.
   */
  describe(`tally serve killed with SIGKILL in the middle of its work, and started again [${dialect}]`, () => {
    const place = freshStoreOptions(dialect);
    const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
    const secrets = { nina: randomBytes(20), rita: randomBytes(20) };
    const usernames = Array.from({ length: BULK_USERS }, (_, i) => `bulk${i}`);
    let node: ServedNode;
    let token = '';
    const api = (method: string, path: string, body?: object) => callApi(node, token, method, path, body);
    const publicApp = () => overHttp(node.public);
    const accepted = { rest: '', radius: '' };
    let between: { code: string; serial: string; session: ClientSession; requestXml: string };
    let around: { code: string; serial: string };
    let bulkId = 0;

    before(async () => {
      assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
      token = JSON.parse(tally(['apitoken', 'create', ...args, '--name', 'ops', '--role', 'superadmin', '--json']).stdout).token;
      node = await startNode(args);
      const keys = Object.entries(secrets).map(([user, secret]) => ({
        kind: 'totp' as const,
        id: `CRASH-${user}`,
        serial: `CRASH-${user}`,
        secret,
        digits: 6,
        algorithm: 'SHA1' as const,
        period: 30,
      }));
      await callApiOk(node, token, '/api/v1/tokens/import', { file: Buffer.from(writePskc(keys)).toString('base64') });
      await callApiOk(node, token, '/api/v1/users/import', { csv: ['username', 'nina', 'rita', ...usernames].join('\n') });
      for (const user of Object.keys(secrets)) await callApiOk(node, token, `/api/v1/tokens/CRASH-${user}/assign`, { username: user });
      await callApiOk(node, token, '/api/v1/radius-clients', { name: 'vpn', address: '127.0.0.1', secret: RADIUS_SECRET });
      await callApiOk(node, token, '/api/v1/profiles', { name: 'ctkip', tokenType: 'securid', deviceType: 'tally-cli', delivery: 'ctkip' });
      await callApiOk(node, token, '/api/v1/profiles', { name: 'app', tokenType: 'hotp', deviceType: 'authenticator', delivery: 'qr' });
      const distribute = async () => {
        const result = (await callApiOk(node, token, '/api/v1/users/nina/tokens', { profile: 'ctkip' })) as Record<string, string>;
        return { code: String(result.activationCode), serial: String(result.serial) };
      };
      const first = await distribute();
      around = await distribute();

      // Authentication: the right code in a batch among wrong ones for other names, as under load.
      const now = Math.floor(Date.now() / 1000);
      accepted.rest = totp({ secret: secrets.nina }, now);
      const answers = await Promise.all([
        verifyOn(node, token, 'nina', accepted.rest),
        ...usernames.slice(0, 30).map((name) => verifyOn(node, token, name, '000000')),
      ]);
      assert.equal(answers[0], 'accept');
      if (hasPeer('radclient')) {
        accepted.radius = totp({ secret: secrets.rita }, now);
        received(await radclient(node.radiusPort, RADIUS_SECRET, papRequest('rita', accepted.radius)), 'Access-Accept');
      }

      // CT-KIP: one exchange stopped after ServerHello, another with its ClientNonce in flight.
      const started = await startExchange(publicApp(), first.code);
      assert.ok(started.session && started.requestXml, started.fault);
      between = { ...first, session: started.session, requestXml: started.requestXml };
      const second = await startExchange(publicApp(), around.code);
      assert.ok(second.session && second.requestXml, second.fault);

      // TOTP, so that the bulk run's HOTP tokens stay apart in the token list.
      const keysToImport = Array.from({ length: IMPORTED }, (_, i) => ({
        kind: 'totp' as const,
        id: `IMP-${i}`,
        serial: `IMP-${i}`,
        secret: randomBytes(20),
        digits: 6,
        algorithm: 'SHA1' as const,
        period: 30,
      }));
      const importFile = Buffer.from(writePskc(keysToImport)).toString('base64');
      // A bulk distribution just started (on SQLite it serves a few hundred users a second), and a large token import sent.
      const bulk = await api('POST', '/api/v1/bulk-distributions', { profile: 'app', usernames });
      assert.equal(bulk.status, 202, JSON.stringify(bulk.body));
      bulkId = Number(bulk.body.id);
      const inFlight = [
        finishExchange(publicApp(), around.code, second.session, second.requestXml),
        api('POST', '/api/v1/tokens/import', { file: importFile }),
      ].map((request) => request.catch(() => undefined));
      await new Promise((resolve) => setImmediate(resolve));

      // The crash: nothing flushed, no shutdown step; then the same command again.
      await node.stop('SIGKILL');
      await Promise.all(inFlight);
      await node.restart();
    });
    after(async () => {
      await node?.stop();
      await place.cleanup();
    });

    test('a code accepted in a REST batch just before the crash is refused after it', async () => {
      assert.equal(await verifyOn(node, token, 'nina', accepted.rest), 'reject');
      assert.equal(await lastAuthenticationReason(node, token, 'CRASH-nina'), 'replayed code');
    });

    interopTest('a code accepted over RADIUS just before the crash is refused after it', ['radclient'], async () => {
      received(
        await radclient(node.radiusPort, RADIUS_SECRET, papRequest('rita', accepted.radius, { expect: 'Access-Reject' })),
        'Access-Reject',
      );
      assert.equal(await lastAuthenticationReason(node, token, 'CRASH-rita'), 'replayed code');
    });

    test('CT-KIP cut between ClientHello and ClientNonce: the exchange finishes on the restarted process, once', async () => {
      const finished = await finishExchange(publicApp(), between.code, between.session, between.requestXml);
      assert.equal(finished.token?.serial, between.serial, finished.fault);
      assert.equal((await api('GET', `/api/v1/tokens/${between.serial}`)).body.state, 'active');
      assert.ok((await activate(publicApp(), between.code)).fault, 'the activation code is spent');
    });

    test('CT-KIP cut around ServerFinished: the token is active and the code spent, or the same code works again; never half-provisioned', async () => {
      const state = (await api('GET', `/api/v1/tokens/${around.serial}`)).body.state;
      if (state === 'active') {
        assert.ok((await activate(publicApp(), around.code)).fault, 'completed: the activation code is spent');
        return;
      }
      assert.equal(state, 'pending', 'either active or still waiting for its exchange');
      const retried = await activate(publicApp(), around.code);
      assert.equal(retried.token?.serial, around.serial, `the same code works again within its life: ${retried.fault}`);
      assert.equal((await api('GET', `/api/v1/tokens/${around.serial}`)).body.state, 'active');
    });

    test('a token import cut by the crash committed whole or not at all', async () => {
      const page = async (offset: number) =>
        ((await api('GET', `/api/v1/tokens?serial=IMP-&limit=1000&offset=${offset}`)).body.tokens as unknown[]).length;
      const count = (await page(0)) + (await page(1000));
      assert.ok(count === 0 || count === IMPORTED, `not ${count} of ${IMPORTED}`);
    });

    test('a bulk distribution cut by the crash: its report names exactly the users served, and it resumes without serving anyone twice', async () => {
      const report = async () =>
        (await api('GET', `/api/v1/bulk-distributions/${bulkId}?limit=1000`)).body as {
          bulkDistribution: { state: string; distributed: number; failed: number; waiting: number };
          items: { username: string; result: string; serial: string | null }[];
        };
      const holders = async () => {
        const tokens = (await api('GET', '/api/v1/tokens?tokenType=hotp&limit=1000')).body.tokens as {
          serial: string;
          username: string | null;
        }[];
        const byUser = new Map<string, string[]>();
        for (const { serial, username } of tokens) if (username) byUser.set(username, [...(byUser.get(username) ?? []), serial]);
        return byUser;
      };
      const cut = await report();
      const held = await holders();
      assert.ok(cut.bulkDistribution.waiting > 0, `the crash came before the run finished: ${JSON.stringify(cut.bulkDistribution)}`);
      assert.equal(cut.bulkDistribution.failed, 0);
      for (const item of cut.items) {
        if (item.result === 'distributed') assert.deepEqual(held.get(item.username), [item.serial], item.username);
        else assert.equal(held.get(item.username), undefined, `${item.username} is reported ${item.result} and holds no token`);
      }

      // The run stood still for longer than a live node lets it (two minutes), as after an outage.
      const store = await openStore(place.options);
      try {
        await sql`update bulk_distributions set updated_at = updated_at - 600000 where id = ${bulkId}`.execute(store.db);
      } finally {
        await store.close();
      }
      assert.equal((await report()).bulkDistribution.state, 'interrupted');
      assert.equal((await api('POST', `/api/v1/bulk-distributions/${bulkId}/resume`)).status, 200);
      const done = await eventually('the resumed run finished', async () => {
        const now = await report();
        return now.bulkDistribution.state === 'finished' ? now : undefined;
      });
      assert.equal(done.bulkDistribution.distributed, BULK_USERS);
      const finalHolders = await holders();
      for (const name of usernames) assert.equal(finalHolders.get(name)?.length, 1, `${name} holds exactly one token`);
    });
  });
}
