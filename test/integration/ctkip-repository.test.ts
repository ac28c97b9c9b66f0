import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CtkipRepository } from '../../src/store/repositories/ctkip.js';
import { describeEachStore, insertTokenRow } from '../support/store.js';

// The CT-KIP repository's claims on both dialects: each one-time step is won by exactly one caller.

const NOW = 1_700_000_000_000;

describeEachStore('CT-KIP repository', (getStore) => {
  let next = 0;

  /** A pending SecurID token with an open CT-KIP distribution under a fresh locator. */
  async function pendingActivation(): Promise<{
    tokenId: number;
    distributionId: number;
    serial: string;
    locator: string;
    secretHash: string;
  }> {
    next += 1;
    const serial = String(100_000_000_000 + next);
    const locator = String(10_000 + next);
    const db = getStore().db;
    const token = await insertTokenRow(db, NOW, { serial, token_type: 'securid', digits: 8, period: 60, algorithm: 'AES128' });
    const distribution = await db
      .insertInto('distributions')
      .values({
        token_id: token.id,
        delivery: 'ctkip',
        state: 'open',
        locator,
        secret_hash: `hash-${next}`,
        file_password_sealed: null,
        expires_at: NOW + 60_000,
        created_by: 'test',
        created_at: NOW,
        redeemed_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { tokenId: token.id, distributionId: distribution.id, serial, locator, secretHash: `hash-${next}` };
  }

  async function openSession(repository: CtkipRepository, distributionId: number, sessionId: string, keyId: number): Promise<void> {
    await repository.openSession({
      session_id: sessionId,
      distribution_id: distributionId,
      server_nonce: '00'.repeat(16),
      key_id: keyId,
      created_at: NOW,
      expires_at: NOW + 600_000,
    });
  }

  test('server keys: the sealed value is bound to the new id; rotation retires only older keys', async () => {
    const repository = new CtkipRepository(getStore().db);
    const first = await repository.insertServerKey(NOW, (id) => `sealed-for-${id}`);
    assert.deepEqual(await repository.currentServerKey(), { id: first, sealed: `sealed-for-${first}` });
    const second = await repository.insertServerKey(NOW, (id) => `sealed-for-${id}`);
    const third = await repository.insertServerKey(NOW, (id) => `sealed-for-${id}`);
    // Two nodes rotating at once: the later retirement must not retire the newer key.
    await repository.retireServerKeysBefore(third, NOW);
    await repository.retireServerKeysBefore(second, NOW);
    assert.deepEqual(await repository.currentServerKey(), { id: third, sealed: `sealed-for-${third}` });
    const retired = await getStore().db.selectFrom('ctkip_server_keys').select('id').where('retired_at', 'is not', null).execute();
    assert.deepEqual(
      retired.map((row) => row.id).sort((a, b) => a - b),
      [first, second],
    );
    // A retired key is still found by id: an exchange finishes with the key it started with.
    assert.equal((await repository.serverKey(first))?.sealed, `sealed-for-${first}`);
    assert.equal(await repository.serverKey(third + 1000), undefined);
  });

  test('activation codes: found by locator while open; wrong codes counted and reset', async () => {
    const repository = new CtkipRepository(getStore().db);
    const activation = await pendingActivation();
    const found = await repository.findOpenByLocator(activation.locator);
    assert.deepEqual(found, {
      distributionId: activation.distributionId,
      secretHash: activation.secretHash,
      failedAttempts: 0,
      expiresAt: NOW + 60_000,
      serial: activation.serial,
      tokenState: 'pending',
      tokenType: 'securid',
    });
    await Promise.all([repository.countWrongCode(activation.distributionId), repository.countWrongCode(activation.distributionId)]);
    assert.equal((await repository.findOpenByLocator(activation.locator))?.failedAttempts, 2);
    await repository.resetWrongCodes(activation.tokenId);
    assert.equal((await repository.findOpenByLocator(activation.locator))?.failedAttempts, 0);
    assert.equal(await repository.findOpenByLocator('99999'), undefined);
  });

  test('sessions: found only for their distribution and until they expire; ended one by one', async () => {
    const repository = new CtkipRepository(getStore().db);
    const keyId = await repository.insertServerKey(NOW, () => 'sealed');
    const a = await pendingActivation();
    const b = await pendingActivation();
    const sessionId = `session-${a.distributionId}`;
    await openSession(repository, a.distributionId, sessionId, keyId);
    assert.equal((await repository.findSession(sessionId, a.distributionId, NOW))?.key_id, keyId);
    assert.equal(await repository.findSession(sessionId, b.distributionId, NOW), undefined);
    assert.equal(await repository.findSession(sessionId, a.distributionId, NOW + 600_000), undefined);
    await repository.endSession(sessionId);
    assert.equal(await repository.findSession(sessionId, a.distributionId, NOW), undefined);
  });

  test('redeem: of two racing claims exactly one wins; the loser writes nothing; a changed code does not redeem', async () => {
    const repository = new CtkipRepository(getStore().db);
    const keyId = await repository.insertServerKey(NOW, () => 'sealed');
    const activation = await pendingActivation();
    await openSession(repository, activation.distributionId, `race-${activation.distributionId}`, keyId);
    const claim = (seed: string) =>
      repository.redeem({
        distributionId: activation.distributionId,
        secretHash: activation.secretHash,
        serial: activation.serial,
        token: { seed_sealed: seed, state: 'active', activated_at: NOW, updated_at: NOW },
        now: NOW,
      });
    const results = await Promise.all([claim('seed-1'), claim('seed-2')]);
    assert.deepEqual(
      results.filter((won) => won),
      [true],
    );
    const db = getStore().db;
    const token = await db
      .selectFrom('tokens')
      .select(['state', 'seed_sealed'])
      .where('id', '=', activation.tokenId)
      .executeTakeFirstOrThrow();
    assert.equal(token.state, 'active');
    assert.equal(token.seed_sealed, results[0] ? 'seed-1' : 'seed-2');
    const distribution = await db
      .selectFrom('distributions')
      .selectAll()
      .where('id', '=', activation.distributionId)
      .executeTakeFirstOrThrow();
    assert.equal(distribution.state, 'redeemed');
    assert.equal(distribution.locator, null);
    assert.equal(await repository.findSession(`race-${activation.distributionId}`, activation.distributionId, NOW), undefined);

    const reissued = await pendingActivation();
    const wrongHash = await repository.redeem({
      distributionId: reissued.distributionId,
      secretHash: 'an older code',
      serial: reissued.serial,
      token: { state: 'active' },
      now: NOW,
    });
    assert.equal(wrongHash, false);
    assert.equal((await repository.findOpenByLocator(reissued.locator))?.tokenState, 'pending');
  });

  test('redeem rolls back the distribution when its token is no longer pending', async () => {
    const repository = new CtkipRepository(getStore().db);
    const activation = await pendingActivation();
    const db = getStore().db;
    await db.updateTable('tokens').set({ state: 'disabled' }).where('id', '=', activation.tokenId).execute();
    const won = await repository.redeem({
      distributionId: activation.distributionId,
      secretHash: activation.secretHash,
      serial: activation.serial,
      token: { state: 'active' },
      now: NOW,
    });
    assert.equal(won, false);
    const distribution = await db
      .selectFrom('distributions')
      .selectAll()
      .where('id', '=', activation.distributionId)
      .executeTakeFirstOrThrow();
    assert.equal(distribution.state, 'open');
    assert.equal(distribution.locator, activation.locator);
  });
});
