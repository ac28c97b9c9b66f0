import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { openStore } from '../../src/store/connect.js';
import { AuthenticationRepository } from '../../src/store/repositories/authentication.js';
import { ChallengeRepository } from '../../src/store/repositories/challenges.js';
import { describeEachStore, insertTokenRow } from '../support/store.js';

const NOW = 1_800_000_000_000;

/**
 * The one-time operations of authentication outside its batches, each claimed in the database so
 * that of two nodes racing for it exactly one wins: a challenge's answer, a PIN change, a loss report.
 */
describeEachStore('authentication claims outside the batch', (getStore, getHandle) => {
  let tokenId: number;

  before(async () => {
    const row = await insertTokenRow(getStore().db, NOW, { serial: 'CH-0001', state: 'active' });
    tokenId = row.id;
  });

  test('a challenge is taken by one of two nodes answering it at once; the other finds it gone', async (t) => {
    const otherNode = await openStore(getHandle().options);
    t.after(() => otherNode.close());
    const here = new ChallengeRepository(getStore().db);
    const there = new ChallengeRepository(otherNode.db);
    await here.issueAll([{ state: 'race-1', tokenId, kind: 'new-pin', data: null, expiresAt: NOW + 60_000, attempts: 2 }], NOW);
    const seen = await there.find('race-1', NOW);
    assert.equal(seen?.kind, 'new-pin');
    assert.equal(seen?.attempts, 2);
    const taken = await Promise.all([here.take('race-1'), there.take('race-1')]);
    assert.deepEqual([...taken].sort(), [false, true]);
    assert.equal(await here.find('race-1', NOW), undefined);
    assert.equal(await here.take('race-1'), false, 'a challenge is answered once');
  });

  test('an expired challenge is not found, and issuing another drops it', async () => {
    const challenges = new ChallengeRepository(getStore().db);
    await challenges.issueAll([{ state: 'old-1', tokenId, kind: 'next-code', data: '7', expiresAt: NOW + 1_000, attempts: 0 }], NOW);
    assert.equal((await challenges.find('old-1', NOW))?.data, '7');
    assert.equal(await challenges.find('old-1', NOW + 1_000), undefined);
    await challenges.issueAll(
      [{ state: 'new-1', tokenId, kind: 'next-code', data: '8', expiresAt: NOW + 60_000, attempts: 0 }],
      NOW + 2_000,
    );
    const left = await getStore().db.selectFrom('auth_challenges').select('state').where('state', 'in', ['old-1', 'new-1']).execute();
    assert.deepEqual(
      left.map((row) => row.state),
      ['new-1'],
    );
  });

  test('a PIN is replaced only over the PIN that was checked: of two changes racing, one wins', async () => {
    const repository = new AuthenticationRepository(getStore().db);
    assert.equal(await repository.replacePin(tokenId, null, 'hash-a', NOW), true);
    const results = await Promise.all([
      repository.replacePin(tokenId, 'hash-a', 'hash-b', NOW),
      repository.replacePin(tokenId, 'hash-a', 'hash-c', NOW),
    ]);
    assert.deepEqual([...results].sort(), [false, true]);
    assert.equal(await repository.replacePin(tokenId, null, 'hash-d', NOW), false, 'a token with a PIN is not treated as one without');
  });

  test('a token is reported lost once from the state it was read in; a one-time emergency code is used once', async () => {
    const repository = new AuthenticationRepository(getStore().db);
    const emergency = { hash: 'emergency-hash', expiresAt: NOW + 86_400_000, oneTime: true };
    const reports = await Promise.all([
      repository.reportLost(tokenId, 'active', emergency, NOW),
      repository.reportLost(tokenId, 'active', emergency, NOW),
    ]);
    assert.deepEqual([...reports].sort(), [false, true]);
    const lost = await getStore().db.selectFrom('tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
    assert.deepEqual(
      [lost?.state, lost?.disabled_reason, lost?.emergency_hash, lost?.emergency_one_time],
      ['disabled', 'lost', 'emergency-hash', 1],
    );
    assert.ok(lost);
    // Two nodes, each with the row as it read it, a wrong passcode counted against it before.
    const rows = [
      { ...lost, failed_count: 2 },
      { ...lost, failed_count: 2 },
    ];
    const uses = await Promise.all(rows.map((row) => repository.useEmergencyCodes([row])));
    assert.deepEqual(uses.map((used) => used.has(tokenId)).sort(), [false, true]);
    const winner = rows[uses.findIndex((used) => used.has(tokenId))];
    assert.deepEqual([winner?.emergency_hash, winner?.failed_count], [null, 0], 'the winning row is updated to match the store');
    assert.equal((await getStore().db.selectFrom('tokens').selectAll().where('id', '=', tokenId).executeTakeFirst())?.emergency_hash, null);
  });
});
