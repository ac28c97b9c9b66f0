import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstItem } from '../../test/support/items.js';
import { buildServerResponse, buildSoapFault, INVALID_AUTHORIZATION_CODE, MAX_MESSAGE_BYTES } from '../core/ctkip/messages.js';
import { type ActivationTarget, activateToken, activationTarget } from './ctkip-http.js';

const SERVICE = 'https://tally.example.com:443/ctkip/services/CtkipService';
const CODE = '123456789012';

test('the service URL and code come from a plain URL or any app link', () => {
  assert.deepEqual(activationTarget(SERVICE, CODE), { serviceUrl: SERVICE.replace(':443', ''), activationCode: CODE });
  assert.deepEqual(
    activationTarget(`com.rsa.securid://ctkip?scheme=https&url=tally.example.com:443/ctkip/services/CtkipService&activationCode=${CODE}`),
    {
      serviceUrl: 'https://tally.example.com/ctkip/services/CtkipService',
      activationCode: CODE,
    },
  );
  assert.equal(activationTarget(`com.rsa.securid://ctkip?scheme=https&url=h:7004/p&activationCode=${CODE}`, CODE).activationCode, CODE);
  assert.equal(
    activationTarget('securidauthenticator://ctkip?scheme=http&url=127.0.0.1:8080/ctkip/services/CtkipService', CODE).serviceUrl,
    'http://127.0.0.1:8080/ctkip/services/CtkipService',
  );
  assert.equal(
    activationTarget('http://127.0.0.1/securid/ctf?schema=https&url=h:443/ctkip/services/CtkipService', CODE).serviceUrl,
    'https://h/ctkip/services/CtkipService',
  );
});

test('a missing, conflicting or unsendable code and a token link are refused', () => {
  assert.throws(() => activationTarget(SERVICE), { code: 'VALIDATION_FAILED', message: /carries no activation code/ });
  assert.throws(() => activationTarget(SERVICE, '  '), { code: 'VALIDATION_FAILED', message: /carries no activation code/ });
  assert.throws(() => activationTarget(`com.rsa.securid://ctkip?scheme=https&url=h:443/p&activationCode=${CODE}`, '999'), {
    code: 'VALIDATION_FAILED',
    message: /differs from the one in the link/,
  });
  assert.throws(() => activationTarget(SERVICE, '1234\r\nX-Injected: 1'), {
    code: 'VALIDATION_FAILED',
    message: /printable characters without spaces/,
  });
  assert.throws(() => activationTarget('http://127.0.0.1/securid/ctf?ctfData=2123'), {
    code: 'FORMAT_INVALID',
    message: /use `tally token import`/,
  });
  assert.throws(() => activationTarget('ftp://example.com/x', CODE), { code: 'FORMAT_INVALID' });
});

const target: ActivationTarget = { serviceUrl: 'https://tally.example.com/ctkip/services/CtkipService', activationCode: CODE };

function answering(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): { fetch: typeof fetch; requests: { url: string; init: RequestInit }[] } {
  const requests: { url: string; init: RequestInit }[] = [];
  return {
    requests,
    fetch: (async (url: string, init: RequestInit) => {
      requests.push({ url, init });
      return new Response(body, { status, headers });
    }) as typeof fetch,
  };
}

test("the first request is the ClientHello envelope with the dialect's headers", async () => {
  const server = answering(200, buildSoapFault(INVALID_AUTHORIZATION_CODE));
  await assert.rejects(activateToken(target, { fetch: server.fetch }));
  const { url, init } = firstItem(server.requests);
  assert.equal(url, target.serviceUrl);
  assert.equal(init.method, 'POST');
  assert.deepEqual(init.headers, {
    Authorization: CODE,
    SOAPAction: 'StartService',
    'Content-Type': 'application/vnd.otps.ct-kip',
    'User-Agent': 'HTTPPOST',
  });
  assert.match(String(init.body), new RegExp(`<AuthData >${CODE}</AuthData>`));
});

test("a SOAP fault gives the server's reason, with HTTP 200 or 500, never echoing the code or control characters", async () => {
  for (const status of [200, 500]) {
    await assert.rejects(activateToken(target, { fetch: answering(status, buildSoapFault(INVALID_AUTHORIZATION_CODE)).fetch }), {
      code: 'CTKIP_SERVER_FAULT',
      message: 'The CT-KIP server refused the activation: Invalid authorization code.',
    });
  }
  const echoing = buildSoapFault({ exceptionClass: 'x.Y', message: `Code ${CODE} is unknown.\u001b[2J` });
  await assert.rejects(activateToken(target, { fetch: answering(200, echoing).fetch }), (error: Error) => {
    assert.equal(error.message, 'The CT-KIP server refused the activation: Code [activation code] is unknown. [2J');
    return true;
  });
});

test('HTTP errors, redirects, non-CT-KIP answers and answers for another code are named', async () => {
  await assert.rejects(activateToken(target, { fetch: answering(404, 'no such page').fetch }), {
    code: 'CTKIP_SERVER_FAULT',
    message: 'The CT-KIP server answered HTTP 404.',
  });
  await assert.rejects(activateToken(target, { fetch: answering(301, '', { location: 'https://other.example.com/ctkip' }).fetch }), {
    code: 'CTKIP_SERVER_FAULT',
    message: /HTTP 301, a redirect to https:\/\/other\.example\.com\/ctkip; activate with that URL/,
  });
  await assert.rejects(activateToken(target, { fetch: answering(200, '<html><body>Welcome</body></html>').fetch }), {
    code: 'CTKIP_BAD_MESSAGE',
  });
  await assert.rejects(activateToken(target, { fetch: answering(200, 'plain text').fetch }), {
    code: 'CTKIP_BAD_MESSAGE',
    message: /not a CT-KIP message/,
  });
  const otherCode = buildServerResponse({ authData: '999999999999', provisioningData: '<a/>', response: '<ServerHello/>' });
  await assert.rejects(activateToken(target, { fetch: answering(200, otherCode).fetch }), {
    code: 'CTKIP_BAD_MESSAGE',
    message: /another activation code/,
  });
  await assert.rejects(activateToken(target, { fetch: answering(200, 'x'.repeat(MAX_MESSAGE_BYTES + 1)).fetch }), {
    code: 'CTKIP_BAD_MESSAGE',
    message: /larger than/,
  });
});

test('network failures and timeouts say which server could not be reached', async () => {
  const refused = (async () => {
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
  }) as typeof fetch;
  await assert.rejects(activateToken(target, { fetch: refused }), {
    code: 'CTKIP_UNREACHABLE',
    message: 'Cannot reach the CT-KIP server at https://tally.example.com: connect ECONNREFUSED 127.0.0.1:9.',
  });
  // AbortSignal.timeout does not keep the process alive; a real socket would, this timer stands in for it.
  const slow = ((_url: string, init: RequestInit) =>
    new Promise((_, reject) => {
      const socket = setTimeout(() => reject(new Error('the timeout did not fire')), 5000);
      init.signal?.addEventListener('abort', () => {
        clearTimeout(socket);
        reject(init.signal?.reason);
      });
    })) as typeof fetch;
  await assert.rejects(activateToken(target, { fetch: slow, timeoutMs: 50 }), {
    code: 'CTKIP_UNREACHABLE',
    message: 'The CT-KIP server at https://tally.example.com did not answer within 0.05 s.',
  });
});
