/**
 * Syslog messages as RFC 5424 defines them, and their framing on a stream (RFC 6587 octet
 * counting, which RFC 5425 requires over TLS). Pure: the caller supplies the time, host and fields.
 */

export interface StructuredElement {
  /** An SD-ID: a registered name, or `name@private-enterprise-number`. */
  id: string;
  params: ReadonlyArray<readonly [name: string, value: string]>;
}

export interface SyslogMessage {
  /** 0..23 (e.g. 10 authpriv, 13 log audit). */
  facility: number;
  /** 0 emergency .. 7 debug. */
  severity: number;
  /** An RFC 3339 time (`2026-01-31T12:00:00.000Z`), or undefined for the NILVALUE. */
  timestamp?: string;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  structuredData?: readonly StructuredElement[];
  /** Free text, sent as UTF-8 with the BOM that marks it so. */
  message?: string;
}

const NIL = '-';
const UTF8_BOM = '\uFEFF';

/**
 * A header field: PRINTUSASCII (33..126) only and at most `max` octets (RFC 5424 section 6);
 * anything else is replaced rather than refused, since a log line must never be lost to a name.
 */
function headerField(value: string | undefined, max: number): string {
  if (value === undefined || value === '') return NIL;
  return value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
}

/** An SD-NAME: PRINTUSASCII except `=`, space, `]` and `"`, at most 32 octets. */
function sdName(name: string): string {
  const cleaned = name.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32);
  if (cleaned === '') throw new Error('an SD-ID or PARAM-NAME must not be empty');
  return cleaned;
}

/** A PARAM-VALUE: UTF-8 with `"`, `\` and `]` escaped by a backslash (RFC 5424 section 6.3.3). */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

export function structuredData(elements: readonly StructuredElement[] | undefined): string {
  if (!elements || elements.length === 0) return NIL;
  return elements
    .map(
      (element) =>
        `[${[sdName(element.id), ...element.params.map(([name, value]) => `${sdName(name)}="${escapeParamValue(value)}"`)].join(' ')}]`,
    )
    .join('');
}

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [BOM MSG]`. */
export function formatSyslogMessage(message: SyslogMessage): string {
  if (!Number.isInteger(message.facility) || message.facility < 0 || message.facility > 23) throw new Error('facility must be 0..23');
  if (!Number.isInteger(message.severity) || message.severity < 0 || message.severity > 7) throw new Error('severity must be 0..7');
  const header = [
    `<${message.facility * 8 + message.severity}>1`,
    message.timestamp ?? NIL,
    headerField(message.hostname, 255),
    headerField(message.appName, 48),
    headerField(message.procId, 128),
    headerField(message.msgId, 32),
    structuredData(message.structuredData),
  ].join(' ');
  return message.message === undefined || message.message === '' ? header : `${header} ${UTF8_BOM}${message.message}`;
}

/** RFC 6587 octet-counting: `MSG-LEN SP SYSLOG-MSG`, the length in octets of the UTF-8 message. */
export function octetCountedFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
