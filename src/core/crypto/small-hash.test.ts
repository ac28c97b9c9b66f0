import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { hmacMd5, hmacSha1, md5, sha1 } from './small-hash.js';

const text = (s: string) => Buffer.from(s, 'latin1');
const hex = (h: string) => Buffer.from(h, 'hex');

test('MD5: the RFC 1321 test suite', () => {
  const suite: Array<[string, string]> = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [input, digest] of suite) assert.equal(md5(text(input)).toString('hex'), digest, input);
});

test('SHA-1: the RFC 3174 test cases', () => {
  assert.equal(sha1(text('abc')).toString('hex'), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(
    sha1(text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toString('hex'),
    '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
  );
  assert.equal(sha1(Buffer.alloc(1_000_000, 'a')).toString('hex'), '34aa973cd4c4daa4f61eeb2bdbad27316534016f');
  assert.equal(sha1(text('01234567'.repeat(80))).toString('hex'), 'dea356a2cddd90c7a7ecedc5ebb563934f460452');
});

test('HMAC-MD5 and HMAC-SHA-1: the RFC 2202 test cases', () => {
  const cases: Array<{ key: Buffer; data: Buffer; md5: string; sha1: string }> = [
    { key: Buffer.alloc(16, 0x0b), data: text('Hi There'), md5: '9294727a3638bb1c13f48ef8158bfc9d', sha1: '' },
    {
      key: text('Jefe'),
      data: text('what do ya want for nothing?'),
      md5: '750c783e6ab0b503eaa86e310a5db738',
      sha1: 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
    },
    { key: Buffer.alloc(16, 0xaa), data: Buffer.alloc(50, 0xdd), md5: '56be34521d144c88dbb8c733f0e8b3f6', sha1: '' },
    {
      key: hex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
      data: Buffer.alloc(50, 0xcd),
      md5: '697eaf0aca3a3aea3a75164746ffaa79',
      sha1: '4c9007f4026250c6bc8414f9bf50c86c2d7235da',
    },
    {
      key: Buffer.alloc(80, 0xaa),
      data: text('Test Using Larger Than Block-Size Key - Hash Key First'),
      md5: '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd',
      sha1: 'aa4ae5e15272d00e95705637ce8a3b55ed402112',
    },
    {
      key: Buffer.alloc(80, 0xaa),
      data: text('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'),
      md5: '6f630fad67cda0ee1fb1f562db3aa53e',
      sha1: 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91',
    },
  ];
  for (const { key, data, md5: md5Mac, sha1: sha1Mac } of cases) {
    assert.equal(hmacMd5(key, data).toString('hex'), md5Mac);
    if (sha1Mac) assert.equal(hmacSha1(key, data).toString('hex'), sha1Mac);
  }
  assert.equal(hmacSha1(Buffer.alloc(20, 0x0b), text('Hi There')).toString('hex'), 'b617318655057264e28bc0b6fb378c8ef146be00');
  assert.equal(hmacSha1(Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd)).toString('hex'), '125d7342b9ac11cd91a39af48aa17b4f63f175d3');
});

test('every function agrees with node:crypto on random keys, messages and ways of cutting them', () => {
  for (let n = 0; n < 2000; n++) {
    const key = randomBytes(randomInt(0, 150));
    const message = randomBytes(randomInt(0, 300));
    const cuts = [randomInt(0, message.length + 1), randomInt(0, message.length + 1)].sort((a, b) => a - b);
    const parts = [message.subarray(0, cuts[0]), message.subarray(cuts[0], cuts[1]), message.subarray(cuts[1])];
    assert.deepEqual(md5(...parts), createHash('md5').update(message).digest());
    assert.deepEqual(sha1(...parts), createHash('sha1').update(message).digest());
    assert.deepEqual(hmacMd5(key, ...parts), createHmac('md5', key).update(message).digest());
    assert.deepEqual(hmacSha1(key, ...parts), createHmac('sha1', key).update(message).digest());
  }
});

test('a key buffer reused for another key is not mistaken for the first', () => {
  const key = Buffer.from('first secret');
  const message = text('Access-Request');
  assert.deepEqual(hmacMd5(key, message), createHmac('md5', key).update(message).digest());
  key.write('other secre');
  assert.deepEqual(hmacMd5(key, message), createHmac('md5', key).update(message).digest());
  assert.deepEqual(hmacSha1(key, message), createHmac('sha1', key).update(message).digest());
  assert.deepEqual(hmacMd5(key, message), createHmac('md5', key).update(message).digest());
});
