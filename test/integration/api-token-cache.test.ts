import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { systemActor } from '../../src/domain/actor.js';
import { API_TOKEN_RECHECK_MS } from '../../src/domain/api-tokens.js';
import { createServices, DEFAULT_SERVICE_OPTIONS, type Services } from '../../src/domain/services.js';
import { isTallyError } from '../../src/errors.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';

/** The error code a bearer token gets from a node, or 'ok'. */
async function outcome(services: Services, token: string): Promise<string> {
  try {
    await services.apiTokens.authenticate(token, '127.0.0.1');
    return 'ok';
  } catch (error) {
    if (isTallyError(error)) return error.code;
    throw error;
  }
}

describeEachStore('API tokens verified once per interval', (getStore) => {
  let tally: TestTally;
  /** A second node: services of its own (and so its own verified tokens) over the same store. */
  let otherNode: Services;
  before(async () => {
    tally = await createTestTally(getStore());
    otherNode = createServices(getStore(), tally.keyring, tally.clock, DEFAULT_SERVICE_OPTIONS);
  });
  after(() => tally.close());

  async function newAgentToken(name: string): Promise<{ token: string; id: number }> {
    const { token } = await tally.services.apiTokens.create(systemActor, { name, role: 'agent' });
    const listed = await tally.services.apiTokens.list(systemActor);
    return { token, id: listed.find((t) => t.name === name)!.id };
  }

  test('a token revoked on one node is refused there at once, and on another node once its recheck interval has passed', async () => {
    const { token, id } = await newAgentToken('cached-agent');
    assert.equal(await outcome(tally.services, token), 'ok');
    assert.equal(await outcome(otherNode, token), 'ok');

    await tally.services.apiTokens.revoke(systemActor, id);
    assert.equal(await outcome(tally.services, token), 'UNAUTHENTICATED');
    // The other node trusts what it verified until the interval ends: the documented bound.
    assert.equal(await outcome(otherNode, token), 'ok');
    tally.clock.ms += API_TOKEN_RECHECK_MS;
    assert.equal(await outcome(otherNode, token), 'UNAUTHENTICATED');
  });

  test('a node asks the store again when its clock steps back past the time it verified a token', async () => {
    const { token, id } = await newAgentToken('stepped-agent');
    assert.equal(await outcome(otherNode, token), 'ok');
    await tally.services.apiTokens.revoke(systemActor, id);
    tally.clock.ms -= 1_000;
    assert.equal(await outcome(otherNode, token), 'UNAUTHENTICATED');
    tally.clock.ms += 1_000;
  });

  test('a wrong token is refused every time, and a refused look-up leaves nothing trusted', async () => {
    const wrong = `tly_${'x'.repeat(43)}`;
    assert.equal(await outcome(tally.services, wrong), 'UNAUTHENTICATED');
    assert.equal(await outcome(tally.services, wrong), 'UNAUTHENTICATED');
    assert.equal(await outcome(tally.services, 'not-a-tally-token'), 'UNAUTHENTICATED');
  });

  test('a REST request with a token revoked over REST is answered 401 by the same node', async () => {
    const { token, id } = await newAgentToken('rest-revoked-agent');
    const verify = () =>
      tally.admin.inject({
        method: 'POST',
        url: '/api/v1/auth/verify',
        headers: bearer(token),
        payload: { username: 'nobody-here', passcode: '123456' },
      });
    assert.equal((await verify()).statusCode, 200);
    const revoked = await tally.admin.inject({
      method: 'POST',
      url: `/api/v1/apitokens/${id}/revoke`,
      headers: bearer(tally.tokens.superadmin),
    });
    assert.equal(revoked.statusCode, 200);
    const refused = await verify();
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().error.code, 'UNAUTHENTICATED');
  });

  test('the last use of a token is recorded at most once a minute, trusted or looked up', async () => {
    const { token } = await newAgentToken('touched-agent');
    const lastUsed = async () => (await tally.services.apiTokens.list(systemActor)).find((t) => t.name === 'touched-agent')!.lastUsedAt;
    const firstUse = tally.clock.ms;
    assert.equal(await outcome(tally.services, token), 'ok');
    assert.equal(await lastUsed(), new Date(firstUse).toISOString());
    tally.clock.ms += 2_000;
    assert.equal(await outcome(tally.services, token), 'ok');
    assert.equal(await lastUsed(), new Date(firstUse).toISOString());
    tally.clock.ms += 60_000;
    assert.equal(await outcome(tally.services, token), 'ok');
    assert.equal(await lastUsed(), new Date(tally.clock.ms).toISOString());
  });
});
