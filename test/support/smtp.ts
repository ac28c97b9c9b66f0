import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** Header names in lower case; folded lines joined. */
  headers: Record<string, string>;
  /** The body, decoded from quoted-printable or base64 where the message says so. */
  text: string;
  raw: string;
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeWord(value: string): string {
  return value.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_, encoding: string, data: string) =>
    encoding.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
  );
}

function parse(raw: string, envelope: { from: string; to: string[] }): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = decodeWord(line.slice(colon + 1).trim());
  }
  const body = raw.slice(split + 4);
  const encoding = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body, 'base64').toString('utf8')
        : body;
  return { ...envelope, headers, text: text.replace(/\r\n/g, '\n'), raw };
}

export interface TestSmtpServer {
  port: number;
  mails: ReceivedMail[];
  waitFor(count: number): Promise<ReceivedMail[]>;
  /** Stops listening (the port refuses connections) until `start`, which listens on the same port again. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Answers every recipient with this permanent error (e.g. 550) until called with `undefined`. */
  refuse(code: number | undefined): void;
  /**
   * Holds each message's final reply (the 250 after DATA) until the returned function is called:
   * a slow server. `arrived` resolves once a held message has come in.
   */
  hold(): { arrived: Promise<void>; release(): void };
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback that keeps what arrives, for tests that read the mail Tally sent;
 * tests may stop and start it again on its port, make it refuse recipients, or hold its replies.
 */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = [];
  let refusal: number | undefined;
  let held: { gate: Promise<void>; arrived(): void } | undefined;
  const create = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(_address, _session, callback) {
        if (refusal === undefined) return callback();
        callback(Object.assign(new Error('Mailbox unavailable'), { responseCode: refusal }));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const envelope = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          };
          const accept = () => {
            mails.push(parse(Buffer.concat(chunks).toString('utf8'), envelope));
            callback();
          };
          if (!held) return accept();
          held.arrived();
          void held.gate.then(accept);
        });
      },
    });
  let server = create();
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    port,
    mails,
    async waitFor(count: number) {
      const deadline = Date.now() + 10_000;
      while (mails.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return mails;
    },
    stop: close,
    async start() {
      server = create();
      await listen(port);
    },
    refuse(code) {
      refusal = code;
    },
    hold() {
      let release = () => {};
      let arrived = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const arrival = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      held = { gate, arrived };
      return {
        arrived: arrival,
        release: () => {
          held = undefined;
          release();
        },
      };
    },
    close,
  };
}
