import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { writePskc } from '../../src/core/pskc/write.js';
import { type Actor, systemActor } from '../../src/domain/actor.js';
import { AuditService } from '../../src/domain/audit.js';
import { AuthenticationService, DEFAULT_AUTHENTICATION, PasscodeRules } from '../../src/domain/authentication.js';
import { SecretHasher } from '../../src/domain/secret-hash.js';
import { AuthenticationRepository } from '../../src/store/repositories/authentication.js';
import { ChallengeRepository } from '../../src/store/repositories/challenges.js';
import { MetaRepository } from '../../src/store/repositories/meta.js';
import { UnitOfWork } from '../../src/store/unit-of-work.js';
import { tokenType } from '../../src/tokens/registry.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

/**
 * A batch persists every effect of its requests in one transaction: when that transaction fails,
 * nothing of it stays, not even the step a next tokencode challenge used or the challenge itself.
 */
describeEachStore('authentication batches commit all or nothing', (getStore) => {
  let tally: TestTally;

  before(async () => {
    tally = await createTestTally(getStore());
    const api = (url: string, payload: object) =>
      tally.admin.inject({ method: 'POST', url, headers: bearer(tally.tokens.superadmin), payload });
    assert.equal((await api('/api/v1/users', { username: 'batch-user' })).statusCode, 201);
    const key = {
      kind: 'totp' as const,
      id: 'B1',
      serial: 'BATCH-1',
      secret: randomBytes(20),
      digits: 6,
      algorithm: 'SHA1' as const,
      period: 30,
    };
    assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writePskc([key])).toString('base64') })).json().imported, 1);
    assert.equal((await api('/api/v1/tokens/BATCH-1/assign', { username: 'batch-user' })).json().state, 'active');
    assert.equal((await api('/api/v1/users', { username: 'batch-lost' })).statusCode, 201);
    const lostKey = { ...key, id: 'B2', serial: 'BATCH-2', secret: randomBytes(20) };
    assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writePskc([lostKey])).toString('base64') })).json().imported, 1);
    assert.equal((await api('/api/v1/tokens/BATCH-2/assign', { username: 'batch-lost' })).json().state, 'active');
    assert.equal((await api('/api/v1/users', { username: 'batch-pin' })).statusCode, 201);
    const pinKey = { ...key, id: 'B3', serial: 'BATCH-3', secret: randomBytes(20) };
    assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writePskc([pinKey])).toString('base64') })).json().imported, 1);
    assert.equal((await api('/api/v1/tokens/BATCH-3/assign', { username: 'batch-pin' })).json().state, 'active');
    // The token asks for a PIN it has not got yet.
    await getStore().db.updateTable('tokens').set({ pin_mode: 'required', new_pin_required: 1 }).where('serial', '=', 'BATCH-3').execute();
  });
  after(() => tally.close());

  /** The token's code `ahead` steps after the current one (5: outside the small window, inside the large one). */
  async function codeAhead(ahead: number, serial = 'BATCH-1'): Promise<string> {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    const type = tokenType(row.token_type);
    return type.codeAt(
      tally.services.tokens.material(row),
      type.stepAt({ period: row.period, counter: row.counter }, tally.clock.now()) + ahead,
    );
  }

  /** An authentication service on the same store whose batches fail at their last write (the audit insert). */
  function failingAuthentication(): AuthenticationService {
    const db = getStore().db;
    const audit = new AuditService(new UnitOfWork(db), tally.clock);
    audit.record = async () => {
      throw new Error('the audit insert failed');
    };
    const repository = new AuthenticationRepository(db);
    return new AuthenticationService(
      repository,
      new ChallengeRepository(db),
      new PasscodeRules(tally.services.tokens, tally.services.lockout, tally.clock, DEFAULT_AUTHENTICATION),
      new SecretHasher(new MetaRepository(db), tally.keyring),
      tally.services.lockout,
      audit,
      tally.clock,
    );
  }

  test('a next tokencode challenge whose batch fails to commit leaves no used step and no challenge', async () => {
    const db = getStore().db;
    const failing = failingAuthentication();
    const passcode = await codeAhead(5);
    await assert.rejects(failing.verifyConsoleLogOn({ username: 'batch-user', passcode }), /the audit insert failed/);
    const token = await db.selectFrom('tokens').select(['id', 'last_step']).where('serial', '=', 'BATCH-1').executeTakeFirstOrThrow();
    assert.equal(token.last_step, null, 'the step is not used');
    assert.deepEqual(
      await db.selectFrom('auth_challenges').select('state').where('token_id', '=', token.id).execute(),
      [],
      'no challenge is left',
    );

    const reply = await tally.services.authentication.verifyConsoleLogOn({ username: 'batch-user', passcode });
    assert.equal(reply?.result, 'challenge', 'the same code still opens its challenge once the store commits');
    assert.equal(
      (await db.selectFrom('auth_challenges').select('kind').where('token_id', '=', token.id).execute()).map((row) => row.kind).join(),
      'next-code',
    );
  });

  test('a one-time emergency access code accepted in a batch that fails to commit stays unused', async () => {
    const db = getStore().db;
    const lost = await tally.services.tokenAdmin.reportLost(systemActor, 'BATCH-2', { emergency: 'one-time' });
    const emergencyCode = lost.emergencyCode ?? '';
    assert.equal(emergencyCode.length, 8);
    const agent: Actor = { kind: 'apitoken', name: 'vpn', role: 'agent' };
    const request = { username: 'batch-lost', passcode: emergencyCode, channel: 'rest' } as const;
    await assert.rejects(failingAuthentication().verify(agent, request), /the audit insert failed/);
    const row = await db.selectFrom('tokens').select('emergency_hash').where('serial', '=', 'BATCH-2').executeTakeFirstOrThrow();
    assert.notEqual(row.emergency_hash, null, 'the one-time code is not used up');

    assert.equal(
      (await tally.services.authentication.verify(agent, request)).result,
      'accept',
      'the code still works once the store commits',
    );
    assert.equal((await tally.services.authentication.verify(agent, request)).result, 'reject', 'once');
  });

  test('a new PIN confirmed in a batch that fails to commit is not set, and no failure is counted for it', async () => {
    const db = getStore().db;
    const agent: Actor = { kind: 'apitoken', name: 'vpn', role: 'agent' };
    const answer = (passcode: string, state?: string) => ({
      username: 'batch-pin',
      passcode,
      channel: 'rest' as const,
      ...(state ? { state } : {}),
    });
    const asked = await tally.services.authentication.verify(agent, answer(await codeAhead(0, 'BATCH-3')));
    assert.equal(asked.result, 'challenge');
    const confirm = await tally.services.authentication.verify(agent, answer('4826', asked.result === 'challenge' ? asked.state : ''));
    assert.equal(confirm.result, 'challenge');
    const confirmState = confirm.result === 'challenge' ? confirm.state : '';
    await assert.rejects(failingAuthentication().verify(agent, answer('4826', confirmState)), /the audit insert failed/);
    const row = await db
      .selectFrom('tokens')
      .select(['pin_hash', 'new_pin_required'])
      .where('serial', '=', 'BATCH-3')
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { pin_hash: null, new_pin_required: 1 }, 'no PIN is set');

    // The challenge was taken all the same (one answer each): answering it again is refused, and that failure is counted once it commits.
    assert.deepEqual(await tally.services.authentication.verify(agent, answer('4826', confirmState)), {
      result: 'reject',
      message: 'Access denied.',
    });
    const user = await db.selectFrom('users').select('failed_logons').where('username', '=', 'batch-pin').executeTakeFirstOrThrow();
    assert.equal(user.failed_logons, 1);
  });
});
