import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstItem } from '../../../test/support/items.js';
import { readVector, readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { buildCtfLink, CTF_LINK_PREFIXES, type CtfLinkApp, decodeCtf, parseCtfLink } from './ctf.js';
import { decodeCtfV2, encodeCtfV2 } from './ctf-v2.js';
import { decodeCtfV3, encodeCtfV3 } from './ctf-v3.js';
import { readSdtid } from './sdtid.js';
import type { SecurIdToken } from './token.js';
import { computePasscode } from './tokencode.js';

interface CtfVector {
  serial: string;
  seed_hex: string;
  password: string | null;
  ctf_v2: string;
  ctf_v2_flags_hex: string;
  ctf_v3_android_link: string;
  tokencodes: { unix: number; tokencode: string }[];
  passcodes_pin_1234?: { unix: number; pin: string; passcode: string }[];
}

const VECTOR_SETS = ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password', 't4-8d-60s-canon'];

function load(name: string): { vector: CtfVector; fromSdtid: SecurIdToken; secrets: { password?: string } } {
  const vector = readVectorJson<CtfVector>(`securid/${name}.json`);
  const secrets = vector.password === null ? {} : { password: vector.password };
  const { userLogin, ...fromSdtid } = firstItem(readSdtid(readVector(`securid/${name}.sdtid`), secrets).tokens);
  return { vector, fromSdtid, secrets };
}

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TallyError, `expected a TallyError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function assertCodes(token: SecurIdToken, vector: CtfVector): void {
  for (const { unix, tokencode } of vector.tokencodes) assert.equal(computePasscode(token, unix, '0000'), tokencode, `at ${unix}`);
  for (const { unix, pin, passcode } of vector.passcodes_pin_1234 ?? []) assert.equal(computePasscode(token, unix, pin), passcode);
}

/** The v3 container nonce, so a re-encoding can be compared byte for byte. */
function nonceOf(link: string): Buffer {
  return Buffer.from(parseCtfLink(link).data, 'base64').subarray(67, 83);
}

for (const name of VECTOR_SETS) {
  test(`${name}: CTF v2 decodes to the sdtid's token and codes; encoding gives stoken's string`, () => {
    const { vector, fromSdtid, secrets } = load(name);
    const decoded = decodeCtf(vector.ctf_v2, secrets);
    assert.deepEqual(decoded, fromSdtid);
    assert.equal(decoded.seed.toString('hex'), vector.seed_hex);
    assertCodes(decoded, vector);
    assert.equal(encodeCtfV2(fromSdtid, secrets), vector.ctf_v2);
    const flags = Number((BigInt(`0o${vector.ctf_v2.slice(13, 76)}`) >> 45n) & 0xffffn);
    assert.equal(flags.toString(16), vector.ctf_v2_flags_hex);

    const dashed = encodeCtfV2(fromSdtid, { ...secrets, dashes: true });
    assert.match(dashed, /^(\d{5}-){16}\d$/);
    assert.equal(dashed.replaceAll('-', ''), vector.ctf_v2);
    assert.deepEqual(decodeCtf(dashed, secrets), fromSdtid);
  });

  test(`${name}: CTF v3 link decodes to the same seed and codes; re-encoding with its nonce gives stoken's link`, () => {
    const { vector, fromSdtid, secrets } = load(name);
    const decoded = decodeCtf(vector.ctf_v3_android_link, secrets);
    assert.equal(decoded.seed.toString('hex'), vector.seed_hex);
    // v3 cannot carry LocalPIN or the seed-derivation flags; none of the vectors sets them.
    assert.deepEqual(decoded, fromSdtid);
    assertCodes(decoded, vector);
    const link = buildCtfLink(fromSdtid, { version: 3, ...secrets, nonce: nonceOf(vector.ctf_v3_android_link) });
    assert.equal(link, vector.ctf_v3_android_link);
  });
}

test('securid.md inline CTF v2 vector, byte for byte', () => {
  const token: SecurIdToken = {
    serial: '123456789012',
    seed: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    digits: 6,
    period: 30,
    addPin: false,
    localPin: false,
    expiresOn: '2037-12-31',
  };
  const expected = '212345678901207502410241702213006102607705762041454650504150066156332262716713530';
  assert.equal(encodeCtfV2(token), expected);
  assert.deepEqual(decodeCtfV2(expected), { ...token, features: { timeDerivedSeeds: true, appDerivedSeeds: false, mode: false } });
});

// Made with stoken 0.92 from t1-6d-30s.sdtid: `stoken export --file t1-6d-30s.sdtid --new-devid=DEVICE_ID`
// [--new-password='pw 2'] [--android]; the v3 link from t2-8d-30s-addpin.sdtid with `--v3`.
const DEVICE_ID = '1234abcd-5678-ef90-1234-567890abcdefXYZ99';
const T1_SEED = '858853d4cd9e1b505af32b1fe1695e6d';
const BOUND = {
  bare: '227415398062644401123317173460473275604106526126057365105150063270640347662670257',
  bareWithPassword: '227415398062676135771505147075241525677772120353701021367150063270640347662637006',
  android: `${CTF_LINK_PREFIXES.android}227415398062611004122664612306047074743131374263771241745150063270640340570477701`,
  v3: `${CTF_LINK_PREFIXES.android}AwABiSofmRHx1jOhANnh5%2F%2BfT2Xvd0iCvcXAqHdx5wN3AjyJKh%2BZEfHWM6EA2eHn%2F59PZe93SIK9xcCod3HnA3cCPOIvlQMeE2%2FfK9nlAQmXkrUpOcqffXMafNeUVa7GoaXANWedi60pbtjxcFWyjqZxVaZMjuFCH81Ez9JH9mw4DwPVTx2jOnS%2FY9IC8sWCJEwgPg2uQrmy%2BBLxi%2F4T%2FexvHomspfbN2ItGhQ7G0y2cPkdFhXRSlzuM4pBH1DV8Bsb1PynkE%2B80i1BnRLUxefyjKqj3rpNr8JNtpuV4em8fHztQdm9f0muVEJdoRjg6m9dMMCk%2BsmciVR1BqIUl8cBBJ94VZVwCoMV9e8ih7kAEjyQBiTPEJhSUKdtH3SzXLT%2Bl`,
};

test('device-bound strings from stoken: bare v2 (32 characters of the ID), link v2 (40), v3 (alphanumerics)', () => {
  const t1 = load('t1-6d-30s').fromSdtid;
  assert.equal(decodeCtf(BOUND.bare, { deviceId: DEVICE_ID }).seed.toString('hex'), T1_SEED);
  assert.equal(decodeCtf(BOUND.bareWithPassword, { deviceId: DEVICE_ID, password: 'pw 2' }).seed.toString('hex'), T1_SEED);
  assert.equal(decodeCtf(BOUND.android, { deviceId: DEVICE_ID }).seed.toString('hex'), T1_SEED);
  assert.equal(encodeCtfV2(t1, { deviceId: DEVICE_ID }), BOUND.bare);
  assert.equal(encodeCtfV2(t1, { deviceId: DEVICE_ID, password: 'pw 2' }), BOUND.bareWithPassword);
  assert.equal(buildCtfLink(t1, { deviceId: DEVICE_ID }), BOUND.android);
  const t2 = load('t2-8d-30s-addpin');
  assert.equal(decodeCtf(BOUND.v3, { deviceId: DEVICE_ID }).seed.toString('hex'), t2.vector.seed_hex);
  assert.equal(buildCtfLink(t2.fromSdtid, { version: 3, deviceId: DEVICE_ID, nonce: nonceOf(BOUND.v3) }), BOUND.v3);

  // Only the first 32 (bare) characters count: anything after them may differ.
  assert.equal(decodeCtf(BOUND.bare, { deviceId: `${DEVICE_ID.slice(0, 32)}ffff` }).seed.toString('hex'), T1_SEED);
  throwsCode(() => decodeCtf(BOUND.android, { deviceId: `${DEVICE_ID.slice(0, 32)}ffff` }), 'WRONG_PASSWORD', /device ID/);
});

test('missing or wrong password and device ID, for v2 and v3', () => {
  const details = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return error instanceof TallyError ? { code: error.code, secret: error.details?.secret } : error;
    }
    return undefined;
  };
  assert.deepEqual(
    details(() => decodeCtf(BOUND.bare)),
    { code: 'PASSWORD_REQUIRED', secret: 'deviceId' },
  );
  assert.deepEqual(
    details(() => decodeCtf(BOUND.bare, { deviceId: 'ffff' })),
    { code: 'WRONG_PASSWORD', secret: 'deviceId' },
  );
  assert.deepEqual(
    details(() => decodeCtf(BOUND.bareWithPassword, { deviceId: DEVICE_ID })),
    { code: 'PASSWORD_REQUIRED', secret: undefined },
  );
  assert.deepEqual(
    details(() => decodeCtf(BOUND.bareWithPassword, { deviceId: DEVICE_ID, password: 'pw 3' })),
    {
      code: 'WRONG_PASSWORD',
      secret: undefined,
    },
  );
  assert.deepEqual(
    details(() => decodeCtf(BOUND.v3)),
    { code: 'PASSWORD_REQUIRED', secret: 'deviceId' },
  );
  assert.deepEqual(
    details(() => decodeCtf(BOUND.v3, { deviceId: 'ABCD' })),
    { code: 'WRONG_PASSWORD', secret: 'deviceId' },
  );

  const { vector } = load('t3-6d-60s-password');
  for (const form of [vector.ctf_v2, vector.ctf_v3_android_link]) {
    throwsCode(() => decodeCtf(form), 'PASSWORD_REQUIRED');
    throwsCode(() => decodeCtf(form, { password: '' }), 'PASSWORD_REQUIRED');
    throwsCode(() => decodeCtf(form, { password: 'Tally-vector-pass4' }), 'WRONG_PASSWORD');
  }
  // A password the string does not need is ignored, as stoken does.
  assert.equal(decodeCtf(load('t1-6d-30s').vector.ctf_v2, { password: 'unneeded' }).seed.toString('hex'), T1_SEED);
});

test('links: every app prefix carries v2 and v3, with and without secrets', () => {
  const token = load('t2-8d-30s-addpin').fromSdtid;
  for (const app of Object.keys(CTF_LINK_PREFIXES) as CtfLinkApp[]) {
    for (const version of [2, 3] as const) {
      for (const secrets of [{}, { password: 'link pw' }, { deviceId: 'android-7f3a', password: 'x' }]) {
        const link = buildCtfLink(token, { app, version, ...secrets });
        assert.ok(link.startsWith(CTF_LINK_PREFIXES[app]));
        const parsed = parseCtfLink(link);
        assert.equal(parsed.app, app);
        assert.equal(parsed.version, version);
        assert.match(link.slice(CTF_LINK_PREFIXES[app].length), /^([A-Za-z0-9]|%[0-9A-F]{2})+$/);
        assert.deepEqual(decodeCtf(link, secrets), token);
      }
    }
  }
  assert.equal(parseCtfLink(`  ${CTF_LINK_PREFIXES.iphone}${load('t1-6d-30s').vector.ctf_v2}\n`).version, 2);
});

test('v3 round trip keeps mode and PIN; LocalPIN and the seed flags are not carried', () => {
  const token: SecurIdToken = {
    serial: '000000001234',
    seed: Buffer.alloc(16, 7),
    digits: 7,
    period: 30,
    addPin: true,
    localPin: true,
    expiresOn: '2040-12-31',
    features: { timeDerivedSeeds: false, appDerivedSeeds: true, mode: true },
  };
  assert.deepEqual(decodeCtfV3(encodeCtfV3(token)), {
    ...token,
    localPin: false,
    features: { timeDerivedSeeds: true, appDerivedSeeds: false, mode: true },
  });
  assert.deepEqual(decodeCtfV2(encodeCtfV2(token)), token);
});

test('encoders refuse what the format cannot hold', () => {
  const token = load('t1-6d-30s').fromSdtid;
  throwsCode(() => encodeCtfV2({ ...token, expiresOn: '1999-12-31' }), 'VALIDATION_FAILED', /2000-01-01/);
  throwsCode(() => encodeCtfV2({ ...token, expiresOn: '2044-11-09' }), 'VALIDATION_FAILED', /2044-11-08/);
  assert.equal(decodeCtfV2(encodeCtfV2({ ...token, expiresOn: '2044-11-08' })).expiresOn, '2044-11-08');
  throwsCode(() => encodeCtfV2(token, { password: 'p'.repeat(41) }), 'VALIDATION_FAILED', /40/);
  throwsCode(() => encodeCtfV3(token, { password: 'p'.repeat(41) }), 'VALIDATION_FAILED', /40/);
  assert.equal(decodeCtfV3(encodeCtfV3(token, { password: 'p'.repeat(40) }), { password: 'p'.repeat(40) }).serial, token.serial);
  throwsCode(() => encodeCtfV2({ ...token, digits: 0 }), 'VALIDATION_FAILED', /digits/);
  throwsCode(() => encodeCtfV3(token, { nonce: Buffer.alloc(8) }), 'VALIDATION_FAILED', /nonce/);
});

test('bad CTF v2 strings: checksum, non-digits, non-octal, length, version', () => {
  const { vector } = load('t1-6d-30s');
  const good = vector.ctf_v2;
  const lastDigitChanged = good.slice(0, 80) + String((Number(good[80]) + 1) % 8);
  throwsCode(() => decodeCtf(lastDigitChanged), 'INTEGRITY_CHECK_FAILED', /checksum/);
  const seedDigitChanged = good.slice(0, 20) + String((Number(good[20]) + 1) % 8) + good.slice(21);
  throwsCode(() => decodeCtf(seedDigitChanged), 'INTEGRITY_CHECK_FAILED', /checksum/);
  const serialDigitChanged = `2${String((Number(good[1]) + 1) % 10)}${good.slice(2)}`;
  throwsCode(() => decodeCtf(serialDigitChanged), 'INTEGRITY_CHECK_FAILED');
  throwsCode(() => decodeCtf(`${good.slice(0, 40)}x${good.slice(41)}`), 'FORMAT_INVALID', /digits/);
  throwsCode(() => decodeCtf(`${good.slice(0, 40)} ${good.slice(40)}`), 'FORMAT_INVALID', /digits/);
  throwsCode(() => decodeCtf(`${good.slice(0, 40)}9${good.slice(41)}`), 'FORMAT_INVALID', /octal/);
  throwsCode(() => decodeCtf(good.slice(0, 80)), 'FORMAT_INVALID', /81 digits/);
  throwsCode(() => decodeCtf(`${good}0`), 'FORMAT_INVALID', /81 digits/);
  throwsCode(() => decodeCtf(`1${good.slice(1)}`), 'FORMAT_INVALID', /version 1/);
  throwsCode(() => decodeCtf(''), 'FORMAT_INVALID');
});

test('bad CTF v3 strings and links: MAC, base64, length, version, percent-encoding, prefix', () => {
  const { vector } = load('t1-6d-30s');
  const link = vector.ctf_v3_android_link;
  const container = Buffer.from(parseCtfLink(link).data, 'base64');
  const reencode = (bytes: Buffer) => buildLinkFromContainer(bytes);

  for (const offset of [100, 200, 270]) {
    const tampered = Buffer.from(container);
    tampered[offset]! ^= 1;
    throwsCode(() => decodeCtf(reencode(tampered)), 'INTEGRITY_CHECK_FAILED');
  }
  const deviceHashTampered = Buffer.from(container);
  deviceHashTampered[10]! ^= 1;
  throwsCode(() => decodeCtf(reencode(deviceHashTampered)), 'INTEGRITY_CHECK_FAILED');
  const versionTwo = Buffer.from(container);
  versionTwo[0] = 2;
  throwsCode(() => decodeCtf(reencode(versionTwo)), 'FORMAT_INVALID', /version 2/);
  const badLock = Buffer.from(container);
  badLock[1] = 7;
  throwsCode(() => decodeCtf(reencode(badLock)), 'FORMAT_INVALID', /lock/);
  throwsCode(() => decodeCtf(reencode(container.subarray(0, 290))), 'FORMAT_INVALID', /291 bytes/);
  throwsCode(() => decodeCtf(`${CTF_LINK_PREFIXES.android}AwAA*%%`), 'FORMAT_INVALID', /percent/);
  throwsCode(() => decodeCtf(`${CTF_LINK_PREFIXES.android}AwAA*bad`), 'FORMAT_INVALID', /base64/);
  throwsCode(() => decodeCtf(CTF_LINK_PREFIXES.android), 'FORMAT_INVALID', /empty/);
  throwsCode(() => parseCtfLink('https://example.com/ctf?ctfData=123'), 'FORMAT_INVALID', /link/);
  throwsCode(() => decodeCtf(link.replace('AwAA', '')), 'FORMAT_INVALID');
});

function buildLinkFromContainer(bytes: Buffer): string {
  return CTF_LINK_PREFIXES.android + encodeURIComponent(bytes.toString('base64'));
}

test('oversized inputs are refused before any work', () => {
  // Characters no token string may hold: decoding would refuse them as FORMAT_INVALID.
  const huge = '!'.repeat(50 * 1024 * 1024);
  throwsCode(() => decodeCtf(huge.slice(0, 81)), 'FORMAT_INVALID');
  throwsCode(() => decodeCtf(huge), 'INPUT_TOO_LARGE');
  throwsCode(() => parseCtfLink(CTF_LINK_PREFIXES.android + huge), 'INPUT_TOO_LARGE');
});

test('error messages never carry the password, device ID or seed', () => {
  const { vector } = load('t3-6d-60s-password');
  for (const form of [vector.ctf_v2, vector.ctf_v3_android_link, BOUND.bare]) {
    try {
      decodeCtf(form, { password: 'Secret-guess-1', deviceId: 'fedcba9876543210' });
    } catch (error) {
      assert.ok(error instanceof TallyError);
      assert.doesNotMatch(error.message, /Secret-guess-1|fedcba9876543210|Tally-vector-pass3/i);
      assert.ok(!error.message.includes(vector.seed_hex));
    }
  }
});
