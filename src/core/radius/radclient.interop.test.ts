import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { firstItem } from '../../../test/support/items.js';
import { interopTest } from '../../../test/support/peers.js';
import { received, radclient as runRadclient } from '../../../test/support/radclient.js';
import { type ErrorCode, isTallyError } from '../../errors.js';
import { AttributeType, attributeBytes, attributeString } from './attributes.js';
import { buildReply, responseAuthenticator, unhidePassword, verifyRequestMessageAuthenticator } from './authenticators.js';
import { decodePacket, encodePacket, RadiusCode } from './packet.js';

const SECRET = 'tally interop secret';

/**
 * A RADIUS responder on 127.0.0.1 built only from the codec: Accept for "123456", Challenge with a
 * fresh State for "challenge", Reject otherwise. Users named broken-* get a deliberately corrupted
 * reply; requests that fail verification are dropped and their error codes recorded.
 */
async function startResponder(t: TestContext) {
  const socket = dgram.createSocket('udp4');
  const seen = { states: [] as Buffer[], issued: [] as Buffer[], refused: [] as ErrorCode[] };
  socket.on('message', (datagram, peer) => {
    try {
      const request = decodePacket(datagram);
      verifyRequestMessageAuthenticator(request, SECRET);
      const user = attributeString(request, AttributeType.UserName) ?? '';
      const password = unhidePassword(
        attributeBytes(request, AttributeType.UserPassword) ?? Buffer.alloc(0),
        SECRET,
        request.authenticator,
      ).toString('utf8');
      const state = attributeBytes(request, AttributeType.State);
      if (state) seen.states.push(state);
      let reply: Buffer;
      if (password === '123456') {
        reply = buildReply(request, SECRET, { code: RadiusCode.AccessAccept, replyMessage: `Welcome, ${user}` });
      } else if (password === 'challenge') {
        const issued = randomBytes(8);
        seen.issued.push(issued);
        reply = buildReply(request, SECRET, { code: RadiusCode.AccessChallenge, replyMessage: 'Enter the next tokencode', state: issued });
      } else {
        reply = buildReply(request, SECRET, { code: RadiusCode.AccessReject, replyMessage: 'Access denied' });
      }
      if (user === 'broken-response-authenticator') reply[4]! ^= 0x01;
      if (user === 'broken-message-authenticator') {
        // Corrupt only the Message-Authenticator and re-sign, so only that check can catch it.
        const packet = decodePacket(reply);
        firstItem(packet.attributes).value[0]! ^= 0x01;
        reply = encodePacket({ ...packet, authenticator: responseAuthenticator(packet, request.authenticator, SECRET) });
      }
      socket.send(reply, peer.port, peer.address);
    } catch (e) {
      if (!isTallyError(e)) throw e;
      seen.refused.push(e.code);
    }
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  t.after(() => socket.close());
  return { port: socket.address().port, seen };
}

/** radclient against the responder on this machine, with this file's secret unless told otherwise. */
function radclient(port: number, lines: string[], secret = SECRET) {
  return runRadclient(port, secret, lines, { timeoutSeconds: 2 });
}

const signed = (user: string, password: string): string[] => [
  `User-Name = "${user}"`,
  `User-Password = "${password}"`,
  // radclient computes the real value in place of this placeholder.
  'Message-Authenticator = 0x00',
];

interopTest('radclient accepts our Access-Accept with its Reply-Message and echoed Proxy-States', ['radclient'], async (t) => {
  const { port } = await startResponder(t);
  const run = await radclient(port, [...signed('alice', '123456'), 'Proxy-State = 0x0102', 'Proxy-State = 0x0a0b']);
  assert.equal(run.status, 0, run.stderr);
  const reply = received(run, 'Access-Accept');
  assert.match(reply, /Message-Authenticator = 0x[0-9a-f]{32}/);
  assert.match(reply, /Reply-Message = "Welcome, alice"/);
  assert.match(reply, /Proxy-State = 0x0102\s+Proxy-State = 0x0a0b/);
});

interopTest(
  'radclient follows our Access-Challenge: State and Reply-Message, then Accept with the State sent back',
  ['radclient'],
  async (t) => {
    const { port, seen } = await startResponder(t);
    const first = await radclient(port, [...signed('alice', 'challenge'), 'Response-Packet-Type = Access-Challenge']);
    assert.equal(first.status, 0, first.stderr);
    const challenge = received(first, 'Access-Challenge');
    assert.match(challenge, /Reply-Message = "Enter the next tokencode"/);
    const state = /State = 0x([0-9a-f]+)/.exec(challenge)?.[1];
    assert.equal(state, firstItem(seen.issued).toString('hex'));

    const second = await radclient(port, [...signed('alice', '123456'), `State = 0x${state}`]);
    assert.equal(second.status, 0, second.stderr);
    received(second, 'Access-Accept');
    assert.deepEqual(seen.states, [seen.issued[0]]);
  },
);

interopTest('radclient accepts our Access-Reject', ['radclient'], async (t) => {
  const { port } = await startResponder(t);
  const run = await radclient(port, [...signed('alice', '000000'), 'Response-Packet-Type = Access-Reject']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(received(run, 'Access-Reject'), /Reply-Message = "Access denied"/);
});

interopTest(
  'radclient discards a reply with a broken Response or Message-Authenticator; we drop unsigned or wrongly signed requests',
  ['radclient'],
  async (t) => {
    const { port, seen } = await startResponder(t);
    const [badResponse, badMessage, unsigned, wrongSecret] = await Promise.all([
      radclient(port, signed('broken-response-authenticator', '123456')),
      radclient(port, signed('broken-message-authenticator', '123456')),
      radclient(port, ['User-Name = "alice"', 'User-Password = "123456"']),
      radclient(port, signed('alice', '123456'), 'not the secret'),
    ]);
    for (const run of [badResponse, badMessage, unsigned, wrongSecret]) {
      assert.equal(run.status, 1);
      assert.doesNotMatch(run.stdout, /Received Access-/);
      assert.match(run.stdout, /No reply from server/);
    }
    assert.match(badResponse.stderr, /invalid Response Authenticator/);
    assert.match(badMessage.stderr, /invalid Message-Authenticator/);
    assert.deepEqual([...seen.refused].sort(), ['RADIUS_BAD_AUTHENTICATOR', 'RADIUS_MESSAGE_AUTHENTICATOR_MISSING']);
  },
);
