import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { item } from '../../../test/support/items.js';
import { interopTest, runPeer } from '../../../test/support/peers.js';
import { readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { hotp } from './hotp.js';
import { buildOtpauthUri, type OtpauthToken, parseOtpauthUri } from './otpauth.js';
import { totp } from './totp.js';

const vectors = readVectorJson('oath/otpauth-uris.json').uris;

function formatError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof TallyError && error.code === 'FORMAT_INVALID') return error.message;
    throw error;
  }
  assert.fail('expected FORMAT_INVALID');
}

test("parses the vector links into their tokens, whose codes match oathtool's", () => {
  for (const v of vectors) {
    const token = parseOtpauthUri(v.uri);
    assert.equal(token.type, v.type);
    assert.equal(token.issuer, v.issuer);
    assert.equal(token.account, v.account);
    assert.equal(Buffer.from(token.secret).toString('hex'), v.secret_hex);
    assert.equal(token.algorithm, v.algorithm);
    assert.equal(token.digits, v.digits);
    if (token.type === 'totp') {
      assert.equal(token.period, v.period);
      for (const c of v.codes) assert.equal(totp(token, c.unix), c.code, `${v.uri} at ${c.unix}`);
    } else {
      assert.equal(token.counter, v.counter);
      for (const c of v.codes) assert.equal(hotp(token, c.counter), c.code, `${v.uri} at counter ${c.counter}`);
    }
  }
});

test('builds exactly the vector links', () => {
  for (const v of vectors) {
    const common = {
      issuer: v.issuer,
      account: v.account,
      secret: Buffer.from(v.secret_hex, 'hex'),
      algorithm: v.algorithm,
      digits: v.digits,
    };
    const token: OtpauthToken =
      v.type === 'totp' ? { type: 'totp', ...common, period: v.period } : { type: 'hotp', ...common, counter: v.counter };
    assert.equal(buildOtpauthUri(token), v.uri);
  }
});

test('reads links as apps write them: no issuer, issuer only in the label or parameter, defaults, odd case', () => {
  const bare = parseOtpauthUri('otpauth://totp/alice?secret=mzxw6ytboi');
  assert.deepEqual(
    { ...bare, secret: Buffer.from(bare.secret).toString() },
    {
      type: 'totp',
      account: 'alice',
      secret: 'foobar',
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
    },
  );
  assert.equal(parseOtpauthUri('otpauth://totp/ACME%3A%20bob?secret=MZXW6YTBOI').issuer, 'ACME');
  assert.equal(parseOtpauthUri('otpauth://totp/ACME%3A%20bob?secret=MZXW6YTBOI').account, 'bob');
  assert.equal(parseOtpauthUri('otpauth://totp/bob?secret=MZXW6YTBOI&issuer=ACME+Co').issuer, 'ACME Co');
  const loud = parseOtpauthUri('OTPAUTH://HOTP/x:y?SECRET=MZXW6YTBOI%3D%3D&Algorithm=sha512&counter=0&image=https%3A%2F%2Fx%2Fa.png\n');
  assert.equal(loud.type, 'hotp');
  assert.equal(loud.algorithm, 'SHA512');
  assert.equal(loud.type === 'hotp' && loud.counter, 0);
  assert.equal(parseOtpauthUri('otpauth://totp/a:b:c?secret=MZXW6YTBOI').account, 'b:c');
});

test('refuses bad links with FORMAT_INVALID naming what is wrong, never echoing the secret', () => {
  const cases: [string, RegExp][] = [
    ['https://example.com/?secret=MZXW6YTBOI', /otpauth:\/\/TYPE/],
    ['otpauth://motp/a?secret=MZXW6YTBOI', /type "motp"/],
    ['otpauth://totp/?secret=MZXW6YTBOI', /no account/],
    ['otpauth://totp/Tally:?secret=MZXW6YTBOI', /no account/],
    ['otpauth://totp/a%ZZ?secret=MZXW6YTBOI', /label has a broken percent-encoding/],
    ['otpauth://totp/a?issuer=x', /secret parameter is missing/],
    ['otpauth://totp/a?secret=', /secret parameter is missing/],
    ['otpauth://totp/a?secret=MZXW6YTB0I', /secret is not base32.*position 9/],
    ['otpauth://totp/a?secret=MZXW6YTBOI&secret=MZXW6YTBOI', /"secret" appears more than once/],
    ['otpauth://totp/A:a?secret=MZXW6YTBOI&issuer=B', /issuer parameter and the issuer in the label differ/],
    ['otpauth://totp/a?secret=MZXW6YTBOI&algorithm=MD5', /algorithm "MD5"/],
    ['otpauth://totp/a?secret=MZXW6YTBOI&digits=10', /digits must be 6, 7 or 8/],
    ['otpauth://totp/a?secret=MZXW6YTBOI&digits=six', /digits "six" is not a whole number/],
    ['otpauth://totp/a?secret=MZXW6YTBOI&period=0', /period is 0/],
    ['otpauth://totp/a?secret=MZXW6YTBOI&period=-30', /period "-30" is not a whole number/],
    ['otpauth://hotp/a?secret=MZXW6YTBOI', /needs a counter/],
    ['otpauth://hotp/a?secret=MZXW6YTBOI&counter=99999999999999999999', /counter "99999999999999999999" is not a whole number/],
  ];
  for (const [uri, expected] of cases) {
    const message = formatError(() => parseOtpauthUri(uri));
    assert.match(message, expected, uri);
    assert.ok(!message.includes('MZXW6YTB'), `secret echoed for ${uri}`);
  }
});

test('building refuses what no reader could split back, and bad parameters', () => {
  const base = { type: 'totp' as const, account: 'a', secret: Buffer.from('foobar'), algorithm: 'SHA1' as const, digits: 6, period: 30 };
  const refused = (e: unknown) => e instanceof TallyError && e.code === 'VALIDATION_FAILED';
  assert.throws(() => buildOtpauthUri({ ...base, issuer: 'A:B' }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, account: 'x:y' }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, account: '' }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, account: ' a' }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, account: 'lone \ud800 surrogate' }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, issuer: 'I ' }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, secret: Buffer.alloc(0) }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, digits: 9 }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, period: 0 }), refused);
  assert.throws(() => buildOtpauthUri({ ...base, type: 'hotp', counter: -1 } as OtpauthToken), refused);
  assert.equal(
    buildOtpauthUri({ ...base, issuer: 'A', account: 'x:y' }),
    'otpauth://totp/A:x%3Ay?secret=MZXW6YTBOI&issuer=A&algorithm=SHA1&digits=6&period=30',
  );
});

function randomText(): string {
  const alphabet = "abcXYZ019 @.:/?#&=+%_-~!'()*é中🙂";
  const chars = [...alphabet];
  return Array.from({ length: randomInt(1, 16) }, () => chars[randomInt(chars.length)]).join('');
}

function randomToken(): OtpauthToken {
  const issuer = randomInt(4) === 0 ? undefined : randomText().replace(/:/g, '').trim() || 'I';
  // Readers trim spaces around the account name, and without an issuer a colon would split it.
  const account = (issuer === undefined ? randomText().replace(/:/g, '') : randomText()).trim() || 'A';
  const common = {
    ...(issuer === undefined ? {} : { issuer }),
    account,
    secret: randomBytes(randomInt(10, 65)),
    algorithm: item(['SHA1', 'SHA256', 'SHA512'] as const, randomInt(3)),
    digits: randomInt(6, 9),
  };
  return randomInt(2) === 0
    ? { type: 'totp', ...common, period: randomInt(2) === 0 ? 30 : 60 }
    : { type: 'hotp', ...common, counter: randomInt(0, 2 ** 47) };
}

test('round-trips 500 random tokens with awkward labels', () => {
  for (let i = 0; i < 500; i++) {
    const token = randomToken();
    const uri = buildOtpauthUri(token);
    assert.match(uri, /^otpauth:\/\/[a-z]+\/[A-Za-z0-9%:._~!'()*-]+\?[A-Za-z0-9%=&._~!'()*-]+$/);
    assert.deepEqual(parseOtpauthUri(uri), { ...token, secret: Buffer.from(token.secret) }, uri);
  }
});

interopTest('a link rendered by qrencode and read back by zbarimg parses to the same token', ['qrencode', 'zbarimg'], () => {
  const dir = mkdtempSync(join(tmpdir(), 'tally-otpauth-'));
  try {
    const tokens = [parseOtpauthUri(vectors[1].uri), ...Array.from({ length: 4 }, randomToken)];
    tokens.forEach((token, i) => {
      const uri = buildOtpauthUri(token);
      const png = join(dir, `q${i}.png`);
      runPeer('qrencode', ['-o', png, uri]);
      const scanned = runPeer('zbarimg', ['-q', '--raw', png]).replace(/\n$/, '');
      assert.equal(scanned, uri);
      assert.deepEqual(parseOtpauthUri(scanned), { ...token, secret: Buffer.from(token.secret) });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
