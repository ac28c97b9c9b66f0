import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstItem, item } from '../../test/support/items.js';
import { readVector, readVectorJson } from '../../test/support/vectors.js';
import { readSource } from './sources.js';
import { type ClientToken, expiredOn, type HotpClientToken, mergeTokens, showCode, summarise } from './tokens.js';

interface SdtidVector {
  serial: string;
  digits: number;
  interval: number;
  password: string | null;
  tokencodes: { unix: number; tokencode: string }[];
  passcodes_pin_1234?: { unix: number; passcode: string }[];
}

interface OtpauthVector {
  uri: string;
  type: 'totp' | 'hotp';
  counter?: number;
  codes: { unix?: number; counter?: number; code: string }[];
}

function sdtidToken(name: string): { token: ClientToken; vector: SdtidVector } {
  const vector = readVectorJson<SdtidVector>(`securid/${name}.json`);
  const token = firstItem(readSource(readVector(`securid/${name}.sdtid`), { password: vector.password ?? undefined }).tokens);
  return { token, vector };
}

test("SecurID tokencodes and AddPIN passcodes equal stoken's", () => {
  for (const name of ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password', 't4-8d-60s-canon']) {
    const { token, vector } = sdtidToken(name);
    for (const { unix, tokencode } of vector.tokencodes) assert.equal(showCode(token, unix).code, tokencode, `${name} at ${unix}`);
  }
  const { token, vector } = sdtidToken('t2-8d-30s-addpin');
  for (const { unix, passcode } of vector.passcodes_pin_1234 ?? []) assert.equal(showCode(token, unix, '1234').code, passcode);
});

test("a PIN goes in front of the code for tokens that do not add it, as Tally's server expects", () => {
  const { token, vector } = sdtidToken('t1-6d-30s');
  const { unix, tokencode } = firstItem(vector.tokencodes);
  assert.equal(showCode(token, unix, '1234').code, `1234${tokencode}`);
  const totp = firstItem(readSource(firstItem(readVectorJson<{ uris: OtpauthVector[] }>('oath/otpauth-uris.json').uris).uri).tokens);
  assert.equal(showCode(totp, 1700000000, '9876').code, '9876754270');
  for (const pin of ['12', '123456789', '12a4']) {
    assert.throws(() => showCode(token, unix, pin), { code: 'VALIDATION_FAILED', message: 'The PIN must be 4 to 8 digits.' });
  }
});

test("TOTP codes equal oathtool's; HOTP shows the stored counter's code and hands back the next counter", () => {
  for (const vector of readVectorJson<{ uris: OtpauthVector[] }>('oath/otpauth-uris.json').uris) {
    let token = firstItem(readSource(vector.uri).tokens);
    if (vector.type === 'totp') {
      for (const { unix, code } of vector.codes) assert.equal(showCode(token, unix as number).code, code);
      assert.equal(showCode(token, 1700000000).advanced, undefined);
      continue;
    }
    for (const { counter, code } of vector.codes) {
      assert.equal((token as HotpClientToken).counter, counter);
      const shown = showCode(token, 0);
      assert.equal(shown.code, code);
      token = shown.advanced as HotpClientToken;
    }
  }
});

test('summaries say what a token is and never carry its seed', () => {
  const { token } = sdtidToken('t3-6d-60s-password');
  assert.deepEqual(summarise(token), {
    serial: '498012736455',
    type: 'securid',
    algorithm: 'AES128',
    digits: 6,
    period: 60,
    expiresOn: '2035-12-31',
    addPin: false,
  });
  const hotp = firstItem(readSource(item(readVectorJson<{ uris: OtpauthVector[] }>('oath/otpauth-uris.json').uris, 2).uri).tokens);
  const summary = summarise(hotp);
  assert.equal(summary.period, null);
  assert.equal(summary.counter, 7);
  assert.doesNotMatch(JSON.stringify(summary), /secret|seed/i);
});

test('a SecurID token has expired once its expiry day is over (UTC); OATH tokens never expire', () => {
  const { token } = sdtidToken('t3-6d-60s-password');
  assert.equal(expiredOn(token, Date.UTC(2035, 11, 31, 23, 59, 59) / 1000), undefined);
  assert.equal(expiredOn(token, Date.UTC(2036, 0, 1) / 1000), '2035-12-31');
  const totp = firstItem(readSource(firstItem(readVectorJson<{ uris: OtpauthVector[] }>('oath/otpauth-uris.json').uris).uri).tokens);
  assert.equal(expiredOn(totp, 4_000_000_000), undefined);
});

test('merging puts a token with a known serial in its old place and adds new ones at the end', () => {
  const a = sdtidToken('t1-6d-30s').token;
  const b = sdtidToken('t2-8d-30s-addpin').token;
  const c = sdtidToken('t3-6d-60s-password').token;
  const newerA = { ...a, digits: 8 };
  assert.deepEqual(mergeTokens([a, b], [c, newerA]), [newerA, b, c]);
  assert.deepEqual(mergeTokens([], [a]), [a]);
});
