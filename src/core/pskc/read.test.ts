import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { codeOf } from '../../../test/support/errors.js';
import { firstItem, item } from '../../../test/support/items.js';
import { readVector, readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { hotp } from '../otp/hotp.js';
import { totp } from '../otp/totp.js';
import { decryptAes128Cbc, derivePbkdf2, hmac } from './cipher.js';
import type { PskcKey } from './model.js';
import { type PskcKeyOutcome, type PskcReadOptions, readPskc } from './read.js';
import { writePskc } from './write.js';

function errorOf(fn: () => unknown): TallyError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TallyError) return error;
    throw error;
  }
  assert.fail('expected a TallyError');
}

function imported(outcome: PskcKeyOutcome): PskcKey {
  assert.equal(outcome.status, 'imported', outcome.status === 'refused' ? outcome.reason : '');
  return (outcome as Extract<PskcKeyOutcome, { status: 'imported' }>).key;
}

function onlyKey(xml: string, options?: PskcReadOptions): PskcKey {
  const result = readPskc(xml, options);
  assert.equal(result.keys.length, 1);
  return imported(firstItem(result.keys));
}

/** Deterministic stand-in for randomBytes, so edited fixtures behave the same on every run. */
function seededRandom(seed: string): (size: number) => Buffer {
  let block = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let filled = 0; filled < size; filled += 32) {
      createHash('sha256').update(`${seed}:${block++}`).digest().copy(out, filled);
    }
    return out;
  };
}

// RFC 6030 section 6.2, figure 7, assembled from the RFC's own values: password "qwerty", salt
// Ej7/PEpyEpw=, 1000 iterations, key 651e63cd57008476af1ff6422cd02e41, secret "12345678901234567890".
// The CipherValues and ValueMAC are the RFC's; the RFC wraps them over lines, so they are wrapped here.
function rfc6030Figure7(prf = '', paramsPrefix = 'pkcs5'): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<pskc:KeyContainer
  xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"
  xmlns:xenc11="http://www.w3.org/2009/xmlenc11#"
  xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#"
  xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Version="1.0">
    <pskc:EncryptionKey>
        <xenc11:DerivedKey>
            <xenc11:KeyDerivationMethod
              Algorithm="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2">
                <${paramsPrefix}:PBKDF2-params>
                    <Salt>
                        <Specified>Ej7/PEpyEpw=</Specified>
                    </Salt>
                    <IterationCount>1000</IterationCount>
                    <KeyLength>16</KeyLength>
                    ${prf}
                </${paramsPrefix}:PBKDF2-params>
            </xenc11:KeyDerivationMethod>
            <xenc:ReferenceList>
                <xenc:DataReference URI="#ED"/>
            </xenc:ReferenceList>
            <xenc11:MasterKeyName>My Password 1</xenc11:MasterKeyName>
        </xenc11:DerivedKey>
    </pskc:EncryptionKey>
    <pskc:MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">
        <pskc:MACKey>
            <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
            <xenc:CipherData>
                <xenc:CipherValue>
2GTTnLwM3I4e5IO5FkufoOEiOhNj91fhKRQBtBJYluUDsPOLTfUvoU2dStyOwYZx
                </xenc:CipherValue>
            </xenc:CipherData>
        </pskc:MACKey>
    </pskc:MACMethod>
    <pskc:KeyPackage>
        <pskc:DeviceInfo>
            <pskc:Manufacturer>TokenVendorAcme</pskc:Manufacturer>
            <pskc:SerialNo>987654321</pskc:SerialNo>
        </pskc:DeviceInfo>
        <pskc:CryptoModuleInfo>
            <pskc:Id>CM_ID_001</pskc:Id>
        </pskc:CryptoModuleInfo>
        <pskc:Key Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp" Id="123456">
            <pskc:Issuer>Example-Issuer</pskc:Issuer>
            <pskc:AlgorithmParameters>
                <pskc:ResponseFormat Length="8" Encoding="DECIMAL"/>
            </pskc:AlgorithmParameters>
            <pskc:Data>
                <pskc:Secret>
                <pskc:EncryptedValue Id="ED">
                    <xenc:EncryptionMethod
                        Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
                        <xenc:CipherData>
                            <xenc:CipherValue>
      oTvo+S22nsmS2Z/RtcoF8Hfh+jzMe0RkiafpoDpnoZTjPYZu6V+A4aEn032yCr4f
                        </xenc:CipherValue>
                    </xenc:CipherData>
                    </pskc:EncryptedValue>
                    <pskc:ValueMAC>LP6xMvjtypbfT9PdkJhBZ+D6O4w=
                    </pskc:ValueMAC>
                </pskc:Secret>
            </pskc:Data>
        </pskc:Key>
    </pskc:KeyPackage>
</pskc:KeyContainer>
`;
}

const RFC_SECRET = Buffer.from('12345678901234567890', 'ascii');

test('RFC 6030 figure 7: the PBKDF2 key, the secret, and (the same secret as RFC 4226) its HOTP codes', () => {
  assert.equal(
    derivePbkdf2('qwerty', Buffer.from('Ej7/PEpyEpw=', 'base64'), 1000, 16, 'sha1').toString('hex'),
    '651e63cd57008476af1ff6422cd02e41',
  );
  const result = readPskc(rfc6030Figure7(), { password: 'qwerty' });
  assert.equal(result.passwordProtected, true);
  const key = imported(firstItem(result.keys));
  assert.deepEqual(key, {
    kind: 'hotp',
    id: '123456',
    secret: RFC_SECRET,
    digits: 8,
    manufacturer: 'TokenVendorAcme',
    issuer: 'Example-Issuer',
    serial: '987654321',
    algorithm: 'SHA1',
    counter: 0,
  });
  const appendixD = readVectorJson('oath/rfc4226-appendix-d.json');
  if (key.kind !== 'hotp') assert.fail('not an HOTP key');
  assert.equal(hotp({ ...key, digits: 6 }, key.counter), appendixD.values[0].hotp_6);
});

test('RFC 6030 figure 7 reads the same with an empty or explicit HMAC-SHA1 PRF, PRF as text, and xenc11 PBKDF2-params', () => {
  for (const [prf, prefix] of [
    ['<PRF/>', 'pkcs5'],
    ['<PRF Algorithm=""/>', 'pkcs5'],
    ['<PRF Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"/>', 'pkcs5'],
    ['<PRF>http://www.w3.org/2000/09/xmldsig#hmac-sha1</PRF>', 'pkcs5'],
    ['', 'xenc11'],
  ] as const) {
    assert.deepEqual(onlyKey(rfc6030Figure7(prf, prefix), { password: 'qwerty' }).secret, RFC_SECRET, prf + prefix);
  }
  assert.equal(
    codeOf(() => readPskc(rfc6030Figure7('<PRF Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"/>'), { password: 'qwerty' })),
    'WRONG_PASSWORD',
  );
  assert.equal(
    codeOf(() => readPskc(rfc6030Figure7('<PRF Algorithm="http://example.com/#md5"/>'), { password: 'qwerty' })),
    'UNSUPPORTED_ALGORITHM',
  );
});

test('RFC 6030 figure 7: wrong, missing and empty passwords', () => {
  assert.equal(
    codeOf(() => readPskc(rfc6030Figure7(), { password: 'qwertz' })),
    'WRONG_PASSWORD',
  );
  assert.equal(
    codeOf(() => readPskc(rfc6030Figure7())),
    'PASSWORD_REQUIRED',
  );
  assert.equal(
    codeOf(() => readPskc(rfc6030Figure7(), { password: '' })),
    'PASSWORD_REQUIRED',
  );
});

test('a wrong password whose key happens to unpad the MAC key is still WRONG_PASSWORD, not an integrity failure', () => {
  const salt = Buffer.from('Ej7/PEpyEpw=', 'base64');
  const macKeyCipher = Buffer.from('2GTTnLwM3I4e5IO5FkufoOEiOhNj91fhKRQBtBJYluUDsPOLTfUvoU2dStyOwYZx', 'base64');
  let lucky: string | undefined;
  for (let i = 0; i < 10_000 && lucky === undefined; i++) {
    const candidate = `wrong-${i}`;
    if (decryptAes128Cbc(derivePbkdf2(candidate, salt, 1000, 16, 'sha1'), macKeyCipher).ok) lucky = candidate;
  }
  assert.ok(lucky, 'no password in the search unpads the MAC key');
  assert.equal(
    codeOf(() => readPskc(rfc6030Figure7(), { password: lucky })),
    'WRONG_PASSWORD',
  );
});

for (const name of ['totp-pbkdf2', 'hotp-pbkdf2']) {
  test(`python3-pskc vector ${name}: derived key, MAC key, ValueMAC, secret, fields and codes`, () => {
    const v = readVectorJson(`pskc/${name}.json`);
    const xml = readVector(`pskc/${name}.pskcxml`);
    const derived = derivePbkdf2(v.password, Buffer.from(v.pbkdf2.salt_b64, 'base64'), v.pbkdf2.iterations, v.pbkdf2.key_length, 'sha1');
    assert.equal(derived.toString('hex'), v.pbkdf2.derived_key_hex);
    const macKeyCipher = /<pskc:MACKey>[\s\S]*?<xenc:CipherValue>([^<]+)</.exec(xml)![1]!;
    const macKey = decryptAes128Cbc(derived, Buffer.from(macKeyCipher, 'base64'));
    assert.ok(macKey.ok);
    assert.equal(macKey.plaintext.toString('hex'), v.mac_key_hex);
    const secretCipher = Buffer.from(v.secret_cipher_value_b64, 'base64');
    assert.equal(hmac('sha1', macKey.plaintext, secretCipher).toString('base64'), v.secret_value_mac_b64);

    const result = readPskc(xml, { password: v.password });
    assert.equal(result.passwordProtected, true);
    const key = onlyKey(xml, { password: v.password });
    assert.equal(key.kind, v.algorithm.endsWith(':hotp') ? 'hotp' : 'totp');
    assert.equal(Buffer.from(key.secret).toString('hex'), v.secret_hex);
    assert.equal(key.id, v.key_id);
    assert.equal(key.serial, v.serial);
    assert.equal(key.digits, v.digits);
    assert.equal(key.issuer, 'Tally');
    assert.equal(key.manufacturer, 'Tally');
    if (key.kind === 'hotp') {
      assert.equal(key.counter, v.counter);
      for (const c of v.codes) assert.equal(hotp(key, c.counter), c.code);
    } else if (key.kind === 'totp') {
      assert.equal(key.period, v.time_interval);
      for (const c of v.codes) assert.equal(totp({ ...key, period: key.period }, c.unix), c.code);
    }
    assert.equal(
      codeOf(() => readPskc(xml, { password: `${v.password}!` })),
      'WRONG_PASSWORD',
    );
    assert.equal(
      codeOf(() => readPskc(xml)),
      'PASSWORD_REQUIRED',
    );
  });
}

test('a flipped ValueMAC or ciphertext byte, or a missing ValueMAC, fails the whole file', () => {
  const v = readVectorJson('pskc/totp-pbkdf2.json');
  const xml = readVector('pskc/totp-pbkdf2.pskcxml');
  const flip = (b64: string, at: number) => {
    const bytes = Buffer.from(b64, 'base64');
    bytes[at]! ^= 0x01;
    return bytes.toString('base64');
  };
  for (const at of [0, 7, 19]) {
    const edited = xml.replace(v.secret_value_mac_b64, flip(v.secret_value_mac_b64, at));
    assert.notEqual(edited, xml);
    assert.equal(
      codeOf(() => readPskc(edited, { password: v.password })),
      'INTEGRITY_CHECK_FAILED',
    );
  }
  // The IV and the first block: the padding survives, so the password was right and the file was altered.
  for (const at of [0, 15, 16]) {
    const edited = xml.replace(v.secret_cipher_value_b64, flip(v.secret_cipher_value_b64, at));
    assert.equal(
      codeOf(() => readPskc(edited, { password: v.password })),
      'INTEGRITY_CHECK_FAILED',
    );
  }
  // The only value garbled in its last block looks exactly like a wrong password (no MAC matches, no padding survives).
  const lastBlock = xml.replace(v.secret_cipher_value_b64, flip(v.secret_cipher_value_b64, 47));
  assert.equal(
    codeOf(() => readPskc(lastBlock, { password: v.password })),
    'WRONG_PASSWORD',
  );
  const noMac = xml.replace(/<pskc:ValueMAC>[^<]*<\/pskc:ValueMAC>/, '');
  assert.equal(
    codeOf(() => readPskc(noMac, { password: v.password })),
    'INTEGRITY_CHECK_FAILED',
  );
});

test('one bad key among good ones fails the whole file when its MAC does not match', () => {
  const keys: PskcKey[] = [0, 1, 2].map((i) => ({
    kind: 'totp',
    id: `k${i}`,
    secret: Buffer.alloc(20, i + 1),
    digits: 6,
    algorithm: 'SHA1',
    period: 30,
  }));
  const xml = writePskc(keys, { password: 'pw', iterations: 1000, randomBytes: seededRandom('three') });
  const macs = [...xml.matchAll(/<pskc:ValueMAC>([^<]+)</g)].map((m) => m[1]!);
  assert.equal(macs.length, 3);
  const edited = xml.replace(item(macs, 2), Buffer.alloc(20).toString('base64'));
  const error = errorOf(() => readPskc(edited, { password: 'pw' }));
  assert.equal(error.code, 'INTEGRITY_CHECK_FAILED');
  assert.match(error.message, /key 3 \(Id "k2"\)/);
});

test('an unknown algorithm, hash, encoding or length refuses that key only; the others are imported', () => {
  const keys: PskcKey[] = [0, 1, 2, 3, 4, 5].map((i) => ({
    kind: 'hotp',
    id: `k${i}`,
    serial: `S${i}`,
    secret: Buffer.alloc(20, i + 1),
    digits: 6,
    algorithm: 'SHA1',
    counter: i,
  }));
  for (const password of [undefined, 'pw']) {
    let xml = writePskc(keys, { password, iterations: 1000, randomBytes: seededRandom('refuse') });
    const keyElement = (i: number) => new RegExp(`(<pskc:Key Id="k${i}"[\\s\\S]*?</pskc:Key>)`);
    const edit = (i: number, from: string | RegExp, to: string) => {
      xml = xml.replace(keyElement(i), (whole) => whole.replace(from, to));
    };
    edit(1, 'urn:ietf:params:xml:ns:keyprov:pskc:hotp', 'urn:ietf:params:xml:ns:keyprov:pskc:ocra');
    edit(2, 'HMAC-SHA1', 'HMAC-MD5');
    edit(3, 'Encoding="DECIMAL"', 'Encoding="ALPHANUMERIC"');
    edit(4, 'Length="6"', 'Length="10"');
    edit(5, /<pskc:Secret>[\s\S]*?<\/pskc:Secret>/, '');
    const result = readPskc(xml, { password });
    assert.deepEqual(
      result.keys.map((k) => k.status),
      ['imported', 'refused', 'refused', 'refused', 'refused', 'refused'],
    );
    assert.deepEqual(Buffer.from(imported(firstItem(result.keys)).secret), Buffer.alloc(20, 1));
    const refusals = result.keys.slice(1).map((k) => (k.status === 'refused' ? [k.id, k.serial, k.code, k.reason] : []));
    assert.deepEqual(
      refusals.map((r) => r.slice(0, 3)),
      [
        ['k1', 'S1', 'UNSUPPORTED_ALGORITHM'],
        ['k2', 'S2', 'UNSUPPORTED_ALGORITHM'],
        ['k3', 'S3', 'UNSUPPORTED_ALGORITHM'],
        ['k4', 'S4', 'UNSUPPORTED_ALGORITHM'],
        ['k5', 'S5', 'FORMAT_INVALID'],
      ],
    );
    assert.match(String(refusals[0]?.[3]), /pskc:ocra/);
    assert.match(String(refusals[1]?.[3]), /HMAC-MD5/);
    assert.match(String(refusals[2]?.[3]), /ALPHANUMERIC/);
    assert.match(String(refusals[3]?.[3]), /10 digits/);
    assert.match(String(refusals[4]?.[3]), /no Data\/Secret/);
  }
});

test('DOCTYPE and entities are refused before anything is read', () => {
  const xml = readVector('pskc/hotp-pbkdf2.pskcxml');
  const withDoctype = xml
    .replace('?>\n', '?>\n<!DOCTYPE pskc:KeyContainer [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
    .replace('<pskc:Issuer>Tally', '<pskc:Issuer>&xxe;');
  assert.equal(
    codeOf(() => readPskc(withDoctype, { password: 'Tally PSKC hotp 2' })),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  const billionLaughs =
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><pskc:KeyContainer xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">&b;</pskc:KeyContainer>';
  assert.equal(
    codeOf(() => readPskc(billionLaughs)),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace('<pskc:Issuer>Tally', '<pskc:Issuer>&nbsp;'))),
    'FORMAT_INVALID',
  );
});

test('truncated, empty, foreign or malformed files are FORMAT_INVALID', () => {
  const xml = readVector('pskc/hotp-pbkdf2.pskcxml');
  for (const cut of [0.1, 0.5, 0.9, 0.999]) {
    assert.equal(
      codeOf(() => readPskc(xml.slice(0, Math.floor(xml.length * cut)), { password: 'Tally PSKC hotp 2' })),
      'FORMAT_INVALID',
      `cut at ${cut}`,
    );
  }
  assert.equal(
    codeOf(() => readPskc('')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc('<KeyContainer Version="1.0"/>')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc('<x:KeyContainer xmlns:x="urn:example" Version="1.0"/>')),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace(' Version="1.0"', ''))),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace(/<xenc:CipherValue>nNJ\+/, '<xenc:CipherValue>*NJ+'), { password: 'Tally PSKC hotp 2' })),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace('<IterationCount>10000', '<IterationCount>lots'), { password: 'Tally PSKC hotp 2' })),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace(/<pskc:MACMethod[\s\S]*<\/pskc:MACMethod>/, ''), { password: 'Tally PSKC hotp 2' })),
    'FORMAT_INVALID',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace(/<pskc:EncryptionKey>[\s\S]*<\/pskc:EncryptionKey>/, ''), { password: 'Tally PSKC hotp 2' })),
    'FORMAT_INVALID',
  );
  // An empty container is a valid file with nothing in it.
  assert.deepEqual(readPskc('<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"/>'), {
    passwordProtected: false,
    signed: false,
    keys: [],
  });
});

test('other protection schemes and unreasonable PBKDF2 costs are refused as a whole', () => {
  const xml = readVector('pskc/hotp-pbkdf2.pskcxml');
  const password = 'Tally PSKC hotp 2';
  const preShared = xml.replace(
    /<pskc:EncryptionKey>[\s\S]*<\/pskc:EncryptionKey>/,
    '<pskc:EncryptionKey><ds:KeyName xmlns:ds="http://www.w3.org/2000/09/xmldsig#">Pre-shared-key</ds:KeyName></pskc:EncryptionKey>',
  );
  assert.equal(
    codeOf(() => readPskc(preShared, { password })),
    'UNSUPPORTED_ALGORITHM',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace('xmldsig#hmac-sha1', 'xmldsig#hmac-md5'), { password })),
    'UNSUPPORTED_ALGORITHM',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace('<IterationCount>10000', '<IterationCount>100000000'), { password })),
    'INPUT_TOO_LARGE',
  );
  assert.equal(
    codeOf(() => readPskc(xml, { password, maxIterations: 9999 })),
    'INPUT_TOO_LARGE',
  );
  assert.equal(
    codeOf(() => readPskc(xml.replace('<KeyLength>16', '<KeyLength>32'), { password })),
    'FORMAT_INVALID',
  );
  // A value encrypted with another cipher cannot be decrypted, but its MAC still checks: that key alone is refused.
  const otherCipher = xml.replace(
    /(<pskc:EncryptedValue>\s*<xenc:EncryptionMethod Algorithm=")[^"]+/,
    '$1http://www.w3.org/2001/04/xmlenc#kw-aes128',
  );
  const outcome = firstItem(readPskc(otherCipher, { password }).keys);
  assert.equal(outcome.status === 'refused' && outcome.code, 'UNSUPPORTED_ALGORITHM');
});

test('a 50 MB input is refused as INPUT_TOO_LARGE without parsing', () => {
  // The body would be refused as a forbidden DOCTYPE and as malformed XML if anything read it:
  // INPUT_TOO_LARGE shows the size alone decided, before any parsing.
  const head =
    '<?xml version="1.0"?><!DOCTYPE KeyContainer [<!ENTITY x "y">]><KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><unclosed>';
  const huge = Buffer.concat([Buffer.from(head), Buffer.alloc(50 * 1024 * 1024, 0x20)]);
  assert.equal(
    codeOf(() => readPskc(huge.subarray(0, 64 * 1024))),
    'XML_FORBIDDEN_CONSTRUCT',
  );
  assert.equal(
    codeOf(() => readPskc(huge)),
    'INPUT_TOO_LARGE',
  );
  assert.equal(
    codeOf(() => readPskc(huge.toString('utf8'))),
    'INPUT_TOO_LARGE',
  );
  assert.equal(
    codeOf(() => readPskc(readVector('pskc/hotp-pbkdf2.pskcxml'), { maxBytes: 1000 })),
    'INPUT_TOO_LARGE',
  );
});

test('plain files: older #totp URIs, defaults, encrypted-looking nothing, and no secret in messages', () => {
  const secret = Buffer.from('3132333435363738393031323334353637383930', 'hex');
  const plain = (algorithm: string, data: string, extra = '') => `<?xml version="1.0"?>
<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0">
  <KeyPackage>
    <DeviceInfo><Manufacturer>M</Manufacturer><SerialNo>SN1</SerialNo><UserId>device-user</UserId></DeviceInfo>
    <Key Id="K" Algorithm="${algorithm}">
      <AlgorithmParameters>${extra}<ResponseFormat Length="8"/></AlgorithmParameters>
      <Data><Secret><PlainValue>${secret.toString('base64')}</PlainValue></Secret>${data}</Data>
    </Key>
  </KeyPackage>
</KeyContainer>`;
  const old = onlyKey(plain('urn:ietf:params:xml:ns:keyprov:pskc#totp', ''));
  assert.deepEqual(old, {
    kind: 'totp',
    id: 'K',
    secret,
    digits: 8,
    manufacturer: 'M',
    userId: 'device-user',
    serial: 'SN1',
    algorithm: 'SHA1',
    period: 30,
  });
  const appendixB = readVectorJson('oath/rfc6238-appendix-b.json');
  if (old.kind !== 'totp') assert.fail('not a TOTP key');
  assert.equal(totp({ ...old, period: old.period }, 59), appendixB.values[0].totp);
  const rich = onlyKey(
    plain(
      'urn:ietf:params:xml:ns:keyprov:pskc:totp',
      '<Time><PlainValue>5</PlainValue></Time><TimeInterval><PlainValue>60</PlainValue></TimeInterval><TimeDrift><PlainValue>-2</PlainValue></TimeDrift>',
      '<Suite>HMAC-SHA-256</Suite>',
    ),
  );
  assert.equal(rich.kind === 'totp' && [rich.algorithm, rich.period, rich.time, rich.timeDrift].join(), 'SHA256,60,5,-2');
  assert.equal(onlyKey(plain('urn:ietf:params:xml:ns:keyprov:pskc#hotp', '<Counter><PlainValue>77</PlainValue></Counter>')).kind, 'hotp');

  const bad = firstItem(readPskc(plain('urn:ietf:params:xml:ns:keyprov:pskc:hotp', '<Counter><PlainValue>-1</PlainValue></Counter>')).keys);
  assert.equal(bad.status === 'refused' && bad.code, 'FORMAT_INVALID');
  const badBase64 = firstItem(
    readPskc(plain('urn:ietf:params:xml:ns:keyprov:pskc:hotp', '').replace('</PlainValue></Secret>', '!</PlainValue></Secret>')).keys,
  );
  assert.equal(badBase64.status === 'refused' && badBase64.code, 'FORMAT_INVALID');
  const checkDigit = firstItem(
    readPskc(
      plain('urn:ietf:params:xml:ns:keyprov:pskc:hotp', '').replace(
        '<ResponseFormat Length="8"/>',
        '<ResponseFormat Length="8" CheckDigits="true"/>',
      ),
    ).keys,
  );
  assert.equal(checkDigit.status === 'refused' && checkDigit.code, 'UNSUPPORTED_ALGORITHM');
  for (const outcome of [bad, badBase64, checkDigit]) {
    assert.ok(outcome.status === 'refused' && !outcome.reason.includes(secret.toString('base64').slice(0, 12)));
  }
});

test('messages of whole-file failures carry no secret, password or key material', () => {
  const v = readVectorJson('pskc/totp-pbkdf2.json');
  const xml = readVector('pskc/totp-pbkdf2.pskcxml');
  const failures = [
    errorOf(() => readPskc(xml, { password: 'nope' })),
    errorOf(() => readPskc(xml.replace(v.secret_value_mac_b64, Buffer.alloc(20).toString('base64')), { password: v.password })),
    errorOf(() => readPskc(xml)),
  ];
  for (const error of failures) {
    for (const secretish of [v.password, v.secret_hex, v.secret_base32, v.secret_value_mac_b64, v.pbkdf2.derived_key_hex, v.mac_key_hex]) {
      assert.ok(!error.message.includes(secretish), `${error.code}: ${error.message}`);
    }
  }
});

test('a SecurID-AES key (draft PSKC algorithm profile) is read with its 12-digit serial and interval', () => {
  const v = readVectorJson('securid/t3-6d-60s-password.json');
  const seed = Buffer.from(v.seed_hex, 'hex');
  for (const uri of [
    'http://www.rsa.com/names/2008/04/algorithms/SecurID#SecurID-AES',
    'http://www.rsasecurity.com/rsalabs/otps/schemas/2005/09/otps-wst#SecurID-AES',
  ]) {
    const xml = `<pskc:KeyContainer xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><pskc:KeyPackage>
      <pskc:DeviceInfo><pskc:Manufacturer>RSA</pskc:Manufacturer><pskc:SerialNo>${v.serial}</pskc:SerialNo></pskc:DeviceInfo>
      <pskc:Key Id="${v.serial}" Algorithm="${uri}">
        <pskc:AlgorithmParameters><pskc:ResponseFormat Length="${v.digits}" Encoding="DECIMAL"/></pskc:AlgorithmParameters>
        <pskc:Data><pskc:Secret><pskc:PlainValue>${seed.toString('base64')}</pskc:PlainValue></pskc:Secret>
        <pskc:TimeInterval><pskc:PlainValue>${v.interval}</pskc:PlainValue></pskc:TimeInterval></pskc:Data>
      </pskc:Key></pskc:KeyPackage></pskc:KeyContainer>`;
    assert.deepEqual(onlyKey(xml), {
      kind: 'securid-aes',
      id: v.serial,
      secret: seed,
      digits: v.digits,
      manufacturer: 'RSA',
      serial: v.serial,
      period: v.interval,
    });
    const short = onlyKey(xml.replace(`<pskc:SerialNo>${v.serial}`, '<pskc:SerialNo>4242'));
    assert.equal(short.serial, '000000004242');
    const noSerial = firstItem(readPskc(xml.replace(/<pskc:SerialNo>[^<]*<\/pskc:SerialNo>/, '')).keys);
    assert.equal(noSerial.status === 'refused' && noSerial.code, 'FORMAT_INVALID');
  }
  const counterBased = `<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><KeyPackage><Key Id="c" Algorithm="http://www.rsa.com/names/2008/04/algorithms/SecurID#SecurID-AES128-Counter"><Data><Secret><PlainValue>${seed.toString('base64')}</PlainValue></Secret></Data></Key></KeyPackage></KeyContainer>`;
  const outcome = firstItem(readPskc(counterBased).keys);
  assert.equal(outcome.status === 'refused' && outcome.code, 'UNSUPPORTED_ALGORITHM');
});

test('an XML signature on the KeyContainer is noticed (and not checked), with or without a password', () => {
  const signature =
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>';
  const v = readVectorJson('pskc/totp-pbkdf2.json');
  const xml = readVector('pskc/totp-pbkdf2.pskcxml');
  assert.equal(readPskc(xml, { password: v.password }).signed, false);
  const signed = xml.replace('</pskc:KeyContainer>', `${signature}</pskc:KeyContainer>`);
  assert.notEqual(signed, xml);
  const result = readPskc(signed, { password: v.password });
  assert.equal(result.signed, true);
  assert.equal(firstItem(result.keys).status, 'imported');
  const plain = writePskc([{ kind: 'hotp', id: 'P1', secret: Buffer.alloc(20, 7), digits: 6, algorithm: 'SHA1', counter: 0 }]);
  assert.equal(readPskc(plain).signed, false);
  assert.equal(readPskc(plain.replace(/<\/(\w+:)?KeyContainer>\s*$/, (end) => `${signature}${end}`)).signed, true);
});

/** RFC 6030 figure 10 (a key protected by a PIN the device checks), with `policy` as the HOTP key's Policy. */
function rfc6030Figure10(
  policy = '<PINPolicy MinLength="4" MaxLength="4" PINKeyId="123456781" PINEncoding="DECIMAL" PINUsageMode="Local"/><KeyUsage>OTP</KeyUsage>',
): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer
    xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
    Version="1.0">
    <KeyPackage>
        <DeviceInfo>
            <Manufacturer>Manufacturer</Manufacturer>
            <SerialNo>987654321</SerialNo>
        </DeviceInfo>
        <CryptoModuleInfo>
            <Id>CM_ID_001</Id>
        </CryptoModuleInfo>
        <Key Id="12345678"
            Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
            <Issuer>Issuer</Issuer>
            <AlgorithmParameters>
                <ResponseFormat Length="8" Encoding="DECIMAL"/>
            </AlgorithmParameters>
            <Data>
                <Secret>
                    <PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=
                    </PlainValue>
                </Secret>
                <Counter>
                    <PlainValue>0</PlainValue>
                </Counter>
            </Data>
            <Policy>
                ${policy}
            </Policy>
        </Key>
    </KeyPackage>
    <KeyPackage>
        <DeviceInfo>
            <Manufacturer>Manufacturer</Manufacturer>
            <SerialNo>987654321</SerialNo>
        </DeviceInfo>
        <CryptoModuleInfo>
            <Id>CM_ID_001</Id>
        </CryptoModuleInfo>
        <Key Id="123456781"
            Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:pin">
            <AlgorithmParameters>
                <ResponseFormat Length="4" Encoding="DECIMAL"/>
            </AlgorithmParameters>
            <Data>
                <Secret>
                    <PlainValue>MTIzNA==</PlainValue>
                </Secret>
            </Data>
        </Key>
    </KeyPackage>
</KeyContainer>`;
}

test('RFC 6030 figure 10: a PIN the device checks (Local) limits nothing here; the PIN key itself is refused by its Id', () => {
  const result = readPskc(rfc6030Figure10());
  const key = imported(firstItem(result.keys));
  assert.equal(key.id, '12345678');
  assert.equal(key.policy, undefined);
  assert.equal(key.kind === 'hotp' && hotp({ secret: key.secret, algorithm: key.algorithm, digits: key.digits }, key.counter), '84755224');
  const pin = item(result.keys, 1);
  assert.equal(pin.status, 'refused');
  assert.deepEqual(pin.status === 'refused' && [pin.id, pin.serial, pin.code], ['123456781', '987654321', 'UNSUPPORTED_ALGORITHM']);
});

test('Policy StartDate, ExpiryDate and NumberOfTransactions are read (RFC 6030 section 4.3.4), offsets honoured', () => {
  const policy = (extra: string) =>
    imported(
      firstItem(
        readPskc(rfc6030Figure10(`<StartDate>2006-05-01T00:00:00Z</StartDate>${extra}<KeyUsage>OTP</KeyUsage><KeyUsage>CR</KeyUsage>`))
          .keys,
      ),
    ).policy;
  assert.deepEqual(policy('<ExpiryDate>2006-05-31T00:00:00Z</ExpiryDate><NumberOfTransactions>100</NumberOfTransactions>'), {
    startDate: Date.UTC(2006, 4, 1),
    expiryDate: Date.UTC(2006, 4, 31),
    numberOfTransactions: 100,
  });
  assert.deepEqual(policy('<ExpiryDate>2006-05-31T02:00:00.5+02:00</ExpiryDate>'), {
    startDate: Date.UTC(2006, 4, 1),
    expiryDate: Date.UTC(2006, 4, 31, 0, 0, 0, 500),
  });
  // No zone: UTC, as RFC 6030 writes its dates.
  assert.deepEqual(policy('<ExpiryDate>2006-05-31T00:00:00</ExpiryDate><NumberOfTransactions>0</NumberOfTransactions>'), {
    startDate: Date.UTC(2006, 4, 1),
    expiryDate: Date.UTC(2006, 4, 31),
    numberOfTransactions: 0,
  });
});

test('a Policy Tally cannot enforce, or one without OTP among its KeyUsage, refuses that key only', () => {
  const refusal = (policy: string) => {
    const outcome = firstItem(readPskc(rfc6030Figure10(policy)).keys);
    assert.equal(outcome.status, 'refused', policy);
    return outcome.status === 'refused' ? [outcome.id, outcome.code, outcome.reason] : [];
  };
  assert.deepEqual(refusal('<KeyUsage>CR</KeyUsage><KeyUsage>Encrypt</KeyUsage>').slice(0, 2), ['12345678', 'KEY_USAGE_NOT_OTP']);
  for (const [policy, reason] of [
    ['<PINPolicy PINKeyId="123456781" PINUsageMode="Append"/><KeyUsage>OTP</KeyUsage>', /PINUsageMode "Append"/],
    ['<PINPolicy PINKeyId="123456781" PINUsageMode="Algorithmic"/>', /PINUsageMode "Algorithmic"/],
    ['<PINPolicy PINKeyId="123456781"/>', /PINUsageMode \(none\)/],
    ['<KeyUsage>OTP</KeyUsage><MaxUses>3</MaxUses>', /"MaxUses" element/],
    ['<StartDate>yesterday</StartDate>', /StartDate "yesterday" is not a date/],
    ['<ExpiryDate>2026-02-30T00:00:00Z</ExpiryDate>', /not a valid date/],
    ['<ExpiryDate>2026-01-01T24:00:00Z</ExpiryDate>', /not a valid date/],
    ['<StartDate>2026-02-01T00:00:00Z</StartDate><ExpiryDate>2026-01-01T00:00:00Z</ExpiryDate>', /not after its StartDate/],
    ['<ExpiryDate>2026-01-01T00:00:00Z</ExpiryDate><ExpiryDate>2027-01-01T00:00:00Z</ExpiryDate>', /more than one ExpiryDate/],
    ['<NumberOfTransactions>-1</NumberOfTransactions>', /NumberOfTransactions "-1"/],
    ['<NumberOfTransactions>1e3</NumberOfTransactions>', /NumberOfTransactions "1e3"/],
  ] as const) {
    const [id, code, message] = refusal(policy);
    assert.deepEqual([id, code], ['12345678', 'KEY_POLICY_UNSUPPORTED'], policy);
    assert.match(String(message), reason);
  }
});
