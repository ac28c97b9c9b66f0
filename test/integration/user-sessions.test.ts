import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { describeEachStore } from '../support/store.js';
import { createTestTally, type TestTally } from '../support/tally.js';
import { systemActor, type Actor } from '../../src/domain/actor.js';

describeEachStore('sessions end when credentials change', (getStore) => {
  let tally: TestTally;
  before(async () => {
    tally = await createTestTally(getStore());
    await tally.services.users.create(systemActor, { username: 'pia', password: 'first-password-1' });
  });
  after(async () => tally.close());

  const pia: Actor = { kind: 'user', name: 'pia', role: 'user' };

  test('a new password ends the sessions opened with the old one; other changes do not', async () => {
    const { id } = await tally.services.sessions.start(pia, 'self-service');
    await tally.services.users.update(systemActor, 'pia', { firstName: 'Pia' });
    assert.ok(await tally.services.sessions.resume(id, 'self-service'), 'a name change keeps the session');
    await tally.services.users.update(systemActor, 'pia', { password: 'second-password-2' });
    assert.equal(await tally.services.sessions.resume(id, 'self-service'), null);
  });
});
