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
  assert.match(appVersionProblem('latest')!, /major version number/);
});
