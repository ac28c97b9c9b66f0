import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import type { Actor } from '../../src/domain/actor.js';
import { EMERGENCY_ATTEMPTS, NEW_PIN_ATTEMPTS } from '../../src/domain/authentication.js';
import { RESYNC_ATTEMPTS } from '../../src/domain/token-administration.js';
import { tokenType } from '../../src/tokens/registry.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally, verifyOverRest } from '../support/tally.js';

/** An eight-digit code that is not `code`. */
function otherThan(code: string, i: number): string {
  const guess = String((Number(code) + 1 + i) % 100_000_000).padStart(8, '0');
  assert.notEqual(guess, code);
  return guess;
}

describeEachStore('attempt limits: emergency codes, new PIN chains, resynchronisation', (getStore) => {
  let tally: TestTally;
  const api = (url: string, payload: object, token = tally.tokens.superadmin) =>
    tally.admin.inject({ method: 'POST', url, headers: bearer(token), payload });
  const verify = (username: string, passcode: string, state?: string) => verifyOverRest(tally, username, passcode, state);
  async function codeOf(serial: string, offset = 0): Promise<string> {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    const type = tokenType(row.token_type);
    const step = type.movingFactor === 'counter' ? row.counter + offset : Math.floor(tally.clock.now() / 1000 / row.period) + offset;
    return type.codeAt(tally.services.tokens.material(row), step);
  }
  const failedLogons = async (username: string) =>
    (await getStore().db.selectFrom('users').select('failed_logons').where('username', '=', username).executeTakeFirstOrThrow())
      .failed_logons;

  before(async () => {
    tally = await createTestTally(getStore());
    const serials = ['BF-LOST', 'BF-LOST2', 'BF-PENDING', 'BF-PIN', 'BF-RESYNC'];
    const keys = serials.map((serial) =>
      serial === 'BF-RESYNC'
        ? { kind: 'hotp' as const, id: serial, serial, secret: randomBytes(20), digits: 6, algorithm: 'SHA1' as const, counter: 0 }
        : { kind: 'totp' as const, id: serial, serial, secret: randomBytes(20), digits: 6, algorithm: 'SHA1' as const, period: 30 },
    );
    assert.equal(
      (await api('/api/v1/tokens/import', { file: Buffer.from(writePskc(keys)).toString('base64') })).json().imported,
      serials.length,
    );
    for (const [serial, username] of [
      ['BF-LOST', 'bf-lost'],
      ['BF-LOST2', 'bf-pending'],
      ['BF-PENDING', 'bf-pending'],
      ['BF-PIN', 'bf-pin'],
      ['BF-RESYNC', 'bf-resync'],
    ]) {
      if ((await api('/api/v1/users', { username })).statusCode !== 201) assert.equal(username, 'bf-pending');
      assert.equal((await api(`/api/v1/tokens/${serial}/assign`, { username })).json().state, 'active');
    }
    // bf-pending's replacement token waits for its activation; bf-pin's token asks for a PIN it has not got yet.
    await getStore().db.updateTable('tokens').set({ state: 'pending' }).where('serial', '=', 'BF-PENDING').execute();
    await getStore().db.updateTable('tokens').set({ pin_mode: 'required', new_pin_required: 1 }).where('serial', '=', 'BF-PIN').execute();
  });
  after(async () => tally.close());

  test(`an emergency access code is void after ${EMERGENCY_ATTEMPTS} wrong passcodes; a fresh one works`, async () => {
    const lost = await api('/api/v1/tokens/BF-LOST/lost', { emergency: 'fixed', days: 3 });
    assert.equal(lost.statusCode, 200, lost.body);
    const { emergencyCode } = lost.json();
    // A typing error is forgiven by a right code that follows.
    assert.equal((await verify('bf-lost', otherThan(emergencyCode, 99))).result, 'reject');
    assert.equal((await verify('bf-lost', emergencyCode)).result, 'accept');
    for (let i = 0; i < EMERGENCY_ATTEMPTS; i++) assert.equal((await verify('bf-lost', otherThan(emergencyCode, i))).result, 'reject');
    assert.ok((await failedLogons('bf-lost')) < 10, 'the user is not locked: the code itself is what stops working');
    assert.deepEqual(await verify('bf-lost', emergencyCode), { result: 'reject', message: 'Access denied.' }, 'the code is void');
    const admin: Actor = { kind: 'admin', name: 'admin', role: 'superadmin' };
    assert.equal((await tally.services.tokens.details(admin, 'BF-LOST')).emergency?.void, true, "the token's page says so");

    const fresh = (await api('/api/v1/tokens/BF-LOST/lost', { emergency: 'one-time', days: 1 })).json().emergencyCode;
    assert.equal((await verify('bf-lost', fresh)).result, 'accept');
  });

  test('wrong emergency codes count while the user also has a token waiting for its activation', async () => {
    const { emergencyCode } = (await api('/api/v1/tokens/BF-LOST2/lost', { emergency: 'fixed', days: 3 })).json();
    for (let i = 0; i < EMERGENCY_ATTEMPTS; i++) assert.equal((await verify('bf-pending', otherThan(emergencyCode, i))).result, 'reject');
    assert.equal((await verify('bf-pending', emergencyCode)).result, 'reject', 'the guesses were counted: the code is void');
    assert.equal(await failedLogons('bf-pending'), EMERGENCY_ATTEMPTS + 1, 'each counted against the user too, the void code as well');
  });

  test(`a chain of new PIN challenges takes ${NEW_PIN_ATTEMPTS} answers, then ends; a fresh tokencode starts a new one`, async () => {
    let reply = await verify('bf-pin', await codeOf('BF-PIN'));
    assert.equal(reply.result, 'challenge');
    const answers = ['1111', '4826', '1234', '4826', '9999'];
    assert.equal(answers.length, NEW_PIN_ATTEMPTS);
    for (const [i, answer] of answers.entries()) {
      reply = await verify('bf-pin', answer, reply.state);
      if (i < answers.length - 1) assert.equal(reply.result, 'challenge', `answer ${i + 1}`);
    }
    // 1111 too easy, 4826 then 1234 do not match, 4826 again then 9999: the fifth answer ends the chain.
    assert.deepEqual(reply, { result: 'reject', message: 'Access denied.' });
    tally.clock.advance(30);
    reply = await verify('bf-pin', await codeOf('BF-PIN'));
    assert.equal(reply.result, 'challenge');
    reply = await verify('bf-pin', '4826', reply.state);
    assert.deepEqual(await verify('bf-pin', '4826', reply.state), { result: 'accept', message: 'New PIN accepted.' });
  });

  test(`a holder offering wrong pairs to resynchronise gets ${RESYNC_ATTEMPTS} tries; the help desk can still do it`, async () => {
    const holder: Actor = { kind: 'user', name: 'bf-resync', role: 'user' };
    const resync = (actor: Actor, first: string, second: string) => tally.services.tokenAdmin.resync(actor, 'BF-RESYNC', first, second);
    for (let i = 0; i < RESYNC_ATTEMPTS; i++) {
      await assert.rejects(
        resync(holder, String(100000 + i), String(200000 + i)),
        (error: Error & { code?: string }) => error.code === 'TOKENCODE_INVALID',
      );
    }
    const [first, second] = [await codeOf('BF-RESYNC', 500), await codeOf('BF-RESYNC', 501)];
    await assert.rejects(
      resync(holder, first, second),
      (error: Error & { code?: string }) => error.code === 'TOKEN_LOCKED',
      'even a right pair, once the tries are used up',
    );
    const helpdesk: Actor = { kind: 'admin', name: 'admin', role: 'helpdesk' };
    assert.equal((await resync(helpdesk, first, second)).state, 'active');
    const row = await getStore()
      .db.selectFrom('tokens')
      .select(['counter', 'resync_failures'])
      .where('serial', '=', 'BF-RESYNC')
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { counter: 502, resync_failures: 0 });
    const [third, fourth] = [await codeOf('BF-RESYNC', 100), await codeOf('BF-RESYNC', 101)];
    assert.equal((await resync(holder, third, fourth)).state, 'active', 'the holder may again once a right pair was taken');
  });
});
