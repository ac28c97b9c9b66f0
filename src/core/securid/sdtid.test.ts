import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstItem, item } from '../../../test/support/items.js';
import { readVector, readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { findDescendant, parseStrictXml, type XmlElement } from '../xml/strict.js';
import { xor } from './aes.js';
import { readSdtid, writeSdtid } from './sdtid.js';
import {
  batchMacKey,
  canon,
  deriveK0,
  headerMac,
  secretFieldMask,
  seedFieldMask,
  tokenEncryptionKey,
  tokenMac,
  tokenMacKey,
} from './sdtid-keys.js';
import type { SecurIdToken } from './token.js';

interface SdtidVector {
  serial: string;
  seed_hex: string;
  digits: number;
  interval: 30 | 60;
  add_pin: 0 | 1;
  local_pin: 0 | 1;
  password: string | null;
  death: string;
  intermediates: {
    K0_hex: string;
    batch_secret_S_hex: string;
    BatchMACKey_hex: string;
    TokenMACKey_hex: string;
    EncKey_hex: string;
    canon_TKNHeader_hex: string;
    canon_TKNHeader_len: number;
    canon_TKN_hex: string;
    canon_TKN_len: number;
  };
}

const VECTOR_SETS = {
  't1-6d-30s': 'alice',
  't2-8d-30s-addpin': 'bob',
  't3-6d-60s-password': 'dave',
  't4-8d-60s-canon': 'carol',
};

function load(name: string): { vector: SdtidVector; file: string } {
  return { vector: readVectorJson<SdtidVector>(`securid/${name}.json`), file: readVector(`securid/${name}.sdtid`) };
}

function passwordOf(vector: SdtidVector): { password?: string } {
  return vector.password === null ? {} : { password: vector.password };
}

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TallyError, `expected a TallyError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function text(section: XmlElement, name: string): string {
  return (findDescendant(section, name) as XmlElement).text;
}

for (const [name, userLogin] of Object.entries(VECTOR_SETS)) {
  test(`${name}: K0, batch secret, derived keys, canon bytes and both MACs equal stoken's`, () => {
    const { vector, file } = load(name);
    const expected = vector.intermediates;
    const root = parseStrictXml(file);
    const header = firstItem(root.children);
    const tkn = item(root.children, 1);
    const batchName = text(header, 'Name').trim();
    const sn = text(tkn, 'SN').trim();

    const k0 = deriveK0(vector.password ?? text(header, 'Origin').trim(), text(header, 'Dest').trim(), batchName);
    assert.equal(k0.toString('hex'), expected.K0_hex);
    const batchSecret = xor(Buffer.from(text(header, 'Secret'), 'base64'), secretFieldMask(k0, batchName));
    assert.equal(batchSecret.toString('hex'), expected.batch_secret_S_hex);
    const batchKey = batchMacKey(batchSecret, batchName);
    const tokenKey = tokenMacKey(batchSecret, sn);
    const encryptionKey = tokenEncryptionKey(batchSecret, sn);
    assert.equal(batchKey.toString('hex'), expected.BatchMACKey_hex);
    assert.equal(tokenKey.toString('hex'), expected.TokenMACKey_hex);
    assert.equal(encryptionKey.toString('hex'), expected.EncKey_hex);

    const canonHeader = canon(header);
    const canonToken = canon(tkn);
    assert.equal(canonHeader.toString('hex'), expected.canon_TKNHeader_hex);
    assert.equal(canonHeader.length, expected.canon_TKNHeader_len);
    assert.equal(canonToken.toString('hex'), expected.canon_TKN_hex);
    assert.equal(canonToken.length, expected.canon_TKN_len);
    assert.equal(headerMac(batchKey, canonHeader).toString('base64'), text(header, 'HeaderMAC'));
    assert.equal(tokenMac(tokenKey, canonToken).toString('base64'), text(tkn, 'TokenMAC'));

    const seedField = Buffer.from(text(tkn, 'Seed').slice(1), 'base64');
    assert.equal(xor(seedField, seedFieldMask(encryptionKey, sn)).toString('hex'), vector.seed_hex);
  });

  test(`${name}: readSdtid gives stoken's seed and settings`, () => {
    const { vector, file } = load(name);
    const batch = readSdtid(file, passwordOf(vector));
    assert.equal(batch.tokens.length, 1);
    assert.deepEqual(batch.tokens[0], {
      serial: vector.serial,
      seed: Buffer.from(vector.seed_hex, 'hex'),
      digits: vector.digits,
      period: vector.interval,
      addPin: vector.add_pin === 1,
      localPin: vector.local_pin === 1,
      expiresOn: vector.death.replaceAll('/', '-'),
      userLogin,
      features: { timeDerivedSeeds: true, appDerivedSeeds: false, mode: false },
    });
    assert.deepEqual(readSdtid(Buffer.from(file, 'utf8'), passwordOf(vector)), batch);
  });
}

test('t1–t3: the writer reproduces stoken issue byte for byte given the same batch secret', () => {
  for (const name of ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password']) {
    const { vector, file } = load(name);
    const batch = readSdtid(file, passwordOf(vector));
    const signature = Buffer.from(/<BatchSignature>([^<]*)</.exec(file)?.[1] as string, 'base64');
    const written = writeSdtid(firstItem(batch.tokens), {
      origin: batch.origin,
      dest: batch.dest,
      name: batch.name,
      ...passwordOf(vector),
      birthOn: '2024-01-01',
      batchSecret: Buffer.from(vector.intermediates.batch_secret_S_hex, 'hex'),
      randomBytes: (size) => {
        assert.equal(size, signature.length);
        return signature;
      },
    });
    assert.equal(written, file, name);
  }
});

test('t4: TKN-level fields override the header defaults (AddPIN 0 over DefAddPIN 1)', () => {
  const { file } = load('t4-8d-60s-canon');
  assert.match(file, /<DefAddPIN>1<\/DefAddPIN>/);
  assert.equal(firstItem(readSdtid(file).tokens).addPin, false);
});

test('the canon alignment quirk: a short line moves back to the last 16-byte boundary', () => {
  const leaf = (name: string, value: string): XmlElement => ({ name, attributes: {}, children: [], text: value });
  const section = (...children: XmlElement[]): XmlElement => ({ name: 'TKN', attributes: {}, children, text: '' });
  const zeros = (n: number) => '\0'.repeat(n);
  // A at 0 (pad 8 after), B fits in 16 with that pad so it overwrites A, then C follows after 16 zeros' pad.
  assert.equal(
    canon(section(leaf('A', 'x'), leaf('B', 'y'), leaf('C', 'z'))).toString('latin1'),
    `TKN.B y\n${zeros(8)}TKN.C z\n${zeros(16)}`,
  );
  // Empty elements never move back.
  assert.equal(
    canon(section(leaf('A', 'x'), leaf('D', ''), leaf('B', 'y'))).toString('latin1'),
    `TKN.A x\nTKN.D </D>\n${zeros(8)}TKN.B y\n${zeros(11)}`,
  );
  // MAC elements are skipped; containers emit only their leaves, with the full path. The 17-byte
  // first line leaves pad 1, so the next (short) line moves back to 16 and overwrites its newline.
  const nested: XmlElement = { name: 'Attrs', attributes: {}, children: [leaf('Nick', 'n'), leaf('InnerMAC', 'm')], text: 'ignored' };
  const macOnly: XmlElement = { name: 'Box', attributes: {}, children: [leaf('TokenMAC', 'm')], text: 'ignored' };
  assert.equal(canon(section(nested, macOnly, leaf('MAC', 'short'))).toString('latin1'), `TKN.Attrs.Nick nTKN.MAC short\n${zeros(1)}`);
});

function randomToken(i: number, overrides: Partial<SecurIdToken> = {}): SecurIdToken {
  return {
    serial: String(100000000000 + i * 7919).padStart(12, '0'),
    seed: Buffer.from(Array.from({ length: 16 }, (_, j) => (i * 31 + j * 17) & 0xff)),
    digits: 1 + (i % 8),
    period: i % 2 === 0 ? 30 : 60,
    addPin: i % 3 === 0,
    localPin: i % 4 === 0,
    expiresOn: `20${30 + (i % 10)}-0${1 + (i % 9)}-1${i % 10}`,
    userLogin: `user${i}`,
    features: { timeDerivedSeeds: i % 2 === 1, appDerivedSeeds: i % 5 === 0, mode: i % 3 === 1 },
    ...overrides,
  };
}

test('write then read: the same tokens back, with and without a password', () => {
  for (let i = 0; i < 12; i++) {
    const token = randomToken(i);
    const password = i % 2 === 0 ? `pass word ${i} ü` : undefined;
    const options = { origin: `Origin ${i} & <co> "q"`, dest: 'D'.repeat(40 + i), name: `Näme ${i}`, password };
    const batch = readSdtid(writeSdtid(token, options), { password });
    assert.deepEqual(batch, { origin: options.origin, dest: options.dest, name: options.name, tokens: [token] });
  }
});

test('a token without features or user login is written the way stoken issues one', () => {
  const { features, userLogin, ...plain } = randomToken(3);
  const written = writeSdtid(plain);
  assert.match(written, /<DefTimeDerivedSeeds>1<\/DefTimeDerivedSeeds>/);
  assert.match(written, /<UserLogin> <\/UserLogin>/);
  assert.match(written, /<Origin>N\/A<\/Origin>/);
  assert.match(written, /<DefBirth>2000\/01\/01<\/DefBirth>/);
  assert.deepEqual(readSdtid(written).tokens[0], { ...plain, features: { timeDerivedSeeds: true, appDerivedSeeds: false, mode: false } });
});

test('batches with many TKN: each has its own TokenMAC and settings; one bad TokenMAC fails the file', () => {
  const tokens = [0, 1, 2, 3, 4].map((i) => randomToken(i));
  const written = writeSdtid(tokens, { password: 'batch pw' });
  assert.equal(written.match(/<TokenMAC>/g)?.length, 5);
  assert.deepEqual(readSdtid(written, { password: 'batch pw' }).tokens, tokens);
  throwsCode(() => readSdtid(written), 'PASSWORD_REQUIRED');

  const macs = [...written.matchAll(/<TokenMAC>([^<]*)</g)].map((m) => m[1]);
  const flipped = Buffer.from(item(macs, 2), 'base64');
  flipped[0]! ^= 1;
  throwsCode(
    () => readSdtid(written.replace(item(macs, 2), flipped.toString('base64')), { password: 'batch pw' }),
    'INTEGRITY_CHECK_FAILED',
  );
  const tamperedLogin = written.replace('<UserLogin>user3</UserLogin>', '<UserLogin>mallory</UserLogin>');
  throwsCode(() => readSdtid(tamperedLogin, { password: 'batch pw' }), 'INTEGRITY_CHECK_FAILED');
});

test('the writer refuses what it cannot write', () => {
  const token = randomToken(1);
  throwsCode(() => writeSdtid([]), 'VALIDATION_FAILED');
  throwsCode(() => writeSdtid({ ...token, serial: '12345' }), 'VALIDATION_FAILED', /serial/);
  throwsCode(() => writeSdtid({ ...token, seed: Buffer.alloc(15) }), 'VALIDATION_FAILED', /seed/);
  throwsCode(() => writeSdtid({ ...token, expiresOn: '2030-02-30' }), 'VALIDATION_FAILED', /expiry/);
  throwsCode(() => writeSdtid(token, { origin: 'line\nbreak' }), 'VALIDATION_FAILED', /Origin/);
  throwsCode(() => writeSdtid(token, { name: '   ' }), 'VALIDATION_FAILED', /Name/);
  throwsCode(() => writeSdtid({ ...token, userLogin: 'a\u0000b' }), 'VALIDATION_FAILED', /UserLogin/);
  throwsCode(() => writeSdtid(token, { batchSecret: Buffer.alloc(8) }), 'VALIDATION_FAILED', /batch secret/);
  throwsCode(() => writeSdtid(token, { birthOn: '01/01/2020' }), 'VALIDATION_FAILED', /birth/);
});

test('fresh batch secrets by default: two writes differ and both read back', () => {
  const token = randomToken(5);
  const [a, b] = [writeSdtid(token), writeSdtid(token)];
  assert.notEqual(a, b);
  assert.deepEqual(readSdtid(a).tokens, [token]);
  assert.deepEqual(readSdtid(b).tokens, [token]);
});

test('passwords: required, wrong, empty, and not needed', () => {
  const { vector, file } = load('t3-6d-60s-password');
  throwsCode(() => readSdtid(file), 'PASSWORD_REQUIRED');
  throwsCode(() => readSdtid(file, { password: '' }), 'PASSWORD_REQUIRED');
  throwsCode(() => readSdtid(file, { password: 'Tally-vector-pass4' }), 'WRONG_PASSWORD');
  assert.equal(firstItem(readSdtid(file, passwordOf(vector)).tokens).serial, vector.serial);
  // stoken ignores a password the file does not need; so does Tally.
  const plain = load('t1-6d-30s');
  assert.equal(firstItem(readSdtid(plain.file, { password: 'unneeded' }).tokens).seed.toString('hex'), plain.vector.seed_hex);
});

test("a file keyed with the empty password (stoken export --sdtid --new-password='') opens without one", () => {
  const token = randomToken(7);
  // pw[32] of "\0" is 32 zero bytes, the same as the empty password's, so these are stoken's keys.
  const written = writeSdtid(token, { origin: 'Not the key', password: '\0' });
  assert.deepEqual(readSdtid(written).tokens, [token]);
});

test('tampering: a flipped MAC byte or a changed field fails the integrity check', () => {
  const { file } = load('t1-6d-30s');
  const flip = (base64: string) => {
    const bytes = Buffer.from(base64, 'base64');
    bytes[7]! ^= 0x40;
    return bytes.toString('base64');
  };
  const headerMacText = /<HeaderMAC>([^<]*)</.exec(file)?.[1] as string;
  const tokenMacText = /<TokenMAC>([^<]*)</.exec(file)?.[1] as string;
  throwsCode(() => readSdtid(file.replace(headerMacText, flip(headerMacText))), 'INTEGRITY_CHECK_FAILED');
  throwsCode(() => readSdtid(file.replace(tokenMacText, flip(tokenMacText))), 'INTEGRITY_CHECK_FAILED');
  throwsCode(() => readSdtid(file.replace('<DefDigits>6<', '<DefDigits>8<')), 'INTEGRITY_CHECK_FAILED');
  throwsCode(() => readSdtid(file.replace('<UserLogin>alice<', '<UserLogin>alicf<')), 'INTEGRITY_CHECK_FAILED');
  throwsCode(() => readSdtid(file.replace('<Nickname> <', '<Nickname>  <')), 'INTEGRITY_CHECK_FAILED');
});

test('malformed files are FORMAT_INVALID with a message naming the field', () => {
  const { file } = load('t1-6d-30s');
  const without = (element: string) => file.replace(new RegExp(`\\s*<${element}>[^<]*</${element}>`), '');
  throwsCode(() => readSdtid(file.slice(0, Math.floor(file.length / 2))), 'FORMAT_INVALID');
  throwsCode(() => readSdtid(`${file.slice(0, file.indexOf('<TKNTrailer>'))}</TKNBatch>`), 'FORMAT_INVALID', /TKNTrailer/);
  for (const field of ['SN', 'Origin', 'Dest', 'Name', 'Secret', 'Seed', 'HeaderMAC', 'TokenMAC']) {
    throwsCode(() => readSdtid(without(field)), 'FORMAT_INVALID', new RegExp(`\\b${field}\\b`));
  }
  throwsCode(() => readSdtid(without('DefDeath')), 'FORMAT_INVALID', /Death/);
  throwsCode(() => readSdtid(file.replace('<DefDigits>6<', '<DefDigits>9<')), 'FORMAT_INVALID', /Digits/);
  throwsCode(() => readSdtid(file.replace('<DefDigits>6<', '<DefDigits>six<')), 'FORMAT_INVALID', /Digits/);
  throwsCode(() => readSdtid(file.replace('<DefDeath>2035/12/31<', '<DefDeath>2035-12-31<')), 'FORMAT_INVALID', /Death/);
  throwsCode(() => readSdtid(file.replace('<SN>274153980626<', '<SN>27415398062x<')), 'FORMAT_INVALID', /SN/);
  throwsCode(() => readSdtid(file.replace('<SN>274153980626<', '<SN>2741539806260<')), 'FORMAT_INVALID', /SN/);
  throwsCode(() => readSdtid(file.replace(/<Secret>[^<]*</, '<Secret>not*base64<')), 'FORMAT_INVALID', /Secret/);
  throwsCode(() => readSdtid(file.replace(/<Seed>=[^<]*</, '<Seed>=AAAA<')), 'FORMAT_INVALID', /Seed/);
  throwsCode(() => readSdtid(file.replace('<DefAlg>1<', '<DefAlg>2<')), 'UNSUPPORTED_ALGORITHM', /algorithm 2/);
  throwsCode(() => readSdtid(file.replace('<?xml version="1.0"?>\n', '')), 'FORMAT_INVALID', /<\?xml/);
  throwsCode(() => readSdtid(file.replaceAll('TKNBatch>', 'Batch>')), 'FORMAT_INVALID', /TKNBatch/);
  throwsCode(() => readSdtid(file.replace(/<TKN>[\s\S]*<\/TKN>/, '')), 'FORMAT_INVALID', /no TKN/);
  const header = /<TKNHeader>[\s\S]*<\/TKNHeader>/.exec(file)?.[0] as string;
  throwsCode(() => readSdtid(file.replace(header, header + header)), 'FORMAT_INVALID', /TKNHeader/);
  throwsCode(() => readSdtid('not xml at all'), 'FORMAT_INVALID');
});

test('DOCTYPE and entity declarations are refused before anything is read', () => {
  const { file } = load('t1-6d-30s');
  const withDoctype = file.replace('<TKNBatch>', '<!DOCTYPE TKNBatch [<!ENTITY x "y">]>\n<TKNBatch>');
  throwsCode(() => readSdtid(withDoctype), 'XML_FORBIDDEN_CONSTRUCT');
  throwsCode(() => readSdtid(file.replace('<TKNBatch>', '<!ENTITY x SYSTEM "file:///etc/passwd"><TKNBatch>')), 'XML_FORBIDDEN_CONSTRUCT');
  throwsCode(() => readSdtid(file.replace('alice', '&undefined;')), 'FORMAT_INVALID');
});

test('a 50 MB input is refused as too large before it is parsed', () => {
  // A DOCTYPE and an unclosed element: any parsing would refuse it with another code.
  const huge = `<?xml version="1.0"?>\n<!DOCTYPE TKNBatch [<!ENTITY x "y">]><TKNBatch><TKNHeader>${'x'.repeat(50 * 1024 * 1024)}`;
  throwsCode(() => readSdtid(huge.slice(0, 4096)), 'XML_FORBIDDEN_CONSTRUCT');
  throwsCode(() => readSdtid(huge), 'INPUT_TOO_LARGE');
  throwsCode(() => readSdtid(Buffer.from(huge)), 'INPUT_TOO_LARGE');
});

test('error messages never carry the password or seed', () => {
  const { vector, file } = load('t3-6d-60s-password');
  for (const password of [undefined, 'Wrong-secret-guess']) {
    try {
      readSdtid(file, { password });
      assert.fail('expected an error');
    } catch (error) {
      assert.ok(error instanceof TallyError);
      assert.doesNotMatch(error.message, /Tally-vector-pass3|Wrong-secret-guess/);
      assert.ok(!error.message.includes(vector.seed_hex));
    }
  }
});
