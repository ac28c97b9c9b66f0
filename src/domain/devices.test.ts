import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appVersionProblem, BUILT_IN_DEVICES, deliveryChoices } from './devices.js';

const device = (type: string) => BUILT_IN_DEVICES.find((d) => d.deviceType === type)!;

test("the editor's choices: every delivery, the possible ones, and why each other one is not", () => {
  assert.deepEqual(deliveryChoices(device('ios'), 'securid', '1.4'), [
    { delivery: 'qr', possible: false, reason: 'the SecurID app 1.x for iOS cannot scan QR codes (2.x and later can)' },
    { delivery: 'ctkip', possible: true },
    { delivery: 'file', possible: false, reason: 'the iOS app takes CT-KIP or CTF, not token files' },
    { delivery: 'ctf', possible: true },
  ]);
  assert.deepEqual(
    deliveryChoices(device('ios'), 'securid', '2')
      .filter((c) => c.possible)
      .map((c) => c.delivery),
    ['qr', 'ctkip', 'ctf'],
  );
  assert.deepEqual(deliveryChoices(device('tally-cli'), 'totp'), [
    { delivery: 'qr', possible: false, reason: 'a command line cannot scan a QR code' },
    { delivery: 'ctkip', possible: false, reason: 'TOTP tokens have no CT-KIP delivery' },
    { delivery: 'file', possible: true },
    { delivery: 'ctf', possible: false, reason: 'TOTP tokens have no CTF delivery' },
  ]);
});

test('an app version must start with its major number', () => {
  assert.equal(appVersionProblem('2.1'), undefined);
  assert.equal(appVersionProblem(undefined), undefined);
  assert.match(appVersionProblem('latest')?.message ?? '', /major version number/);
});

test('no app version means every version: a delivery is offered only if every version of the app takes it', () => {
  for (const type of ['android', 'ios']) {
    const choices = deliveryChoices(device(type), 'securid');
    assert.deepEqual(
      choices.filter((c) => c.possible).map((c) => c.delivery),
      ['ctkip', 'ctf'],
      `${type}: the 1.x app cannot scan, so a profile for every version is no QR profile`,
    );
    assert.match(choices.find((c) => c.delivery === 'qr')?.reason ?? '', /1\.x .* cannot scan QR codes/);
  }
  assert.deepEqual(
    deliveryChoices(device('android'), 'securid', '3.0')
      .filter((c) => c.possible)
      .map((c) => c.delivery),
    ['qr', 'ctkip', 'ctf'],
    'a named later version still scans',
  );
});

test('standard authenticator apps are not said to take token files', () => {
  const choices = deliveryChoices(device('authenticator'), 'totp');
  assert.deepEqual(
    choices.filter((c) => c.possible).map((c) => c.delivery),
    ['qr'],
  );
  assert.match(choices.find((c) => c.delivery === 'file')?.reason ?? '', /import neither PSKC nor sdtid/);
});
