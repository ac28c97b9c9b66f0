import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readVectorJson } from '../../../test/support/vectors.js';
import { type ErrorCode, TallyError } from '../../errors.js';
import { type AppLinkForm, buildAppLink, parseAppLink } from './links.js';

const SERVICE = 'https://tally.example.com/ctkip/services/CtkipService';
const CODE = '482915736024';

function rejects(fn: () => unknown, code: ErrorCode): TallyError {
  let caught: unknown;
  assert.throws(fn, (error) => {
    caught = error;
    return error instanceof TallyError && error.code === code;
  });
  return caught as TallyError;
}

test('builds each app link form with the port written out', () => {
  assert.equal(
    buildAppLink({ form: 'securid', serviceUrl: SERVICE, activationCode: CODE }),
    `com.rsa.securid://ctkip?scheme=https&url=tally.example.com:443/ctkip/services/CtkipService&activationCode=${CODE}`,
  );
  const at7004 = 'https://tally.example.com:7004/ctkip/services/CtkipService';
  const expected: Record<Exclude<AppLinkForm, 'securid'>, string> = {
    'securid-url': 'com.rsa.securid://ctkip?url=https://tally.example.com:7004/ctkip/services/CtkipService',
    android: 'http://127.0.0.1/securid/ctf?schema=https&url=tally.example.com:7004/ctkip/services/CtkipService',
    windows: 'securidauthenticator://ctkip?scheme=https&url=tally.example.com:7004/ctkip/services/CtkipService',
    plain: 'https://tally.example.com:7004/ctkip/services/CtkipService',
  };
  for (const [form, link] of Object.entries(expected)) {
    assert.equal(buildAppLink({ form: form as Exclude<AppLinkForm, 'securid'>, serviceUrl: at7004 }), link);
  }
  assert.equal(
    buildAppLink({ form: 'windows', serviceUrl: 'http://localhost:8080/ctkip/services/CtkipService' }),
    'securidauthenticator://ctkip?scheme=http&url=localhost:8080/ctkip/services/CtkipService',
  );
});

test('every built link parses back to the service URL (and the code where the link has one)', () => {
  for (const form of ['securid-url', 'android', 'windows', 'plain'] as const) {
    assert.deepEqual(parseAppLink(buildAppLink({ form, serviceUrl: SERVICE })), { kind: 'ctkip', serviceUrl: SERVICE });
  }
  assert.deepEqual(parseAppLink(buildAppLink({ form: 'securid', serviceUrl: SERVICE, activationCode: CODE })), {
    kind: 'ctkip',
    serviceUrl: SERVICE,
    activationCode: CODE,
  });
});

test('parses the link shapes reported from the field', () => {
  const cases: Array<[string, string, string?]> = [
    [
      'com.rsa.securid://ctkip?scheme=https&url=rsa.example.org:443/ctkip/services/CtkipService&activationCode=123456789012',
      'https://rsa.example.org/ctkip/services/CtkipService',
      '123456789012',
    ],
    [
      'com.rsa.securid://ctkip?url=https://rsa.example.org:443/ctkip/services/CtkipService',
      'https://rsa.example.org/ctkip/services/CtkipService',
    ],
    [
      'http://127.0.0.1/securid/ctf?schema=https&url=rsa.example.org:443/ctkip/services/CtkipService',
      'https://rsa.example.org/ctkip/services/CtkipService',
    ],
    [
      'securidauthenticator://ctkip?scheme=https&url=rsa.example.org:7004/ctkip/services/CtkipService',
      'https://rsa.example.org:7004/ctkip/services/CtkipService',
    ],
    ['https://rsa.example.org:7004/ctkip/services/CtkipService', 'https://rsa.example.org:7004/ctkip/services/CtkipService'],
    [`  ${readVectorJson('ctkip/mock-exchange/exchange.json').url}\n`, 'http://127.0.0.1:18180/ctkip/services/CtkipService'],
    ['COM.RSA.SECURID://CTKIP?Scheme=https&URL=h.example:443/x&ActivationCode=42', 'https://h.example/x', '42'],
  ];
  for (const [link, serviceUrl, activationCode] of cases) {
    assert.deepEqual(parseAppLink(link), { kind: 'ctkip', serviceUrl, ...(activationCode ? { activationCode } : {}) }, link);
  }
});

test('recognises compressed-token links and hands them back whole', () => {
  for (const link of [
    'com.rsa.securid.iphone://ctf?ctfData=212345678901207502410241702213006102607705762041454650504150066156332262716713530',
    'com.rsa.securid://ctf?ctfData=212345678901207502410241702213006102607705762041454650504150066156332262716713530',
    'http://127.0.0.1/securid/ctf?ctfData=AwAA+x%2Fy%3D',
  ]) {
    assert.deepEqual(parseAppLink(` ${link} `), { kind: 'ctf', link });
  }
});

test('refuses what is not a CT-KIP URL or app link, without echoing a code', () => {
  for (const input of [
    'not a link',
    '',
    'mailto:someone@example.com',
    'ftp://example.com/ctkip',
    'https://user:pw@example.com/ctkip',
    'com.rsa.securid://ctkip?scheme=https',
    'com.rsa.securid://other?url=h.example:443/x',
    'com.rsa.securid://ctkip?url=ftp://h.example/x',
    'com.rsa.securid://ctkip?url=%E0%A4%A',
    'http://127.0.0.1/securid/ctf?schema=https',
  ]) {
    rejects(() => parseAppLink(input), 'FORMAT_INVALID');
  }
  const secret = '12345abc9012';
  const error = rejects(() => parseAppLink(`com.rsa.securid://ctkip?url=h.example:443/x&activationCode=${secret}`), 'FORMAT_INVALID');
  assert.ok(!error.message.includes(secret));
});

test('refuses to build links from unusable service URLs or codes', () => {
  for (const serviceUrl of [
    'not a url',
    'ftp://h.example/x',
    'https://u:p@h.example/x',
    'https://h.example/x?a=1&b=2',
    'https://h.example/x#f',
  ]) {
    rejects(() => buildAppLink({ form: 'plain', serviceUrl }), 'VALIDATION_FAILED');
  }
  const error = rejects(() => buildAppLink({ form: 'securid', serviceUrl: SERVICE, activationCode: '1234-5678' }), 'VALIDATION_FAILED');
  assert.ok(!error.message.includes('1234-5678'));
  rejects(() => buildAppLink({ form: 'securid', serviceUrl: SERVICE, activationCode: '' }), 'VALIDATION_FAILED');
});
