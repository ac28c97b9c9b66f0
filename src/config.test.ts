import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrustedProxies, resolveConfig } from './config.js';
import { isTallyError } from './errors.js';

test('--trust-proxy takes addresses and CIDRs of trusted proxies, comma-separated', () => {
  assert.deepEqual(parseTrustedProxies('10.0.0.5'), ['10.0.0.5']);
  assert.deepEqual(parseTrustedProxies(' 10.0.0.5, 10.1.0.0/16 ,::1,fd00::/8,loopback '), [
    '10.0.0.5',
    '10.1.0.0/16',
    '::1',
    'fd00::/8',
    'loopback',
  ]);
  assert.deepEqual(resolveConfig(['trustProxy'], {}, { TALLY_TRUST_PROXY: '192.168.1.1,192.168.1.2' }).trustProxy, [
    '192.168.1.1',
    '192.168.1.2',
  ]);
  assert.equal(resolveConfig(['trustProxy'], {}, {}).trustProxy, undefined, 'no proxy is trusted by default');
});

test('--trust-proxy refuses true, hop counts and what is no address, with a message naming the flag', () => {
  for (const raw of [
    'true',
    'TRUE',
    'yes',
    '1',
    '2',
    'false',
    ',',
    '10.0.0.300',
    '10.0.0.0/33',
    '::1/129',
    '10.0.0.0/8/8',
    'proxy.example.org',
    '10.0.0.1,*',
  ]) {
    assert.throws(
      () => resolveConfig(['trustProxy'], { trustProxy: raw }, {}),
      (error: unknown) => isTallyError(error) && error.code === 'CONFIG_INVALID' && error.message.startsWith('--trust-proxy '),
      raw,
    );
  }
  assert.throws(() => parseTrustedProxies('true'), /not true\/false or a hop count/);
  assert.throws(() => parseTrustedProxies('10.0.0.0/33'), /"10\.0\.0\.0\/33", which is not an IP address, a CIDR/);
});

test('--ctkip-rate-limit is requests a minute per source, 120 by default', () => {
  assert.equal(resolveConfig(['ctkipRateLimit'], {}, {}).ctkipRateLimit, 120);
  assert.equal(resolveConfig(['ctkipRateLimit'], { ctkipRateLimit: '30' }, {}).ctkipRateLimit, 30);
  assert.throws(() => resolveConfig(['ctkipRateLimit'], { ctkipRateLimit: '0' }, {}), /--ctkip-rate-limit must be a whole number/);
});
