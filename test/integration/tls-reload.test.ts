import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { freePort, startServe } from '../support/cli.js';
import { interopTest, runPeer } from '../support/peers.js';

/** A self-signed certificate whose subject CN is `name`, as PEM files in `dir`. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  runPeer(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      cert,
    ]),
  );
  return { cert, key };
}

function openConnection(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const commonName = (socket: TLSSocket) => socket.getPeerCertificate().subject.CN;

/** One HTTP/1.1 request on an open connection (kept alive); resolves with the status line. */
function ask(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const headerEnd = received.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(received);
      if (headerEnd >= 0 && length && received.length >= headerEnd + 4 + Number(length[1])) {
        socket.off('data', onData);
        resolve(received.split('\r\n')[0] ?? '');
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
}

async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const value = await probe();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

interopTest(
  'SIGHUP reloads the TLS certificate: new connections get the new one, an open connection keeps answering, a bad file keeps the old one',
  ['openssl'],
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-tls-'));
    const first = selfSigned(dir, 'first');
    const second = selfSigned(dir, 'second');
    const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    const port = await freePort();
    const serve = await startServe([
      ...['--data-dir', join(dir, 'data'), '--init-if-needed', '--host', '127.0.0.1', '--port', String(port)],
      ...['--admin-port', String(await freePort()), '--radius-port', '0', '--tls-cert', live.cert, '--tls-key', live.key],
    ]);
    const sockets: TLSSocket[] = [];
    const newConnection = async () => {
      const socket = await openConnection(port);
      sockets.push(socket);
      return socket;
    };
    try {
      const kept = await newConnection();
      assert.equal(commonName(kept), 'first');
      assert.match(await ask(kept), /^HTTP\/1\.1 200/);

      copyFileSync(second.cert, live.cert);
      copyFileSync(second.key, live.key);
      serve.signal('SIGHUP');
      const renewed = await eventually('the new certificate', newConnection, (socket) => commonName(socket) === 'second');
      assert.match(await ask(renewed), /^HTTP\/1\.1 200/);
      assert.match(await ask(kept), /^HTTP\/1\.1 200/, 'the connection opened before the reload still answers');
      assert.equal(commonName(kept), 'first');

      writeFileSync(live.cert, 'not a certificate\n');
      serve.signal('SIGHUP');
      await eventually(
        'the failed reload in the log',
        async () => serve.output(),
        (output) => /TLS certificate not reloaded/.test(output),
      );
      assert.equal(commonName(await newConnection()), 'second', 'a bad file leaves the previous certificate in use');
      assert.doesNotMatch(serve.output(), /BEGIN (EC )?PRIVATE KEY/);
    } finally {
      for (const socket of sockets) socket.destroy();
      assert.equal(await serve.stop(), 0);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
