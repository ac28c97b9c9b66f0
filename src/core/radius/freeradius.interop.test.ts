import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { interopTest } from '../../../test/support/peers.js';
import { TallyError } from '../../errors.js';
import { AttributeType, attributeBytes, attributeString } from './attributes.js';
import { type AccessRequest, buildAccessRequest, verifyReply } from './authenticators.js';
import { decodePacket, RadiusCode, type RadiusPacket } from './packet.js';

const SECRET = 'tally interop secret';
const LONG_PASSWORD = 'a passphrase spanning three 16-byte blocks';

/**
 * A FreeRADIUS server that demands a Message-Authenticator from us: PAP users alice and dave, and
 * carol, who is first challenged (State "next") and then checked by password.
 */
function writeConfig(dir: string, port: number): void {
  writeFileSync(join(dir, 'dictionary'), '');
  writeFileSync(
    join(dir, 'users'),
    [
      'alice Cleartext-Password := "123456"',
      '      Reply-Message = "hello alice"',
      'carol Cleartext-Password := "654321"',
      `dave Cleartext-Password := "${LONG_PASSWORD}"`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'radiusd.conf'),
    `prefix = /usr
localstatedir = ${dir}
logdir = ${dir}
raddbdir = ${dir}
run_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/radiusd.pid
security {
  allow_vulnerable_openssl = yes
}
log {
  destination = stdout
}
client local {
  ipaddr = 127.0.0.1
  secret = "${SECRET}"
  require_message_authenticator = yes
}
modules {
  files {
    filename = ${dir}/users
  }
  always handled {
    rcode = handled
  }
  pap {
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${port}
  }
  authorize {
    if (&User-Name == "carol" && !&State) {
      update reply {
        &Reply-Message := "Enter the next tokencode"
        &State := "next"
      }
      update control {
        &Response-Packet-Type := Access-Challenge
      }
      handled
    }
    files
    pap
  }
  authenticate {
    pap
  }
}
`,
  );
}

async function freePort(): Promise<number> {
  const probe = dgram.createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  probe.close();
  return port;
}

async function startFreeradius(t: TestContext): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-freeradius-'));
  const port = await freePort();
  writeConfig(dir, port);
  const server = spawn('freeradius', ['-X', '-f', '-d', dir]);
  t.after(() => {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`freeradius did not start:\n${log}`)), 10_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (log.includes('Ready to process requests')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`freeradius exited ${code}:\n${log}`));
    });
  });
  return port;
}

/** Sends one Access-Request built by the codec and returns the verified reply. */
async function ask(t: TestContext, port: number, fields: Omit<AccessRequest, 'identifier' | 'authenticator'>): Promise<RadiusPacket> {
  const request = { ...fields, identifier: randomBytes(1).readUInt8(0), authenticator: randomBytes(16) };
  const socket = dgram.createSocket('udp4');
  t.after(() => socket.close());
  socket.send(buildAccessRequest(request, SECRET), port, '127.0.0.1');
  const [datagram] = (await once(socket, 'message', { signal: AbortSignal.timeout(3000) })) as [Buffer];
  const reply = decodePacket(datagram);
  assert.throws(() => verifyReply(reply, request, 'not the secret', { requireMessageAuthenticator: false }), TallyError);
  // FreeRADIUS 3.2.1 signs replies without a Message-Authenticator; one, when present, is still checked.
  verifyReply(reply, request, SECRET, { requireMessageAuthenticator: false });
  return reply;
}

interopTest(
  'FreeRADIUS, requiring Message-Authenticator, accepts our signed PAP requests and its replies verify',
  ['freeradius'],
  async (t) => {
    const port = await startFreeradius(t);

    const proxyState = { type: AttributeType.ProxyState, value: Buffer.from('p1') };
    const accept = await ask(t, port, { userName: 'alice', password: '123456', attributes: [proxyState] });
    assert.equal(accept.code, RadiusCode.AccessAccept);
    assert.equal(attributeString(accept, AttributeType.ReplyMessage), 'hello alice');
    assert.deepEqual(attributeBytes(accept, AttributeType.ProxyState), proxyState.value);

    assert.equal((await ask(t, port, { userName: 'dave', password: LONG_PASSWORD })).code, RadiusCode.AccessAccept);
    assert.equal((await ask(t, port, { userName: 'alice', password: '654321' })).code, RadiusCode.AccessReject);

    const challenge = await ask(t, port, { userName: 'carol', password: '' });
    assert.equal(challenge.code, RadiusCode.AccessChallenge);
    assert.equal(attributeString(challenge, AttributeType.ReplyMessage), 'Enter the next tokencode');
    const state = attributeBytes(challenge, AttributeType.State);
    assert.deepEqual(state, Buffer.from('next'));
    assert.equal((await ask(t, port, { userName: 'carol', password: '654321', state })).code, RadiusCode.AccessAccept);
  },
);
