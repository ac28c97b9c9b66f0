import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { SyslogAddress } from '../config.js';
import { octetCountedFrame } from '../core/syslog/rfc5424.js';
import type { AuditSink } from '../domain/audit-forwarding.js';

export interface SyslogTarget extends SyslogAddress {
  /** TLS only: PEM CA certificates to trust instead of the system's. */
  caFile?: string;
}

/** A connected UDP socket: one datagram per message (RFC 5426), no framing. Lossy by nature: nothing confirms delivery. */
class UdpSink implements AuditSink {
  private socket?: Promise<UdpSocket>;

  constructor(private readonly target: SyslogTarget) {}

  private connected(): Promise<UdpSocket> {
    this.socket ??= new Promise((resolve, reject) => {
      const socket = createSocket(this.target.host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', reject);
      socket.connect(this.target.port, this.target.host, () => {
        socket.off('error', reject);
        // An ICMP "port unreachable" surfaces here; the next send reconnects.
        socket.on('error', () => this.drop(socket));
        resolve(socket);
      });
    });
    this.socket.catch(() => (this.socket = undefined));
    return this.socket;
  }

  private drop(socket: UdpSocket): void {
    socket.close();
    this.socket = undefined;
  }

  async send(messages: readonly string[]): Promise<void> {
    const socket = await this.connected();
    for (const message of messages)
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.from(message, 'utf8'), (error) => {
          if (error) {
            this.drop(socket);
            reject(error);
          } else resolve();
        }),
      );
  }

  async close(): Promise<void> {
    const socket = await this.socket?.catch(() => undefined);
    socket?.close();
    this.socket = undefined;
  }
}

/**
 * TCP (RFC 6587) or TLS (RFC 5425) with octet-counted frames. A connection that fails or that the
 * server closes is dropped, and the next send connects again; a send resolves once its bytes are
 * written to the kernel, which is as far as syslog over a stream can confirm.
 */
class StreamSink implements AuditSink {
  private socket?: Promise<Socket>;
  /** The socket being connected or connected, so that a late 'close' of an old one changes nothing. */
  private current?: Socket;
  private readonly ca?: Buffer;

  constructor(private readonly target: SyslogTarget) {
    this.ca = target.caFile === undefined ? undefined : readFileSync(target.caFile);
  }

  private connected(): Promise<Socket> {
    this.socket ??= new Promise((resolve, reject) => {
      const { host, port } = this.target;
      const socket =
        this.target.protocol === 'tls'
          ? connectTls(
              { host, port, ca: this.ca, servername: host.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(host) ? undefined : host },
              () => resolve(socket),
            )
          : connectTcp({ host, port }, () => resolve(socket));
      const lost = (error?: Error) => {
        if (this.current === socket) this.socket = undefined;
        socket.destroy();
        reject(error ?? new Error('the syslog server closed the connection'));
      };
      socket.setKeepAlive(true);
      socket.once('error', lost);
      socket.once('end', () => lost());
      socket.once('close', () => lost());
      // Nothing is read from the server; reading keeps 'end' coming when it closes.
      socket.on('data', () => {});
      this.current = socket;
    });
    this.socket.catch(() => {});
    return this.socket;
  }

  async send(messages: readonly string[]): Promise<void> {
    const socket = await this.connected();
    const frames = Buffer.concat(messages.map(octetCountedFrame));
    await new Promise<void>((resolve, reject) => {
      socket.write(frames, (error) => {
        if (error) {
          socket.destroy();
          reject(error);
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const socket = await this.socket?.catch(() => undefined);
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.end(resolve));
  }
}

export function openSyslogSink(target: SyslogTarget): AuditSink {
  return target.protocol === 'udp' ? new UdpSink(target) : new StreamSink(target);
}
