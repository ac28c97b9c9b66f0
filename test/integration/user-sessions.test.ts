import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Actor, systemActor } from '../../src/domain/actor.js';
import { describeEachStore } from '../support/store.js';
import { createTestTally, type TestTally } from '../support/tally.js';

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

  test('a log-on with a name no user can have (a NUL, overlong) is refused like a wrong password, and audited', async () => {
    for (const username of ['pi\u0000a', 'p'.repeat(300)]) {
      await assert.rejects(tally.services.users.logOn({ username, password: 'second-password-2', console: 'self-service' }), {
        code: 'INVALID_CREDENTIALS',
      });
    }
    const events = await tally.services.audit.list(systemActor, { action: 'logon.self-service', result: 'failure', limit: 10 });
    assert.ok(events.some((e) => e.target === 'pi\\u0000a'));
  });
});
