import { randomUUID } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { AttributeType, attributeBytes, attributeString } from '../core/radius/attributes.js';
import { buildReply, type ReplyCode, unhidePassword, verifyRequestMessageAuthenticator } from '../core/radius/authenticators.js';
import { decodePacket, RadiusCode } from '../core/radius/packet.js';
import { type Clock, systemClock } from '../domain/clock.js';
import type { RadiusDropReason } from '../domain/observer.js';
import type { Services } from '../domain/services.js';
import { isStoreUnreachable, isTallyError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface RadiusServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** For the once-a-minute warnings; the system clock unless a test injects one. */
  clock?: Clock;
}

export interface RunningRadius {
  port: number;
  close(): Promise<void>;
}

/** How long a reply is kept for a retransmitted request (RFC 5080 suggests a few seconds). */
const DUPLICATE_WINDOW_MS = 30_000;
const MAX_DUPLICATES_TRACKED = 100_000;
/** A client whose requests are dropped for their Message-Authenticator is named in a warning at most this often. */
const DROP_WARNING_INTERVAL_MS = 60_000;

const DROP_REASONS: Partial<Record<string, string>> = {
  RADIUS_MESSAGE_AUTHENTICATOR_MISSING:
    'it has no Message-Authenticator, which this client must send (BlastRADIUS protection). Upgrade the client to a release that sends one (pam_radius_auth does since 3.0.0, July 2024), or register it with requireMessageAuthenticator: false (docs/guides/radius.md)',
  RADIUS_BAD_AUTHENTICATOR:
    'its Message-Authenticator is wrong: the shared secret configured on the client differs from the one registered in Tally',
};

/** Why a refused packet was dropped, for the metrics, by the refusal's stable code. */
const DROP_METRIC_REASONS: Partial<Record<string, RadiusDropReason>> = {
  RADIUS_MALFORMED_PACKET: 'malformed',
  RADIUS_MESSAGE_AUTHENTICATOR_MISSING: 'missing_message_authenticator',
  RADIUS_BAD_AUTHENTICATOR: 'bad_authenticator',
  RATE_LIMITED: 'overloaded',
};

const REPLY_CODES: Record<'accept' | 'reject' | 'challenge', ReplyCode> = {
  accept: RadiusCode.AccessAccept,
  reject: RadiusCode.AccessReject,
  challenge: RadiusCode.AccessChallenge,
};

/**
 * The RADIUS adapter (RFC 2865, PAP): decode → authentication service → signed reply. Unknown
 * clients, malformed packets and requests that fail their Message-Authenticator get no answer;
 * a retransmission (same client, identifier and authenticator) gets the cached reply.
 */
export async function startRadiusServer(services: Services, options: RadiusServerOptions): Promise<RunningRadius> {
  const socket: Socket = createSocket({ type: options.host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
  const replies = new Map<string, { at: number; reply?: Buffer }>();
  const clock = options.clock ?? systemClock;
  const warned = new Map<string, { at: number; dropped: number }>();
  let lastStoreWarning = Number.NEGATIVE_INFINITY;

  /** Says why a known client gets no answer: at warning level, once per client and minute, with how many more were dropped since. */
  function warnDropped(clientName: string, address: string, requestId: string, error: unknown): void {
    const reason = isTallyError(error) ? DROP_REASONS[error.code] : undefined;
    if (!reason || !isTallyError(error)) return;
    const now = clock.now();
    const last = warned.get(clientName);
    if (last && now - last.at < DROP_WARNING_INTERVAL_MS) {
      last.dropped++;
      return;
    }
    warned.set(clientName, { at: now, dropped: 0 });
    options.logger.warn(
      { reqId: requestId, client: clientName, address, code: error.code, droppedSinceLastWarning: last ? last.dropped : 0 },
      `RADIUS request from client ${clientName} dropped unanswered: ${reason}. Further drops from this client are logged at most once a minute.`,
    );
  }

  /** `requestId` names this packet in the log lines and audit event it leads to. */
  async function answer(datagram: Buffer, remote: RemoteInfo, requestId: string): Promise<void> {
    const client = await services.radiusClients.resolve(remote.address);
    if (!client) {
      services.observer.radiusDropped('unknown_client');
      options.logger.debug({ reqId: requestId, address: remote.address }, 'RADIUS packet from an unknown client dropped');
      return;
    }
    const request = decodePacket(datagram);
    if (request.code !== RadiusCode.AccessRequest) {
      services.observer.radiusDropped('unsupported_code');
      return;
    }
    try {
      verifyRequestMessageAuthenticator(request, client.secret, { required: client.requireMessageAuthenticator });
    } catch (error) {
      warnDropped(client.name, remote.address, requestId, error);
      throw error;
    }
    const key = `${remote.address}:${remote.port}:${request.identifier}:${request.authenticator.toString('hex')}`;
    const now = Date.now();
    const seen = replies.get(key);
    if (seen && now - seen.at < DUPLICATE_WINDOW_MS) {
      // Answered again from the cache; one still being decided gets nothing (the client sends again).
      if (seen.reply) socket.send(seen.reply, remote.port, remote.address);
      else services.observer.radiusDropped('duplicate');
      return;
    }
    replies.set(key, { at: now });
    if (replies.size > MAX_DUPLICATES_TRACKED) {
      for (const [oldKey, entry] of replies) {
        if (now - entry.at < DUPLICATE_WINDOW_MS) break;
        replies.delete(oldKey);
      }
    }
    const username = attributeString(request, AttributeType.UserName) ?? '';
    const hidden = attributeBytes(request, AttributeType.UserPassword);
    const state = attributeBytes(request, AttributeType.State);
    const passcode = hidden ? unhidePassword(hidden, client.secret, request.authenticator).toString('utf8') : '';
    const result = await services.authentication
      .verify(
        { kind: 'radius-client', name: client.name, role: 'agent', source: remote.address, requestId },
        { username, passcode, state: state?.toString('latin1'), channel: 'radius' },
      )
      .catch((error: unknown) => {
        // Unanswered, so the client's retransmission is tried again rather than taken for a duplicate.
        replies.delete(key);
        throw error;
      });
    const reply = buildReply(request, client.secret, {
      code: REPLY_CODES[result.result],
      replyMessage: result.message,
      state: result.result === 'challenge' ? Buffer.from(result.state, 'latin1') : undefined,
    });
    replies.set(key, { at: now, reply });
    socket.send(reply, remote.port, remote.address);
  }

  socket.on('message', (datagram, remote) => {
    const requestId = randomUUID();
    answer(datagram, remote, requestId).catch((error: unknown) => {
      if (isStoreUnreachable(error)) {
        // No answer without a durable decision: the client sends again, or asks another server.
        services.observer.radiusDropped('store_unavailable');
        if (clock.now() - lastStoreWarning >= DROP_WARNING_INTERVAL_MS) {
          lastStoreWarning = clock.now();
          options.logger.warn(
            { reqId: requestId, cause: (error as Error).message },
            'RADIUS requests dropped unanswered: the store cannot be reached. Logged at most once a minute; tally_radius_packets_dropped_total{reason="store_unavailable"} counts them.',
          );
        }
        return;
      }
      services.observer.radiusDropped((isTallyError(error) && DROP_METRIC_REASONS[error.code]) || 'error');
      if (isTallyError(error))
        options.logger.debug({ reqId: requestId, code: error.code, address: remote.address }, 'RADIUS packet dropped');
      else options.logger.error({ reqId: requestId, err: error }, 'RADIUS request failed');
    });
  });
  socket.on('error', (error) => options.logger.error({ err: error }, 'RADIUS socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port, options.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
