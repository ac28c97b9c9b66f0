import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { signRequest } from '../../src/core/rsa-authn/signature.js';
import { writeSdtid } from '../../src/core/securid/index.js';
import { systemActor } from '../../src/domain/actor.js';
import { buildAuthnApiApp } from '../../src/http/authn-api/app.js';
import { createLogger } from '../../src/logger.js';
import { tokenType } from '../../src/tokens/registry.js';
import { describeEachStore } from '../support/store.js';
import { bearer, createTestTally, type TestTally } from '../support/tally.js';
import { securIdTestToken } from '../support/tokens.js';

const BASE = '/mfa/v1_1/authn';

describeEachStore('RSA SecurID Authentication API', (getStore) => {
  let tally: TestTally;
  let listener: FastifyInstance;
  let accessKey: string;
  before(async () => {
    tally = await createTestTally(getStore());
    listener = await buildAuthnApiApp(tally.services, { logger: createLogger('silent') });
    const api = (url: string, payload: object) =>
      tally.admin.inject({ method: 'POST', url, headers: bearer(tally.tokens.superadmin), payload });
    for (const username of ['plain-user', 'next-user', 'pin-user', 'lost-user', 'slow-user', 'gen-user'])
      assert.equal((await api('/api/v1/users', { username })).statusCode, 201);
    const tokens = [
      securIdTestToken('411111111111', false),
      securIdTestToken('422222222222', false),
      securIdTestToken('433333333333', true),
      securIdTestToken('444444444444', false),
      securIdTestToken('455555555555', false),
      securIdTestToken('466666666666', false),
    ];
    assert.equal((await api('/api/v1/tokens/import', { file: Buffer.from(writeSdtid(tokens)).toString('base64') })).json().imported, 6);
    for (const [serial, username] of [
      ['411111111111', 'plain-user'],
      ['422222222222', 'next-user'],
      ['433333333333', 'pin-user'],
      ['444444444444', 'lost-user'],
      ['455555555555', 'slow-user'],
      ['466666666666', 'gen-user'],
    ] as const)
      assert.equal((await api(`/api/v1/tokens/${serial}/assign`, { username })).json().state, 'active');
    const agent = await api('/api/v1/authn-agents', { name: 'vpn-agent' });
    assert.equal(agent.statusCode, 201);
    accessKey = agent.json().accessKey;
    assert.match(accessKey, /^tla_[\w-]{43}$/);
  });
  after(async () => {
    await listener.close();
    await tally.close();
  });

  async function code(serial: string, offsetSteps = 0): Promise<string> {
    const row = await getStore().db.selectFrom('tokens').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow();
    const type = tokenType(row.token_type);
    return type.codeAt(tally.services.tokens.material(row), Math.floor(tally.clock.now() / 1000 / row.period) + offsetSteps);
  }
  const post = (call: string, payload: unknown, key = accessKey) =>
    listener.inject({ method: 'POST', url: `${BASE}/${call}`, headers: { 'client-key': key }, payload: payload as object });
  const credential = (methodId: string, value: string) => [{ methodId, collectedInputs: [{ name: methodId, value }] }];
  const initialize = (subjectName: string, messageId: string, passcode?: string) =>
    post('initialize', {
      clientId: 'vpn-agent',
      subjectName,
      ...(passcode ? { subjectCredentials: credential('SECURID', passcode) } : {}),
      context: { authnAttemptId: '', messageId, inResponseTo: '' },
      keepAttempt: false,
    });
  const verify = (context: { authnAttemptId: string; messageId: string }, messageId: string, methodId: string, value: string) =>
    post('verify', {
      clientId: 'vpn-agent',
      subjectCredentials: credential(methodId, value),
      context: { authnAttemptId: context.authnAttemptId, messageId, inResponseTo: context.messageId },
    });

  test('initialize without credentials → CHALLENGE for a SECURID passcode; verify with it → SUCCESS, field by field', async () => {
    tally.clock.advance(60);
    const challenge = await initialize('plain-user', 'agent-1');
    assert.equal(challenge.statusCode, 200);
    const body = challenge.json();
    assert.equal(body.context.inResponseTo, 'agent-1');
    assert.match(body.context.authnAttemptId, /^[0-9a-f]{32}$/);
    assert.match(body.context.messageId, /^[0-9a-f]{32}$/);
    assert.equal(body.attemptResponseCode, 'CHALLENGE');
    assert.equal(body.attemptReasonCode, 'AUTHENTICATION_REQUIRED');
    assert.deepEqual(body.credentialValidationResults, []);
    const [method] = body.challengeMethods.challenges[0].requiredMethods;
    assert.equal(method.methodId, 'SECURID');
    assert.equal(method.versions[0].versionId, '1.0.0');
    assert.equal(method.versions[0].valueRequired, true);
    assert.equal(method.versions[0].prompt.promptResourceId, 'SecurID.Resource.Prompt.Passcode');
    assert.equal(method.versions[0].prompt.defaultText, 'Enter passcode:');
    assert.equal(method.versions[0].prompt.sensitive, true);

    const success = await verify(body.context, 'agent-2', 'SECURID', await code('411111111111'));
    assert.equal(success.statusCode, 200);
    const done = success.json();
    assert.deepEqual(done.context, {
      authnAttemptId: body.context.authnAttemptId,
      messageId: done.context.messageId,
      inResponseTo: 'agent-2',
    });
    assert.notEqual(done.context.messageId, body.context.messageId);
    assert.equal(done.attemptResponseCode, 'SUCCESS');
    assert.deepEqual(done.credentialValidationResults, [
      { methodId: 'SECURID', methodResponseCode: 'SUCCESS', methodReasonCode: null, authnAttributes: [] },
    ]);
    assert.equal(done.challengeMethods, null);

    const again = await verify(done.context, 'agent-3', 'SECURID', await code('411111111111', 1));
    assert.equal(again.statusCode, 400, 'a finished attempt cannot be continued');
    assert.deepEqual(again.json(), { attemptResponseCode: 'FAIL', attemptReasonCode: 'ATTEMPT_NOT_CONTINUABLE' });
    const events = await tally.services.audit.list(systemActor, { action: 'auth.authn-api', limit: 5 });
    assert.equal(events[0]?.actor, 'vpn-agent');
    assert.equal(events[0]?.result, 'success');
  });

  /** The challenge body as RSA's knowledge base prints it, for one method and its prompt. */
  const printedChallenge = (methodId: string, promptResourceId: string, defaultText: string) => ({
    challenges: [
      {
        methodSetId: null,
        requiredMethods: [
          {
            methodId,
            priority: null,
            versions: [
              {
                versionId: '1.0.0',
                methodAttributes: [],
                valueRequired: true,
                referenceId: null,
                prompt: {
                  promptResourceId,
                  defaultText,
                  formatRegex: null,
                  defaultValue: null,
                  valueBeingDefined: false,
                  sensitive: true,
                  minLength: null,
                  maxLength: null,
                  promptArgs: [],
                },
              },
            ],
          },
        ],
      },
    ],
  });

  test("replayed as RSA's articles print them: initialize (empty attempt id) → CHALLENGE; verify → SUCCESS, every field", async () => {
    tally.clock.advance(60);
    const request = {
      clientId: 'vpn-agent',
      subjectName: 'plain-user',
      context: { authnAttemptId: '', messageId: 'test4726375261635', inResponseTo: '' },
    };
    const challenge = await listener.inject({
      method: 'POST',
      url: `${BASE}/initialize`,
      headers: { 'client-key': accessKey, 'content-type': 'application/json' },
      payload: JSON.stringify(request),
    });
    const body = challenge.json();
    assert.deepEqual(body, {
      context: { authnAttemptId: body.context.authnAttemptId, messageId: body.context.messageId, inResponseTo: 'test4726375261635' },
      credentialValidationResults: [],
      attemptResponseCode: 'CHALLENGE',
      attemptReasonCode: 'AUTHENTICATION_REQUIRED',
      challengeMethods: printedChallenge('SECURID', 'SecurID.Resource.Prompt.Passcode', 'Enter passcode:'),
    });
    const answer = {
      subjectCredentials: [{ methodId: 'SECURID', collectedInputs: [{ name: 'SECURID', value: await code('411111111111') }] }],
      context: { authnAttemptId: body.context.authnAttemptId, messageId: 'test7177617189202', inResponseTo: body.context.messageId },
    };
    // As the article prints it, without clientId: the access key names the agent.
    const done = (await post('verify', answer)).json();
    assert.deepEqual(done, {
      context: { authnAttemptId: body.context.authnAttemptId, messageId: done.context.messageId, inResponseTo: 'test7177617189202' },
      credentialValidationResults: [{ methodId: 'SECURID', methodResponseCode: 'SUCCESS', methodReasonCode: null, authnAttributes: [] }],
      attemptResponseCode: 'SUCCESS',
      attemptReasonCode: 'CREDENTIAL_VERIFIED',
      challengeMethods: null,
    });
  });

  test("replayed as RSA's on-demand article prints it: initialize with the SECURID credential → next tokencode CHALLENGE; verify with subjectName → SUCCESS", async () => {
    tally.clock.advance(60);
    await getStore().db.updateTable('tokens').set({ next_code_required: 1 }).where('serial', '=', '455555555555').execute();
    const first = (
      await post('initialize', {
        clientId: 'vpn-agent',
        subjectName: 'slow-user',
        subjectCredentials: [{ methodId: 'SECURID', collectedInputs: [{ name: 'SECURID', value: await code('455555555555') }] }],
        context: { authnAttemptId: '', messageId: 'test5213021196242', inResponseTo: '' },
      })
    ).json();
    assert.deepEqual(first, {
      context: { authnAttemptId: first.context.authnAttemptId, messageId: first.context.messageId, inResponseTo: 'test5213021196242' },
      credentialValidationResults: [{ methodId: 'SECURID', methodResponseCode: 'SUCCESS', methodReasonCode: null, authnAttributes: [] }],
      attemptResponseCode: 'CHALLENGE',
      attemptReasonCode: 'AUTHENTICATION_REQUIRED',
      challengeMethods: printedChallenge(
        'SECURID_NEXT_TOKENCODE',
        'SecurID.Resource.Prompt.Next.Tokencode',
        'Wait for the tokencode to change, then enter the new tokencode:',
      ),
    });
    const done = (
      await post('verify', {
        clientId: 'vpn-agent',
        subjectName: 'slow-user',
        subjectCredentials: [
          {
            methodId: 'SECURID_NEXT_TOKENCODE',
            collectedInputs: [{ name: 'SECURID_NEXT_TOKENCODE', value: await code('455555555555', 1) }],
          },
        ],
        context: { authnAttemptId: first.context.authnAttemptId, messageId: 'test-next-1', inResponseTo: first.context.messageId },
      })
    ).json();
    assert.equal(done.attemptResponseCode, 'SUCCESS');
    assert.deepEqual(done.credentialValidationResults, [
      { methodId: 'SECURID_NEXT_TOKENCODE', methodResponseCode: 'SUCCESS', methodReasonCode: null, authnAttributes: [] },
    ]);
  });

  test('initialize with a passcode answers at once; a wrong one FAILs and ends the attempt; a replayed one FAILs', async () => {
    tally.clock.advance(60);
    const passcode = await code('411111111111');
    const accepted = (await initialize('plain-user', 'a-1', passcode)).json();
    assert.equal(accepted.attemptResponseCode, 'SUCCESS');
    const replayed = (await initialize('plain-user', 'a-2', passcode)).json();
    assert.equal(replayed.attemptResponseCode, 'FAIL');
    assert.equal(replayed.attemptReasonCode, 'AUTHENTICATION_DENIED');
    assert.equal(replayed.credentialValidationResults[0].methodResponseCode, 'FAIL');
    const retried = await verify(replayed.context, 'a-3', 'SECURID', await code('411111111111', 1));
    assert.equal(retried.json().attemptReasonCode, 'ATTEMPT_NOT_CONTINUABLE');
  });

  test('a passcode outside the small window: SECURID SUCCESS but CHALLENGE for SECURID_NEXT_TOKENCODE; the next tokencode → SUCCESS', async () => {
    tally.clock.advance(60);
    const first = (await initialize('next-user', 'n-1', await code('422222222222', 4))).json();
    assert.equal(first.attemptResponseCode, 'CHALLENGE');
    assert.deepEqual(
      first.credentialValidationResults.map((r: { methodId: string; methodResponseCode: string }) => [r.methodId, r.methodResponseCode]),
      [['SECURID', 'SUCCESS']],
    );
    const [method] = first.challengeMethods.challenges[0].requiredMethods;
    assert.equal(method.methodId, 'SECURID_NEXT_TOKENCODE');
    assert.equal(method.versions[0].prompt.promptResourceId, 'SecurID.Resource.Prompt.Next.Tokencode');
    assert.equal(method.versions[0].prompt.defaultText, 'Wait for the tokencode to change, then enter the new tokencode:');
    const wrongMethod = (await verify(first.context, 'n-2', 'SECURID', await code('422222222222', 5))).json();
    assert.equal(wrongMethod.attemptResponseCode, 'CHALLENGE', 'another method than the one asked is asked for again');
    assert.equal(wrongMethod.challengeMethods.challenges[0].requiredMethods[0].methodId, 'SECURID_NEXT_TOKENCODE');
    const done = (await verify(wrongMethod.context, 'n-3', 'SECURID_NEXT_TOKENCODE', await code('422222222222', 5))).json();
    assert.equal(done.attemptResponseCode, 'SUCCESS');
    assert.equal(done.credentialValidationResults[0].methodId, 'SECURID_NEXT_TOKENCODE');
  });

  test('new PIN: tokencode → SECURID_NEW_PIN → SECURID_NEW_PIN_CONFIRM → SUCCESS', async () => {
    tally.clock.advance(60);
    const first = (await initialize('pin-user', 'p-1', await code('433333333333'))).json();
    assert.equal(first.attemptResponseCode, 'CHALLENGE');
    const ask = first.challengeMethods.challenges[0].requiredMethods[0];
    assert.equal(ask.methodId, 'SECURID_NEW_PIN');
    assert.equal(ask.versions[0].prompt.valueBeingDefined, true);
    assert.match(ask.versions[0].prompt.defaultText, /new PIN of 4 to 8 digits/);
    const weak = (await verify(first.context, 'p-2', 'SECURID_NEW_PIN', '1111')).json();
    assert.equal(weak.attemptResponseCode, 'CHALLENGE');
    assert.equal(weak.credentialValidationResults[0].methodResponseCode, 'FAIL', 'a PIN the policy refuses');
    assert.equal(weak.challengeMethods.challenges[0].requiredMethods[0].methodId, 'SECURID_NEW_PIN');
    const confirm = (await verify(weak.context, 'p-3', 'SECURID_NEW_PIN', '2580')).json();
    assert.equal(confirm.challengeMethods.challenges[0].requiredMethods[0].methodId, 'SECURID_NEW_PIN_CONFIRM');
    assert.equal(confirm.credentialValidationResults[0].methodResponseCode, 'SUCCESS');
    const done = (await verify(confirm.context, 'p-4', 'SECURID_NEW_PIN_CONFIRM', '2580')).json();
    assert.equal(done.attemptResponseCode, 'SUCCESS');
  });

  test('system-generated PIN: tokencode → SECURID_NEW_PIN_CONFIRM showing the PIN → entered back → SUCCESS; then PIN + tokencode', async () => {
    // The policy of a profile with pinGenerated, as its tokens keep it: 6 digits, generated by Tally.
    await getStore()
      .db.updateTable('tokens')
      .set({ pin_mode: 'required', new_pin_required: 1, pin_generated: 1, pin_min_length: 4, pin_max_length: 6 })
      .where('serial', '=', '466666666666')
      .execute();
    tally.clock.advance(60);
    const first = (await initialize('gen-user', 's-1', await code('466666666666'))).json();
    assert.equal(first.attemptResponseCode, 'CHALLENGE');
    assert.deepEqual(first.credentialValidationResults[0], {
      methodId: 'SECURID',
      methodResponseCode: 'SUCCESS',
      methodReasonCode: null,
      authnAttributes: [],
    });
    const [method] = first.challengeMethods.challenges[0].requiredMethods;
    assert.equal(method.methodId, 'SECURID_NEW_PIN_CONFIRM');
    const prompt = method.versions[0].prompt;
    assert.equal(prompt.promptResourceId, 'SecurID.Resource.Prompt.System.Generated.PIN');
    assert.match(prompt.defaultValue, /^\d{6}$/, "a PIN of the policy's longest length, digits");
    assert.deepEqual(prompt.promptArgs, [prompt.defaultValue]);
    assert.equal(prompt.defaultText, `Your new PIN is ${prompt.defaultValue}. Remember it, then enter it to continue:`);
    const pin: string = prompt.defaultValue;
    const stored = JSON.stringify(await getStore().db.selectFrom('authn_attempts').selectAll().execute());
    assert.ok(!stored.includes(pin), 'the generated PIN is not kept in the attempt');

    const asked = (await verify(first.context, 's-2', 'SECURID', '000000')).json();
    assert.equal(
      asked.challengeMethods.challenges[0].requiredMethods[0].versions[0].prompt.defaultText,
      'Enter the new PIN you were shown:',
    );
    const mistyped = (await verify(asked.context, 's-3', 'SECURID_NEW_PIN_CONFIRM', pin === '135790' ? '246801' : '135790')).json();
    assert.equal(mistyped.attemptResponseCode, 'CHALLENGE');
    assert.equal(mistyped.credentialValidationResults[0].methodResponseCode, 'FAIL');
    const shownAgain = mistyped.challengeMethods.challenges[0].requiredMethods[0].versions[0].prompt;
    assert.match(shownAgain.defaultText, /^That is not the PIN shown\. Your new PIN is \d{6}\./);
    const done = (await verify(mistyped.context, 's-4', 'SECURID_NEW_PIN_CONFIRM', shownAgain.defaultValue)).json();
    assert.equal(done.attemptResponseCode, 'SUCCESS');
    assert.equal(done.credentialValidationResults[0].methodId, 'SECURID_NEW_PIN_CONFIRM');

    tally.clock.advance(60);
    const withPin = (await initialize('gen-user', 's-5', shownAgain.defaultValue + (await code('466666666666')))).json();
    assert.equal(withPin.attemptResponseCode, 'SUCCESS', "the generated PIN is the token's PIN now");
  });

  test('system-generated PIN over REST verify: the challenge message shows the PIN; answering with it sets it', async () => {
    await getStore()
      .db.updateTable('tokens')
      .set({ new_pin_required: 1, pin_charset: 'alphanumeric', pin_max_length: 8 })
      .where('serial', '=', '466666666666')
      .execute();
    tally.clock.advance(60);
    const rest = (payload: object) =>
      tally.admin.inject({ method: 'POST', url: '/api/v1/auth/verify', headers: bearer(tally.tokens.superadmin), payload });
    const challenge = (await rest({ username: 'gen-user', passcode: await code('466666666666') })).json();
    assert.equal(challenge.result, 'challenge');
    assert.equal(challenge.prompt, 'confirm-pin');
    const pin = /Your new PIN is ([0-9A-Za-z]{8})\./.exec(challenge.message)?.[1] ?? assert.fail(challenge.message);
    const set = (await rest({ username: 'gen-user', passcode: pin, state: challenge.state })).json();
    assert.equal(set.result, 'accept');
    tally.clock.advance(60);
    assert.equal((await rest({ username: 'gen-user', passcode: pin + (await code('466666666666')) })).json().result, 'accept');
  });

  test('an emergency access code for a lost token is taken as the SECURID passcode, once', async () => {
    const lost = await tally.services.tokenAdmin.reportLost(systemActor, '444444444444', { emergency: 'one-time' });
    const emergencyCode = lost.emergencyCode ?? assert.fail('no emergency code');
    const accepted = (await initialize('lost-user', 'e-1', emergencyCode)).json();
    assert.equal(accepted.attemptResponseCode, 'SUCCESS');
    assert.equal((await initialize('lost-user', 'e-2', emergencyCode)).json().attemptResponseCode, 'FAIL', 'a one-time code works once');
  });

  test('wrong passcodes over the Authentication API lock the user out as over RADIUS and REST', async () => {
    for (let i = 0; i < 10; i++) await initialize('next-user', `l-${i}`, '00000000');
    tally.clock.advance(60);
    const right = (await initialize('next-user', 'l-right', await code('422222222222'))).json();
    assert.equal(right.attemptResponseCode, 'FAIL', 'a locked user is refused even with the right passcode');
    await tally.services.users.unlock(systemActor, 'next-user');
  });

  test('cancel ends an attempt; a request that does not answer the last message cannot continue it', async () => {
    const open = (await initialize('plain-user', 'c-1')).json();
    const stale = await verify({ ...open.context, messageId: 'not-the-last' }, 'c-2', 'SECURID', '12345678');
    assert.deepEqual(stale.json(), { attemptResponseCode: 'FAIL', attemptReasonCode: 'ATTEMPT_NOT_CONTINUABLE' });
    const cancelled = await post('cancel', {
      clientId: 'vpn-agent',
      context: { authnAttemptId: open.context.authnAttemptId, messageId: 'c-3', inResponseTo: open.context.messageId },
    });
    assert.equal(cancelled.statusCode, 200);
    assert.equal(cancelled.json().attemptReasonCode, 'ATTEMPT_CANCELLED');
    const after = await verify(cancelled.json().context, 'c-4', 'SECURID', '12345678');
    assert.equal(after.json().attemptReasonCode, 'ATTEMPT_NOT_CONTINUABLE');
  });

  test('a check that throws: the agent gets ERROR / SERVER_ERROR, and the same verify sent again goes on', async () => {
    tally.clock.advance(60);
    const open = (await initialize('plain-user', 'f-1')).json();
    const authentication = tally.services.authentication;
    const verifyOnce = authentication.verify;
    authentication.verify = async () => {
      authentication.verify = verifyOnce;
      throw new Error('the store went away');
    };
    const passcode = await code('411111111111');
    const failed = await verify(open.context, 'f-2', 'SECURID', passcode);
    assert.equal(authentication.verify, verifyOnce, 'the injected failure was used');
    assert.equal(failed.statusCode, 500);
    assert.deepEqual(failed.json(), { attemptResponseCode: 'ERROR', attemptReasonCode: 'SERVER_ERROR' });
    assert.ok(!failed.body.includes('store went away'), 'no detail reaches the agent');
    const again = (await verify(open.context, 'f-2', 'SECURID', passcode)).json();
    assert.equal(again.attemptResponseCode, 'SUCCESS', 'the claim was given back: the same request goes on');
    assert.equal(again.context.inResponseTo, 'f-2');
  });

  test('a check that throws at initialize ends that attempt cleanly; a new initialize works', async () => {
    tally.clock.advance(60);
    const authentication = tally.services.authentication;
    const verifyOnce = authentication.verify;
    authentication.verify = async () => {
      authentication.verify = verifyOnce;
      throw new Error('the store went away');
    };
    const failed = await initialize('plain-user', 'g-1', await code('411111111111'));
    assert.deepEqual(failed.json(), { attemptResponseCode: 'ERROR', attemptReasonCode: 'SERVER_ERROR' });
    const rows = await getStore().db.selectFrom('authn_attempts').select('status').where('status', '=', 'working').execute();
    assert.deepEqual(rows, [], 'no attempt is left claimed');
    assert.equal((await initialize('plain-user', 'g-2', await code('411111111111'))).json().attemptResponseCode, 'SUCCESS');
  });

  test("an attempt waiting on a challenge expires with the challenge (120 s), not at the attempt's 600 s", async () => {
    const nextCodeMode = () =>
      getStore().db.updateTable('tokens').set({ next_code_required: 1 }).where('serial', '=', '455555555555').execute();
    tally.clock.advance(60);
    await nextCodeMode();
    const first = (await initialize('slow-user', 'x-1', await code('455555555555'))).json();
    assert.equal(first.challengeMethods.challenges[0].requiredMethods[0].methodId, 'SECURID_NEXT_TOKENCODE');
    tally.clock.advance(121);
    const late = await verify(first.context, 'x-2', 'SECURID_NEXT_TOKENCODE', await code('455555555555'));
    assert.equal(late.statusCode, 400);
    assert.deepEqual(late.json(), { attemptResponseCode: 'FAIL', attemptReasonCode: 'ATTEMPT_NOT_CONTINUABLE' });

    tally.clock.advance(60);
    await nextCodeMode();
    const second = (await initialize('slow-user', 'x-3', await code('455555555555'))).json();
    assert.equal(second.attemptResponseCode, 'CHALLENGE');
    const minute = () => Math.floor(tally.clock.now() / 60_000);
    const next = minute() + 1;
    tally.clock.advance(100);
    const inTime = (await verify(second.context, 'x-4', 'SECURID_NEXT_TOKENCODE', await code('455555555555', next - minute()))).json();
    assert.equal(inTime.attemptResponseCode, 'SUCCESS', "within the challenge's life the answer is checked");

    const waiting = (await initialize('slow-user', 'x-5')).json();
    tally.clock.advance(500);
    const slow = (await verify(waiting.context, 'x-6', 'SECURID', await code('455555555555'))).json();
    assert.equal(slow.attemptResponseCode, 'SUCCESS', "the first question waits the attempt's own 600 s");
  });

  test('an unknown clientId and a wrong key get the same refusal; malformed JSON and bad fields the documented shape', async () => {
    const denied = { attemptResponseCode: 'FAIL', attemptReasonCode: 'ACCESS_DENIED' };
    const body = { clientId: 'vpn-agent', subjectName: 'plain-user', context: { messageId: 'x' } };
    const wrongKey = await post('initialize', body, 'tla_wrong');
    assert.equal(wrongKey.statusCode, 401);
    assert.deepEqual(wrongKey.json(), denied);
    const unknown = await post('initialize', { ...body, clientId: 'nobody' });
    assert.equal(unknown.statusCode, 401);
    assert.deepEqual(unknown.json(), denied);
    const unnamed = { context: { authnAttemptId: 'a', messageId: 'b', inResponseTo: 'c' } };
    const unnamedWrongKey = await post('verify', unnamed, 'tla_wrong');
    assert.equal(unnamedWrongKey.statusCode, 401, 'a verify without clientId is known by its key only');
    assert.deepEqual(unnamedWrongKey.json(), denied);
    assert.equal((await post('initialize', { ...body, clientId: undefined })).statusCode, 400, 'initialize names its agent');
    const status = await post('status', { clientId: 'vpn-agent', authnAttemptId: 'a' });
    assert.equal(status.statusCode, 404, 'no status call');
    assert.deepEqual(status.json(), { attemptResponseCode: 'FAIL', attemptReasonCode: 'INVALID_REQUEST' });
    const malformed = await listener.inject({
      method: 'POST',
      url: `${BASE}/initialize`,
      headers: { 'client-key': accessKey, 'content-type': 'application/json' },
      payload: '{"clientId": ',
    });
    assert.equal(malformed.statusCode, 400);
    assert.deepEqual(malformed.json(), { attemptResponseCode: 'FAIL', attemptReasonCode: 'INVALID_REQUEST' });
    const badField = await post('initialize', { ...body, subjectName: 42 });
    assert.equal(badField.statusCode, 400);
    assert.deepEqual(badField.json(), { attemptResponseCode: 'FAIL', attemptReasonCode: 'INVALID_REQUEST' });
  });

  test('signing: an agent set to require it is refused unsigned, stale, wrongly signed or replayed; a signed request goes on', async () => {
    const created = await tally.admin.inject({
      method: 'POST',
      url: '/api/v1/authn-agents',
      headers: bearer(tally.tokens.superadmin),
      payload: { name: 'signed-agent', requireSigning: true },
    });
    assert.equal(created.statusCode, 201);
    const { accessKey: key, signingSecret } = created.json();
    assert.match(signingSecret, /^tls_[0-9a-f]{64}$/);
    const denied = { attemptResponseCode: 'FAIL', attemptReasonCode: 'ACCESS_DENIED' };
    const url = `${BASE}/initialize`;
    const send = (body: string, headers: Record<string, string>) =>
      listener.inject({
        method: 'POST',
        url,
        headers: { 'client-key': key, 'content-type': 'application/json', ...headers },
        payload: body,
      });
    const signed = (body: string, secret = signingSecret, date = new Date(tally.clock.now()).toUTCString()) => ({
      date,
      'client-key-hmac': signRequest(secret, { method: 'POST', path: url, date, body, clientId: 'signed-agent' }),
    });
    const body = (messageId: string) =>
      JSON.stringify({ clientId: 'signed-agent', subjectName: 'plain-user', context: { authnAttemptId: '', messageId, inResponseTo: '' } });

    const unsigned = await send(body('h-1'), {});
    assert.equal(unsigned.statusCode, 401);
    assert.deepEqual(unsigned.json(), denied);
    const good = signed(body('h-2'));
    const accepted = await send(body('h-2'), good);
    assert.equal(accepted.statusCode, 200);
    assert.equal(accepted.json().attemptResponseCode, 'CHALLENGE');
    assert.deepEqual((await send(body('h-2'), good)).json(), denied, 'the same signature again is a replay');
    const stale = signed(body('h-3'), signingSecret, new Date(tally.clock.now() - 301_000).toUTCString());
    assert.deepEqual((await send(body('h-3'), stale)).json(), denied, 'a date beyond the skew');
    assert.deepEqual((await send(body('h-4'), signed(body('h-4'), 'tls_wrong'))).json(), denied, 'another secret');
    assert.deepEqual((await send(body('h-6'), signed(body('h-5')))).json(), denied, 'a signature of another body');
    assert.equal((await send(body('h-7'), signed(body('h-7')))).statusCode, 200);

    const agents = (
      await tally.admin.inject({ method: 'GET', url: '/api/v1/authn-agents', headers: bearer(tally.tokens.superadmin) })
    ).json();
    assert.equal(agents.authnAgents.find((a: { name: string }) => a.name === 'signed-agent').requireSigning, true);
    assert.ok(!JSON.stringify(agents).includes('tls_'), 'the signing secret is shown once only');

    const rotated = (
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/authn-agents/signed-agent/rotate',
        headers: bearer(tally.tokens.superadmin),
        payload: {},
      })
    ).json();
    assert.match(rotated.signingSecret, /^tls_/);
    assert.notEqual(rotated.signingSecret, signingSecret, 'a new key brings a new signing secret');
    const unsignedOff = (
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/authn-agents/signed-agent/rotate',
        headers: bearer(tally.tokens.superadmin),
        payload: { requireSigning: false },
      })
    ).json();
    assert.equal(unsignedOff.signingSecret, undefined);
    const plain = await listener.inject({
      method: 'POST',
      url,
      headers: { 'client-key': unsignedOff.accessKey, 'content-type': 'application/json' },
      payload: body('h-8'),
    });
    assert.equal(plain.statusCode, 200, 'an agent no longer required to sign goes on unsigned');
  });

  test('agents: listed without keys, a rotated key replaces the old one at once, a removed agent is refused', async () => {
    const admin = (method: 'GET' | 'POST' | 'DELETE', url: string) =>
      tally.admin.inject({ method, url, headers: bearer(tally.tokens.superadmin) });
    const created = (
      await tally.admin.inject({
        method: 'POST',
        url: '/api/v1/authn-agents',
        headers: bearer(tally.tokens.superadmin),
        payload: { name: 'portal' },
      })
    ).json();
    const listed = (await admin('GET', '/api/v1/authn-agents')).json().authnAgents;
    assert.deepEqual(
      listed.map((a: { name: string }) => a.name),
      ['portal', 'signed-agent', 'vpn-agent'],
    );
    assert.ok(!JSON.stringify(listed).includes('tla_'));
    const body = (messageId: string) => ({ clientId: 'portal', subjectName: 'plain-user', context: { messageId } });
    assert.equal((await post('initialize', body('r-1'), created.accessKey)).statusCode, 200);
    const rotated = await admin('POST', '/api/v1/authn-agents/portal/rotate');
    assert.equal(rotated.statusCode, 200);
    assert.equal((await post('initialize', body('r-2'), created.accessKey)).statusCode, 401);
    assert.equal((await post('initialize', body('r-3'), rotated.json().accessKey)).statusCode, 200);
    assert.equal((await admin('DELETE', '/api/v1/authn-agents/portal')).statusCode, 204);
    assert.equal((await post('initialize', body('r-4'), rotated.json().accessKey)).statusCode, 401);
    assert.equal((await admin('DELETE', '/api/v1/authn-agents/portal')).statusCode, 404);
    const helpdesk = await tally.admin.inject({ method: 'GET', url: '/api/v1/authn-agents', headers: bearer(tally.tokens.helpdesk) });
    assert.equal(helpdesk.statusCode, 403);
  });
});
