import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readVectorJson } from '../../../test/support/vectors.js';
import { TallyError } from '../../errors.js';
import { addPinToTokencode, computePasscode, computeTokencode } from './tokencode.js';

interface TokencodeVector {
  serial: string;
  seed_hex: string;
  digits: number;
  interval: 30 | 60;
  pin_required: boolean;
  tokencodes: { unix: number; tokencode: string }[];
  passcodes_pin_1234?: { unix: number; pin: string; passcode: string }[];
}

const VECTOR_SETS = ['t1-6d-30s', 't2-8d-30s-addpin', 't3-6d-60s-password', 't4-8d-60s-canon'];

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof TallyError && error.code === code);
}

test('securid.md inline vectors: 60 s with and without PIN, 30 s at three times', () => {
  const sixty = {
    serial: '584917508172',
    seed: Buffer.from('0cd1105cd1aafd893e89f1eb7b800dd8', 'hex'),
    digits: 8,
    period: 60 as const,
    addPin: true,
  };
  assert.equal(computeTokencode(sixty, 1409757465), '65366536');
  assert.equal(computePasscode(sixty, 1409757465, '9999'), '65365425');

  const thirty = {
    serial: '123456789012',
    seed: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    digits: 6,
    period: 30 as const,
  };
  assert.equal(computeTokencode(thirty, 1700000000), '888838');
  assert.equal(computeTokencode(thirty, 1700000029), '921662');
  assert.equal(computeTokencode(thirty, 1700000075), '695895');
});

for (const name of VECTOR_SETS) {
  test(`${name}: tokencodes at every listed time, and the PIN only where the token requires it`, () => {
    const vector = readVectorJson<TokencodeVector>(`securid/${name}.json`);
    const token = {
      serial: vector.serial,
      seed: Buffer.from(vector.seed_hex, 'hex'),
      digits: vector.digits,
      period: vector.interval,
      addPin: vector.pin_required,
    };
    for (const { unix, tokencode } of vector.tokencodes) {
      assert.equal(computeTokencode(token, unix), tokencode, `at ${unix}`);
      assert.equal(computePasscode(token, unix, '0000'), tokencode, `PIN 0000 at ${unix}`);
      if (!vector.pin_required) assert.equal(computePasscode(token, unix, '1234'), tokencode, `ignored PIN at ${unix}`);
    }
    for (const { unix, pin, passcode } of vector.passcodes_pin_1234 ?? []) {
      assert.equal(computePasscode(token, unix, pin), passcode, `passcode at ${unix}`);
    }
  });
}

test('30 s tokens change at :00 and :30; 60 s tokens keep their code for the whole minute', () => {
  const seed = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const thirty = { serial: '123456789012', seed, digits: 8, period: 30 as const };
  assert.equal(computeTokencode(thirty, 1700000040), computeTokencode(thirty, 1700000069));
  assert.notEqual(computeTokencode(thirty, 1700000069), computeTokencode(thirty, 1700000070));
  const sixty = { ...thirty, period: 60 as const };
  assert.equal(computeTokencode(sixty, 1700000040), computeTokencode(sixty, 1700000099));
  assert.notEqual(computeTokencode(sixty, 1700000099), computeTokencode(sixty, 1700000100));
});

test('digits keeps the last n decimal digits, zero-padded', () => {
  const token = { serial: '123456789012', seed: Buffer.from('00112233445566778899aabbccddeeff', 'hex'), period: 30 as const };
  const eight = computeTokencode({ ...token, digits: 8 }, 1700000000);
  for (let digits = 1; digits <= 8; digits++) {
    assert.equal(computeTokencode({ ...token, digits }, 1700000000), eight.slice(8 - digits));
  }
});

test('PIN arithmetic: per digit, no carry, right-aligned, extra PIN digits dropped', () => {
  assert.equal(addPinToTokencode('123456', '0000'), '123456');
  assert.equal(addPinToTokencode('999999', '1111'), '990000');
  assert.equal(addPinToTokencode('000000', '12345678'), '345678');
  assert.equal(addPinToTokencode('0000', '98765'), '8765');
  assert.equal(addPinToTokencode('501234', '5678'), '506802');
  assert.equal(addPinToTokencode('65366536', '9999'), '65365425');
});

test('PINs must be 4 to 8 digits, even when the token does not add them', () => {
  const token = { serial: '123456789012', seed: Buffer.alloc(16), digits: 6, period: 60 as const, addPin: false };
  for (const pin of ['123', '123456789', '12a4', '', ' 1234']) {
    throwsCode(() => addPinToTokencode('123456', pin), 'VALIDATION_FAILED');
    throwsCode(() => computePasscode(token, 1700000000, pin), 'VALIDATION_FAILED');
  }
});

test('bad token fields and times are refused', () => {
  const token = { serial: '123456789012', seed: Buffer.alloc(16), digits: 6, period: 60 as const };
  throwsCode(() => computeTokencode({ ...token, serial: '12345' }, 0), 'VALIDATION_FAILED');
  throwsCode(() => computeTokencode({ ...token, seed: Buffer.alloc(8) }, 0), 'VALIDATION_FAILED');
  throwsCode(() => computeTokencode({ ...token, digits: 9 }, 0), 'VALIDATION_FAILED');
  throwsCode(() => computeTokencode({ ...token, period: 45 as 60 }, 0), 'VALIDATION_FAILED');
  throwsCode(() => computeTokencode(token, -1), 'VALIDATION_FAILED');
  throwsCode(() => computeTokencode(token, 1.5), 'VALIDATION_FAILED');
});
