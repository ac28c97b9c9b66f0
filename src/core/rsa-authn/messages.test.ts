import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTallyError } from '../../errors.js';
import { decodeAuthnRequest, encodeAuthnResponse, encodeRefusal } from './messages.js';

// The initialize request as RSA's knowledge-base articles print it (the values are ours).
const documentedInitialize = {
  clientId: 'agent.example.com',
  subjectName: 'jdoe',
  subjectCredentials: [{ methodId: 'SECURID', collectedInputs: [{ name: 'SECURID', value: '12345678' }] }],
  context: { authnAttemptId: '', messageId: 'client-msg-1', inResponseTo: '' },
  keepAttempt: false,
};

test('decodes an initialize request as the documents print it, ignoring fields Tally does not read', () => {
  assert.deepEqual(decodeAuthnRequest(documentedInitialize, 'initialize'), {
    clientId: 'agent.example.com',
    subjectName: 'jdoe',
    credential: { methodId: 'SECURID', value: '12345678' },
    context: { authnAttemptId: '', messageId: 'client-msg-1', inResponseTo: '' },
  });
});

test('decodes initialize without credentials, and a verify that names its attempt and the message it answers', () => {
  const { subjectCredentials: _, ...bare } = documentedInitialize;
  assert.equal(decodeAuthnRequest(bare, 'initialize').credential, undefined);
  const verify = decodeAuthnRequest(
    {
      clientId: 'agent.example.com',
      subjectCredentials: [
        { methodId: 'SECURID_NEXT_TOKENCODE', collectedInputs: [{ name: 'SECURID_NEXT_TOKENCODE', value: '87654321' }] },
      ],
      context: { authnAttemptId: 'attempt-1', messageId: 'client-msg-2', inResponseTo: 'server-msg-1' },
    },
    'verify',
  );
  assert.deepEqual(verify.credential, { methodId: 'SECURID_NEXT_TOKENCODE', value: '87654321' });
  assert.deepEqual(verify.context, { authnAttemptId: 'attempt-1', messageId: 'client-msg-2', inResponseTo: 'server-msg-1' });
});

test('refuses what is not a request, naming the field: no object, a missing clientId, a verify without its attempt, a number as value', () => {
  const field = (body: unknown, call: 'initialize' | 'verify' = 'initialize') => {
    try {
      decodeAuthnRequest(body, call);
    } catch (error) {
      assert.ok(isTallyError(error) && error.code === 'VALIDATION_FAILED');
      return error.details?.field;
    }
    assert.fail('decoded');
  };
  assert.equal(field([]), 'body');
  assert.equal(field({ ...documentedInitialize, clientId: undefined }), 'clientId');
  assert.equal(field({ ...documentedInitialize, context: { messageId: 'm' } }, 'verify'), 'context.authnAttemptId');
  assert.equal(
    field({ ...documentedInitialize, subjectCredentials: [{ methodId: 'SECURID', collectedInputs: [{ name: 'SECURID', value: 1 }] }] }),
    'subjectCredentials[0].collectedInputs[0].value',
  );
  assert.equal(field({ ...documentedInitialize, subjectName: 'x'.repeat(129) }), 'subjectName', 'longer than any username');
});

const context = { authnAttemptId: 'attempt-1', messageId: 'server-msg-1', inResponseTo: 'client-msg-1' };

test('encodes the passcode challenge as the documents print it, field by field', () => {
  assert.deepEqual(encodeAuthnResponse(context, { kind: 'challenge', challenge: { methodId: 'SECURID', prompt: 'Enter PASSCODE:' } }), {
    context,
    credentialValidationResults: [],
    attemptResponseCode: 'CHALLENGE',
    attemptReasonCode: 'AUTHENTICATION_REQUIRED',
    challengeMethods: {
      challenges: [
        {
          methodSetId: null,
          requiredMethods: [
            {
              methodId: 'SECURID',
              priority: null,
              versions: [
                {
                  versionId: '1.0.0',
                  methodAttributes: [],
                  valueRequired: true,
                  referenceId: null,
                  prompt: {
                    promptResourceId: 'SecurID.Resource.Prompt.Passcode',
                    defaultText: 'Enter PASSCODE:',
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
    },
  });
});

test('encodes a right passcode that needs the next tokencode: SECURID SUCCESS, attempt CHALLENGE for SECURID_NEXT_TOKENCODE', () => {
  const body = encodeAuthnResponse(context, {
    kind: 'challenge',
    checked: { methodId: 'SECURID', succeeded: true },
    challenge: { methodId: 'SECURID_NEXT_TOKENCODE', prompt: 'Wait for the tokencode to change, then enter the new tokencode:' },
  }) as {
    credentialValidationResults: unknown;
    challengeMethods: { challenges: { requiredMethods: { versions: { prompt: unknown }[] }[] }[] };
  };
  assert.deepEqual(body.credentialValidationResults, [
    { methodId: 'SECURID', methodResponseCode: 'SUCCESS', methodReasonCode: null, authnAttributes: [] },
  ]);
  const prompt = body.challengeMethods.challenges[0]?.requiredMethods[0]?.versions[0]?.prompt as Record<string, unknown>;
  assert.equal(prompt.promptResourceId, 'SecurID.Resource.Prompt.Next.Tokencode');
  assert.equal(prompt.valueBeingDefined, false);
});

test('encodes a new PIN prompt as a value being defined', () => {
  const body = encodeAuthnResponse(context, {
    kind: 'challenge',
    checked: { methodId: 'SECURID', succeeded: true },
    challenge: { methodId: 'SECURID_NEW_PIN', prompt: 'Enter a new PIN of 4 to 8 digits.' },
  }) as { challengeMethods: { challenges: { requiredMethods: { versions: { prompt: Record<string, unknown> }[] }[] }[] } };
  const prompt = body.challengeMethods.challenges[0]?.requiredMethods[0]?.versions[0]?.prompt;
  assert.equal(prompt?.promptResourceId, 'SecurID.Resource.Prompt.New.PIN');
  assert.equal(prompt?.valueBeingDefined, true);
});

test('encodes success, failure, cancel and refusals with their codes', () => {
  const codes = (outcome: Parameters<typeof encodeAuthnResponse>[1]) => {
    const body = encodeAuthnResponse(context, outcome);
    return [body.attemptResponseCode, body.attemptReasonCode, body.challengeMethods];
  };
  assert.deepEqual(codes({ kind: 'success', checked: { methodId: 'SECURID', succeeded: true } }), ['SUCCESS', 'CREDENTIAL_VERIFIED', null]);
  assert.deepEqual(codes({ kind: 'fail', checked: { methodId: 'SECURID', succeeded: false } }), ['FAIL', 'AUTHENTICATION_DENIED', null]);
  assert.deepEqual(codes({ kind: 'cancelled' }), ['SUCCESS', 'ATTEMPT_CANCELLED', null]);
  assert.deepEqual(encodeRefusal('ACCESS_DENIED'), { attemptResponseCode: 'FAIL', attemptReasonCode: 'ACCESS_DENIED' });
});
