import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Store } from '../../src/store/connect.js';
import { DistributionRepository } from '../../src/store/repositories/distributions.js';
import { TokenRepository, type TokenRow } from '../../src/store/repositories/tokens.js';
import { UserRepository } from '../../src/store/repositories/users.js';
import { UnitOfWork } from '../../src/store/unit-of-work.js';
import { repoRoot } from '../support/cli.js';
import { describeEachStore, insertTokenRow } from '../support/store.js';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;
let serials = 0;

async function newToken(store: Store, username?: string): Promise<TokenRow> {
  const user =
    username === undefined
      ? undefined
      : await new UserRepository(store.db).insert({
          username,
          passwordHash: null,
          email: null,
          firstName: null,
          lastName: null,
          role: 'user',
          now: NOW,
        });
  return insertTokenRow(store.db, NOW, { serial: `R${String(++serials).padStart(8, '0')}`, user_id: user?.id ?? null });
}

function openFile(repo: DistributionRepository, tokenId: number, expiresAt = NOW + DAY): Promise<number> {
  return repo.open({ tokenId, delivery: 'file', redeemedAt: null, expiresAt, createdBy: 'admin', now: NOW });
}

describeEachStore('distribution repository', (getStore) => {
  test('claimDownload: of two racing claims exactly one gets the row, and only while it is open and unexpired', async () => {
    const repo = new DistributionRepository(getStore().db);
    const token = await newToken(getStore());
    const id = await openFile(repo, token.id);
    const claims = await Promise.all([repo.claimDownload(id, NOW), repo.claimDownload(id, NOW)]);
    const won = claims.filter((row) => row !== undefined);
    assert.equal(won.length, 1);
    assert.equal(won[0]?.id, id);
    assert.equal(won[0]?.state, 'redeemed');
    assert.equal(won[0]?.redeemed_at, NOW);
    assert.equal(await repo.claimDownload(id, NOW), undefined);

    const expiring = await openFile(repo, token.id, NOW + 1000);
    assert.equal(await repo.claimDownload(expiring, NOW + 1000), undefined, 'expired at expires_at');
    assert.equal((await repo.claimDownload(expiring, NOW + 999))?.id, expiring);
  });

  test('redeem and replaceDownloadLink win only on an open distribution', async () => {
    const repo = new DistributionRepository(getStore().db);
    const token = await newToken(getStore());
    const id = await openFile(repo, token.id);
    assert.equal(await repo.replaceDownloadLink(id, 'a'.repeat(64), 'sealed-a'), true);
    assert.deepEqual(await repo.findOpenDownload('a'.repeat(64), NOW), { expires_at: NOW + DAY });
    assert.equal(await repo.findOpenDownload('a'.repeat(64), NOW + DAY), undefined, 'not once expired');
    assert.deepEqual(await repo.findDownload('a'.repeat(64)), { id, serial: token.serial });
    assert.equal(await repo.redeem(id, NOW), true);
    const redeemed = await getStore()
      .db.selectFrom('distributions')
      .select('credential_sealed')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(redeemed.credential_sealed, null, 'a used link is no longer kept to be shown');
    assert.equal(await repo.redeem(id, NOW), false);
    assert.equal(await repo.replaceDownloadLink(id, 'b'.repeat(64), 'sealed-b'), false);
    assert.equal(await repo.findOpenDownload('a'.repeat(64), NOW), undefined);
    assert.deepEqual(await repo.findDownload('a'.repeat(64)), { id, serial: token.serial }, 'a used link is still found, to say so');
    assert.equal(await repo.findOpenFileForToken(token.id), undefined);
  });

  test('supersedeOpen closes only the open distributions of that token and frees their locators', async () => {
    const repo = new DistributionRepository(getStore().db);
    const token = await newToken(getStore());
    const other = await newToken(getStore());
    const redeemed = await repo.open({
      tokenId: token.id,
      delivery: 'ctf',
      redeemedAt: NOW,
      expiresAt: NOW + DAY,
      createdBy: 'a',
      now: NOW,
    });
    const first = await openFile(repo, token.id);
    const second = await repo.open({
      tokenId: token.id,
      delivery: 'ctkip',
      redeemedAt: null,
      expiresAt: NOW + DAY,
      createdBy: 'a',
      now: NOW,
    });
    const others = await openFile(repo, other.id);
    assert.equal(await repo.setActivationCode(second, '91234', 'hash', 'sealed-hash'), true);
    assert.equal((await repo.findOpenForToken(token.id))?.id, second, 'the newest open one');
    assert.equal(await repo.findOpenFileForToken(token.id), first);

    await repo.supersedeOpen(token.id);
    assert.equal(await repo.findOpenForToken(token.id), undefined);
    assert.equal(await repo.locatorTaken('91234'), false, 'a superseded code frees its locator');
    assert.equal(await repo.redeem(first, NOW), false);
    assert.equal(await repo.redeem(redeemed, NOW), false);
    assert.equal((await repo.findOpenForToken(other.id))?.id, others, "another token's distribution stays open");
  });

  test('activation codes: a locator in use is refused, wrong attempts count and a new code resets them', async () => {
    const repo = new DistributionRepository(getStore().db);
    const token = await newToken(getStore());
    const a = await repo.open({ tokenId: token.id, delivery: 'ctkip', redeemedAt: null, expiresAt: NOW + DAY, createdBy: 'a', now: NOW });
    const b = await repo.open({ tokenId: token.id, delivery: 'ctkip', redeemedAt: null, expiresAt: NOW + DAY, createdBy: 'a', now: NOW });
    assert.equal(await repo.setActivationCode(a, '55555', 'h1', 'sealed-h1'), true);
    assert.equal(await repo.locatorTaken('55555'), true);
    assert.equal(await repo.setActivationCode(b, '55555', 'h2', 'sealed-h2'), false);
    await repo.countFailedAttempt(a);
    await Promise.all([repo.countFailedAttempt(a), repo.countFailedAttempt(a)]);
    assert.equal((await repo.findOpenForToken(token.id))?.id, b);
    const before = await getStore().db.selectFrom('distributions').select('failed_attempts').where('id', '=', a).executeTakeFirstOrThrow();
    assert.equal(before.failed_attempts, 3);
    assert.equal(await repo.setActivationCode(a, '55556', 'h3', 'sealed-h3'), true);
    const after = await getStore()
      .db.selectFrom('distributions')
      .select(['failed_attempts', 'locator', 'secret_hash'])
      .where('id', '=', a)
      .executeTakeFirstOrThrow();
    assert.deepEqual(after, { failed_attempts: 0, locator: '55556', secret_hash: 'h3' });
  });

  test("the token repository finds a token's holder, activates a pending token once and drops its challenges", async () => {
    const tokens = new TokenRepository(getStore().db);
    const held = await newToken(getStore(), 'holder-of-one');
    const loose = await newToken(getStore());
    assert.equal((await tokens.holderOf(held))?.username, 'holder-of-one');
    assert.equal(await tokens.holderOf(loose), undefined);
    assert.equal((await tokens.getById(held.id)).serial, held.serial);
    assert.equal(await tokens.activate(held.serial, NOW + 5, { last_step: 7, counter: 8 }), true);
    assert.equal(await tokens.activate(held.serial, NOW + 6), false, 'only a pending token is activated');
    const active = await tokens.getById(held.id);
    assert.deepEqual(
      { state: active.state, activated_at: active.activated_at, last_step: active.last_step, counter: active.counter },
      { state: 'active', activated_at: NOW + 5, last_step: 7, counter: 8 },
    );
    const db = getStore().db;
    for (const [state, token] of [
      ['s-held', held],
      ['s-loose', loose],
    ] as const)
      await db
        .insertInto('auth_challenges')
        .values({ state, token_id: token.id, kind: 'next-code', data: null, expires_at: NOW })
        .execute();
    await tokens.dropChallenges(held.id);
    const left = await db.selectFrom('auth_challenges').select('token_id').where('token_id', 'in', [held.id, loose.id]).execute();
    assert.deepEqual(left, [{ token_id: loose.id }]);
  });

  test('a unit of work commits what its callback wrote, and rolls all of it back when the callback throws', async () => {
    const work = new UnitOfWork(getStore().db);
    const token = await newToken(getStore());
    const kept = await work.transaction((repos) => openFile(repos.distributions, token.id));
    await assert.rejects(
      work.transaction(async (repos) => {
        await repos.distributions.supersedeOpen(token.id);
        await openFile(repos.distributions, token.id);
        throw new Error('stop');
      }),
      /stop/,
    );
    assert.equal((await work.repositories.distributions.findOpenForToken(token.id))?.id, kept);
  });
});

test('the distribution service asks repositories and a unit of work: no query builder, no transaction of its own', () => {
  const source = readFileSync(join(repoRoot, 'src/domain/distribution.ts'), 'utf8');
  const calls = [...source.matchAll(/\.(?:selectFrom|updateTable|insertInto|deleteFrom)\(|\.transaction\(\)/g)].map((m) => m[0]);
  assert.deepEqual(calls, []);
});
