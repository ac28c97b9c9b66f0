/**
 * `tally token activate` against a small CT-KIP server made here from the core's server steps, on
 * loopback: the client must derive the seed the server derived, store nothing it cannot trust, and
 * show the server's reason when refused.
 */

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serverFinished, serverHello, type TokenSettings } from '../../src/core/ctkip/exchange.js';
import {
  buildServerResponse,
  buildSoapFault,
  INVALID_AUTHORIZATION_CODE,
  parseClientMessage,
  parseClientRequest,
} from '../../src/core/ctkip/messages.js';
import { addPinToTokencode, computeTokencode } from '../../src/core/securid/index.js';
import { type CliResult, tallyAsync } from '../support/cli.js';

const CODE = '482915736024';
const PATH = '/ctkip/services/CtkipService';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 65537 });

interface Provisioned {
  settings: TokenSettings;
  seed: Buffer;
}

/** What the test server does; each test sets it before it activates. */
const behaviour = {
  settings: undefined as unknown as TokenSettings,
  tamperMac: false,
};
const provisioned: Provisioned[] = [];
const seen: { headers: IncomingHttpHeaders; url: string }[] = [];
const sessions = new Map<string, Buffer>();

function tokenSettings(overrides: Partial<TokenSettings> = {}): TokenSettings {
  return {
    serial: String(100000000000 + (randomBytes(4).readUInt32BE() % 899999999999)).padStart(12, '0'),
    keyExpiryDate: '2031-06-30T00:00:00+00:00',
    userId: 'alice',
    digits: 8,
    period: 60,
    pinType: 0,
    addPin: true,
    ...overrides,
  };
}

/** Flips a bit of the Mac element's value, as a server that derived another seed would send it. */
function tamper(responseXml: string): string {
  return responseXml.replace(/(<Mac\b[^>]*>)([^<]+)(<\/Mac>)/, (_, open: string, value: string, close: string) => {
    const mac = Buffer.from(value, 'base64');
    mac[0]! ^= 1;
    return `${open}${mac.toString('base64')}${close}`;
  });
}

function answer(body: string): string {
  const received = parseClientRequest(body);
  if (received.authData !== CODE) return buildSoapFault(INVALID_AUTHORIZATION_CODE);
  const message = parseClientMessage(received.request);
  if (message.type === 'ClientHello') {
    const sessionId = randomBytes(16).toString('hex');
    const serverNonce = randomBytes(16);
    sessions.set(sessionId, serverNonce);
    return buildServerResponse({
      authData: received.authData,
      provisioningData: received.provisioningData,
      response: serverHello({ hello: message, sessionId, serverNonce, serverKey: publicKey }),
    });
  }
  const serverNonce = sessions.get(message.sessionId) as Buffer;
  const finished = serverFinished({
    message,
    sessionId: message.sessionId,
    serverNonce,
    serverPrivateKey: privateKey,
    token: behaviour.settings,
  });
  provisioned.push({ settings: behaviour.settings, seed: finished.kToken });
  return buildServerResponse({
    authData: received.authData,
    provisioningData: finished.provisioningData,
    response: behaviour.tamperMac ? tamper(finished.responseXml) : finished.responseXml,
  });
}

let server: Server;
let port: number;
let scratch: string;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tally-ctkip-client-'));
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ headers: request.headers, url: request.url ?? '' });
      let xml: string;
      try {
        xml = answer(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        xml = buildSoapFault({ exceptionClass: 'test.Error', message: (error as Error).message });
      }
      // Faults too go out with HTTP 200, as the dialect's servers send them.
      response.writeHead(200, { 'Content-Type': 'text/xml' }).end(xml);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

const env = { TALLY_TOKEN_STORE_PASSPHRASE: undefined };
let stores = 0;
function storePath(): string {
  return join(scratch, `store-${stores++}`);
}

function serviceUrl(): string {
  return `http://127.0.0.1:${port}${PATH}`;
}

function activate(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return tallyAsync(['token', 'activate', ...args], { env: { ...env, ...extraEnv } });
}

function noSecrets(result: CliResult, ...secrets: string[]): void {
  for (const secret of secrets) {
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'a secret was printed');
  }
}

test("activation stores the seed the server derived: the tokencodes and passcodes match the server's", async () => {
  behaviour.settings = tokenSettings({ digits: 8, period: 30, addPin: true });
  behaviour.tamperMac = false;
  const store = storePath();
  seen.length = 0;
  const result = await activate([serviceUrl(), CODE, '--store', store]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, `${behaviour.settings.serial}\n`);
  assert.equal(result.stderr, '');

  const { seed, settings } = provisioned.at(-1)!;
  noSecrets(result, CODE, seed.toString('hex'));
  assert.ok(!readFileSync(store, 'utf8').includes(seed.toString('hex')));
  assert.deepEqual(
    seen.map(({ headers, url }) => [url, headers.authorization, headers.soapaction, headers['content-type']]),
    [
      [PATH, CODE, 'StartService', 'application/vnd.otps.ct-kip'],
      [PATH, CODE, 'ServerFinished', 'application/vnd.otps.ct-kip'],
    ],
  );

  const key = { serial: settings.serial, seed, digits: settings.digits, period: settings.period };
  const times = [1700000000, 1700000031, 1900000000];
  const codes = await Promise.all(times.map((at) => tallyAsync(['token', 'code', '--store', store, '--at', String(at)], { env })));
  assert.deepEqual(
    codes.map((c) => c.stdout.trim()),
    times.map((at) => computeTokencode(key, at)),
  );
  const withPin = await tallyAsync(['token', 'code', '--store', store, '--at', '1700000000', '--pin', '2468'], { env });
  assert.equal(withPin.stdout.trim(), addPinToTokencode(computeTokencode(key, 1700000000), '2468'));

  const listed = JSON.parse((await tallyAsync(['token', 'list', '--store', store, '--json'], { env })).stdout);
  assert.deepEqual(listed, [
    {
      serial: settings.serial,
      type: 'securid',
      algorithm: 'AES128',
      digits: 8,
      period: 30,
      expiresOn: '2031-06-30',
      addPin: true,
    },
  ]);
});

test('an app link carrying the code works as the URL; activating the same serial again replaces the token', async () => {
  behaviour.settings = tokenSettings({ digits: 6, period: 60, addPin: false });
  behaviour.tamperMac = false;
  const store = storePath();
  const link = `com.rsa.securid://ctkip?scheme=http&url=127.0.0.1:${port}${PATH}&activationCode=${CODE}`;
  const first = await activate([link, '--store', store]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.stdout, `${behaviour.settings.serial}\n`);

  const second = await activate([`securidauthenticator://ctkip?scheme=http&url=127.0.0.1:${port}${PATH}`, CODE, '--store', store]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, new RegExp(`the token ${behaviour.settings.serial} that was in the store has been replaced`));
  const { seed, settings } = provisioned.at(-1)!;
  const shown = await tallyAsync(['token', 'code', '--store', store, '--at', '1700000000'], { env });
  assert.equal(shown.stdout.trim(), computeTokencode({ serial: settings.serial, seed, digits: 6, period: 60 }, 1700000000));

  const noCode = await activate([`securidauthenticator://ctkip?scheme=http&url=127.0.0.1:${port}${PATH}`, '--store', store]);
  assert.equal(noCode.status, 2);
  assert.match(noCode.stderr, /carries no activation code; give it after the URL/);
});

test("a wrong activation code: exit 1 with the server's reason, and no store is made", async () => {
  behaviour.settings = tokenSettings();
  const store = storePath();
  const result = await activate([serviceUrl(), '000000000000', '--store', store]);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /The CT-KIP server refused the activation: Invalid authorization code\./);
  assert.ok(!existsSync(store) && !existsSync(`${store}.key`));
});

test('a server whose MAC does not match: exit 1, nothing stored, an existing store left as it was', async () => {
  behaviour.settings = tokenSettings();
  behaviour.tamperMac = true;
  const store = storePath();
  const fresh = await activate([serviceUrl(), CODE, '--store', store]);
  assert.equal(fresh.status, 1);
  assert.match(fresh.stderr, /key confirmation \(MAC\) does not match; the token was not saved/);
  assert.ok(!existsSync(store) && !existsSync(`${store}.key`));
  noSecrets(fresh, CODE, provisioned.at(-1)!.seed.toString('hex'));

  behaviour.tamperMac = false;
  assert.equal((await activate([serviceUrl(), CODE, '--store', store])).status, 0);
  const kept = readFileSync(store, 'utf8');
  behaviour.settings = tokenSettings();
  behaviour.tamperMac = true;
  assert.equal((await activate([serviceUrl(), CODE, '--store', store])).status, 1);
  assert.equal(readFileSync(store, 'utf8'), kept);
  behaviour.tamperMac = false;
});

test('the store is opened before the exchange: a wrong passphrase uses up no activation code', async () => {
  behaviour.settings = tokenSettings();
  const store = storePath();
  assert.equal((await activate([serviceUrl(), CODE, '--store', store], { TALLY_TOKEN_STORE_PASSPHRASE: 'right' })).status, 0);
  seen.length = 0;
  const wrong = await activate([serviceUrl(), CODE, '--store', store], { TALLY_TOKEN_STORE_PASSPHRASE: 'wrong' });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /passphrase does not open/);
  assert.equal(seen.length, 0, 'no request reached the server');
});

test('an unreachable server and a URL that is no CT-KIP service are named', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const store = storePath();
  const unreachable = await activate([`http://127.0.0.1:${closedPort}${PATH}`, CODE, '--store', store]);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.stderr, new RegExp(`Cannot reach the CT-KIP server at http://127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
  const notAUrl = await activate(['not a url', CODE, '--store', store]);
  assert.equal(notAUrl.status, 1);
  assert.match(notAUrl.stderr, /neither a CT-KIP URL nor a SecurID app link/);
  assert.ok(!existsSync(store));
});
