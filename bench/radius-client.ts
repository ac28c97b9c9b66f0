import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { buildAccessRequest, verifyReply } from '../src/core/radius/authenticators.js';
import { decodePacket, RadiusCode } from '../src/core/radius/packet.js';

export interface RadiusEndpoint {
  host: string;
  port: number;
  secret: string;
}

export type Outcome = 'accept' | 'reject' | 'challenge' | 'lost';

interface Pending {
  authenticator: Buffer;
  settle: (outcome: Outcome) => void;
  timer: NodeJS.Timeout;
}

/**
 * A NAS on one UDP socket built from Tally's own codec: many requests may be outstanding, matched
 * to replies by identifier and checked with the Response Authenticator (and the
 * Message-Authenticator when the server sends one; FreeRADIUS 3.2.1 does not).
 */
export class RadiusClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly endpoint: RadiusEndpoint,
  ) {
    socket.on('message', (datagram) => this.receive(datagram));
  }

  static async open(endpoint: RadiusEndpoint): Promise<RadiusClient> {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new RadiusClient(socket, endpoint);
  }

  /** Sends one PAP Access-Request; a reply that does not verify is ignored, so it ends as lost. */
  request(userName: string, password: string, timeoutMs: number): Promise<Outcome> {
    const identifier = this.freeIdentifier();
    const authenticator = randomBytes(16);
    return new Promise((resolve) => {
      const settle = (outcome: Outcome) => {
        clearTimeout(timer);
        this.pending.delete(identifier);
        resolve(outcome);
      };
      const timer = setTimeout(() => settle('lost'), timeoutMs);
      this.pending.set(identifier, { authenticator, settle, timer });
      this.socket.send(
        buildAccessRequest({ identifier, authenticator, userName, password }, this.endpoint.secret),
        this.endpoint.port,
        this.endpoint.host,
      );
    });
  }

  close(): void {
    for (const { settle } of this.pending.values()) settle('lost');
    this.socket.close();
  }

  private freeIdentifier(): number {
    for (let tries = 0; tries < 256; tries++) {
      const id = this.nextId;
      this.nextId = (this.nextId + 1) % 256;
      if (!this.pending.has(id)) return id;
    }
    throw new Error('All 256 RADIUS identifiers are outstanding on one socket.');
  }

  private receive(datagram: Buffer): void {
    try {
      const reply = decodePacket(datagram);
      const waiting = this.pending.get(reply.identifier);
      if (waiting === undefined) return;
      verifyReply(reply, { identifier: reply.identifier, authenticator: waiting.authenticator }, this.endpoint.secret, {
        requireMessageAuthenticator: false,
      });
      if (reply.code === RadiusCode.AccessAccept) waiting.settle('accept');
      else if (reply.code === RadiusCode.AccessReject) waiting.settle('reject');
      else if (reply.code === RadiusCode.AccessChallenge) waiting.settle('challenge');
    } catch {
      // A malformed or forged datagram is not an answer; the request times out as lost.
    }
  }
}
