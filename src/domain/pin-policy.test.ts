import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TallyError } from '../errors.js';
import { pinPolicyText } from './authentication.js';
import { checkedPinPolicy } from './profiles.js';

/** The field a refused policy names, for forms and REST clients. */
function refusedField(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof TallyError);
    assert.equal(error.code, 'VALIDATION_FAILED');
    return error.details?.field;
  }
  assert.fail('the policy was accepted');
}

test("a profile's PIN policy: RSA's defaults, PINPad forced to digits no longer than the tokencode", () => {
  assert.deepEqual(checkedPinPolicy({ tokenType: 'totp', pinMode: 'required' }, 6), {
    minLength: 4,
    maxLength: 8,
    charset: 'digits',
    reuse: false,
    generated: false,
  });
  assert.deepEqual(checkedPinPolicy({ tokenType: 'securid', pinMode: 'pinpad' }, 6), {
    minLength: 4,
    maxLength: 6,
    charset: 'digits',
    reuse: false,
    generated: false,
  });
  assert.deepEqual(
    checkedPinPolicy(
      { tokenType: 'hotp', pinMode: 'required', pinMinLength: 6, pinCharset: 'alphanumeric', pinReuse: true, pinGenerated: true },
      6,
    ),
    { minLength: 6, maxLength: 8, charset: 'alphanumeric', reuse: true, generated: true },
  );
});

test('a PIN policy refused names its field', () => {
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'totp', pinMode: 'pinpad' }, 6)),
    'pinMode',
  );
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'securid', pinMode: 'pinpad', pinCharset: 'alphanumeric' }, 8)),
    'pinCharset',
  );
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'securid', pinMode: 'pinpad', pinMaxLength: 8 }, 6)),
    'pinMaxLength',
  );
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'totp', pinMode: 'required', pinMinLength: 3 }, 6)),
    'pinMinLength',
  );
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'totp', pinMode: 'required', pinMaxLength: 9 }, 6)),
    'pinMaxLength',
  );
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'totp', pinMode: 'required', pinMinLength: 6, pinMaxLength: 5 }, 6)),
    'pinMaxLength',
  );
  assert.equal(
    refusedField(() => checkedPinPolicy({ tokenType: 'totp', pinMode: 'required', pinMinLength: 4.5 }, 6)),
    'pinMinLength',
  );
});

test('the policy in words, as prompts and refusals state it', () => {
  assert.equal(pinPolicyText({ pin_min_length: 4, pin_max_length: 8, pin_charset: 'digits' }), '4 to 8 digits');
  assert.equal(pinPolicyText({ pin_min_length: 6, pin_max_length: 6, pin_charset: 'alphanumeric' }), '6 letters or digits');
});
