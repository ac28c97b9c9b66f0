import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeParamValue, formatSyslogMessage, octetCountedFrame } from './rfc5424.js';

const BOM = '\uFEFF';

test('RFC 5424 example 1: no structured data, a UTF-8 message after the BOM', () => {
  assert.equal(
    formatSyslogMessage({
      facility: 4,
      severity: 2,
      timestamp: '2003-10-11T22:14:15.003Z',
      hostname: 'mymachine.example.com',
      appName: 'su',
      msgId: 'ID47',
      message: "'su root' failed for lonvick on /dev/pts/8",
    }),
    `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${BOM}'su root' failed for lonvick on /dev/pts/8`,
  );
});

test('RFC 5424 examples 3 and 4: structured data elements, with and without a message', () => {
  const message = {
    facility: 20,
    severity: 5,
    timestamp: '2003-10-11T22:14:15.003Z',
    hostname: 'mymachine.example.com',
    appName: 'evntslog',
    msgId: 'ID47',
    structuredData: [
      {
        id: 'exampleSDID@32473',
        params: [
          ['iut', '3'],
          ['eventSource', 'Application'],
          ['eventID', '1011'],
        ] as const,
      },
    ],
  };
  assert.equal(
    formatSyslogMessage({ ...message, message: 'An application event log entry...' }),
    `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${BOM}An application event log entry...`,
  );
  assert.equal(
    formatSyslogMessage({
      ...message,
      structuredData: [...message.structuredData, { id: 'examplePriority@32473', params: [['class', 'high']] }],
    }),
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
  );
});

test('PARAM-VALUEs escape ", \\ and ] with a backslash and nothing else (RFC 5424 6.3.3)', () => {
  assert.equal(escapeParamValue('a"b\\c]d[e=f\'g'), 'a\\"b\\\\c\\]d[e=f\'g');
  const line = formatSyslogMessage({ facility: 10, severity: 6, structuredData: [{ id: 'x@32473', params: [['details', '{"k":"]"}']] }] });
  assert.equal(line, '<86>1 - - - - - [x@32473 details="{\\"k\\":\\"\\]\\"}"]');
});

test('header fields take PRINTUSASCII within their lengths; empty ones are the NILVALUE; bad PRI parts are refused', () => {
  const line = formatSyslogMessage({
    facility: 13,
    severity: 6,
    hostname: 'host name',
    appName: 'a'.repeat(60),
    msgId: 'token.activation.confirm.and.more.x',
    procId: '',
  });
  assert.equal(line, `<110>1 - host_name ${'a'.repeat(48)} - token.activation.confirm.and.mor -`);
  assert.throws(() => formatSyslogMessage({ facility: 24, severity: 0 }), /facility/);
  assert.throws(() => formatSyslogMessage({ facility: 0, severity: 8 }), /severity/);
});

test('octet-counting framing (RFC 6587 3.4.1) counts UTF-8 octets, not characters', () => {
  assert.equal(octetCountedFrame('<34>1 - - - - - -').toString(), '17 <34>1 - - - - - -');
  const withBom = `<34>1 - - - - - - ${BOM}café`;
  const frame = octetCountedFrame(withBom);
  assert.equal(frame.toString('utf8'), `${Buffer.byteLength(withBom)} ${withBom}`);
  assert.equal(Buffer.byteLength(withBom), withBom.length + 3, 'the BOM is 3 octets, é 2');
});
