import { invalidField } from '../../errors.js';

/**
 * The JSON messages of RSA's SecurID Authentication API (the REST agent protocol, base path
 * `/mfa/v1_1/authn/`): requests decoded into typed values, results encoded with RSA's field names.
 * Pure: the caller supplies the ids, the attempt and the outcome.
 */

/** The method ids Tally asks for and takes. */
export const RSA_METHODS = {
  passcode: 'SECURID',
  nextTokencode: 'SECURID_NEXT_TOKENCODE',
  newPin: 'SECURID_NEW_PIN',
  confirmPin: 'SECURID_NEW_PIN_CONFIRM',
} as const;
export type RsaMethod = (typeof RSA_METHODS)[keyof typeof RSA_METHODS];

/** An attempt's messages are chained: each side names the other's last message. */
export interface AttemptContext {
  authnAttemptId: string;
  messageId: string;
  inResponseTo: string;
}

export interface CollectedCredential {
  methodId: string;
  value: string;
}

export interface AuthnRequest {
  /** The agent's name; a `verify` or `cancel` may leave it out (RSA's articles print it so), '' then. */
  clientId: string;
  /** The user's id (initialize only). */
  subjectName: string;
  /** The first credential sent, if any: Tally asks for one method at a time. */
  credential?: CollectedCredential;
  context: AttemptContext;
}

const MAX_FIELD = 256;
/** Tally's longest username (and agent name). */
const MAX_NAME = 128;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(from: Record<string, unknown>, field: string, path: string, required: boolean, maxLength = MAX_FIELD): string {
  const value = from[field];
  if (value === undefined || value === null) {
    if (required) throw invalidField(path, 'requiredField');
    return '';
  }
  if (typeof value !== 'string' || value.length > maxLength) throw invalidField(path, 'stringOfAtMost', { max: maxLength });
  return value;
}

function credentialOf(body: Record<string, unknown>): CollectedCredential | undefined {
  const credentials = body.subjectCredentials;
  if (credentials === undefined || credentials === null) return undefined;
  if (!Array.isArray(credentials)) throw invalidField('subjectCredentials', 'mustBeArray');
  const first: unknown = credentials[0];
  if (first === undefined) return undefined;
  if (!isObject(first)) throw invalidField('subjectCredentials', 'firstMustBeObject');
  const methodId = text(first, 'methodId', 'subjectCredentials[0].methodId', true);
  const inputs = first.collectedInputs;
  if (!Array.isArray(inputs)) throw invalidField('subjectCredentials[0].collectedInputs', 'mustBeArray');
  // The input named like the method carries the value; an agent may send only one, under another name.
  const named = inputs.find((input): input is Record<string, unknown> => isObject(input) && input.name === methodId);
  const input: unknown = named ?? inputs[0];
  if (!isObject(input)) throw invalidField('subjectCredentials[0].collectedInputs', 'needsNameValue');
  return { methodId, value: text(input, 'value', 'subjectCredentials[0].collectedInputs[0].value', true) };
}

/** A request body as parsed JSON, checked and reduced to what Tally reads (other fields, as `keepAttempt`, are ignored). */
export function decodeAuthnRequest(body: unknown, call: 'initialize' | 'verify' | 'cancel'): AuthnRequest {
  if (!isObject(body)) throw invalidField('body', 'bodyJsonObject');
  const context = isObject(body.context) ? body.context : {};
  const continues = call !== 'initialize';
  return {
    clientId: text(body, 'clientId', 'clientId', !continues, MAX_NAME),
    subjectName: text(body, 'subjectName', 'subjectName', call === 'initialize', MAX_NAME),
    credential: call === 'cancel' ? undefined : credentialOf(body),
    context: {
      authnAttemptId: text(context, 'authnAttemptId', 'context.authnAttemptId', continues),
      messageId: text(context, 'messageId', 'context.messageId', true),
      inResponseTo: text(context, 'inResponseTo', 'context.inResponseTo', continues),
    },
  };
}

/** What became of the credential the request carried. */
export interface CheckedCredential {
  methodId: string;
  succeeded: boolean;
}

/** What Tally asks for next, with the text the agent shows. */
export interface Challenge {
  methodId: RsaMethod;
  prompt: string;
  /** A PIN Tally generated, shown to be entered back (RSA's system-generated PIN): the prompt's default value and argument. */
  generatedPin?: string;
}

export type AttemptOutcome =
  | { kind: 'success'; checked: CheckedCredential }
  | { kind: 'fail'; checked?: CheckedCredential }
  | { kind: 'challenge'; checked?: CheckedCredential; challenge: Challenge }
  | { kind: 'cancelled' };

const PROMPT_RESOURCES: Record<RsaMethod, string> = {
  SECURID: 'SecurID.Resource.Prompt.Passcode',
  SECURID_NEXT_TOKENCODE: 'SecurID.Resource.Prompt.Next.Tokencode',
  SECURID_NEW_PIN: 'SecurID.Resource.Prompt.New.PIN',
  SECURID_NEW_PIN_CONFIRM: 'SecurID.Resource.Prompt.Confirm.New.PIN',
};
/** The prompt that shows a generated PIN, answered as the confirmation of a new PIN. */
const SYSTEM_PIN_RESOURCE = 'SecurID.Resource.Prompt.System.Generated.PIN';

function requiredMethod(challenge: Challenge) {
  const definesPin = challenge.methodId === RSA_METHODS.newPin || challenge.methodId === RSA_METHODS.confirmPin;
  return {
    methodId: challenge.methodId,
    // As RSA prints it: one method asked at a time has no priority among others.
    priority: null,
    versions: [
      {
        versionId: '1.0.0',
        methodAttributes: [],
        valueRequired: true,
        referenceId: null,
        prompt: {
          promptResourceId: challenge.generatedPin === undefined ? PROMPT_RESOURCES[challenge.methodId] : SYSTEM_PIN_RESOURCE,
          defaultText: challenge.prompt,
          formatRegex: null,
          defaultValue: challenge.generatedPin ?? null,
          valueBeingDefined: definesPin,
          sensitive: true,
          minLength: null,
          maxLength: null,
          promptArgs: challenge.generatedPin === undefined ? [] : [challenge.generatedPin],
        },
      },
    ],
  };
}

/** The response to initialize, verify or cancel: `context` answers the request's message with a new one. */
export function encodeAuthnResponse(context: AttemptContext, outcome: AttemptOutcome): Record<string, unknown> {
  const checked = outcome.kind === 'cancelled' ? undefined : outcome.checked;
  const credentialValidationResults = checked
    ? [
        {
          methodId: checked.methodId,
          methodResponseCode: checked.succeeded ? 'SUCCESS' : 'FAIL',
          methodReasonCode: checked.succeeded ? null : 'VERIFY_ERROR',
          authnAttributes: [],
        },
      ]
    : [];
  const codes = {
    success: { attemptResponseCode: 'SUCCESS', attemptReasonCode: 'CREDENTIAL_VERIFIED' },
    fail: { attemptResponseCode: 'FAIL', attemptReasonCode: 'AUTHENTICATION_DENIED' },
    challenge: { attemptResponseCode: 'CHALLENGE', attemptReasonCode: 'AUTHENTICATION_REQUIRED' },
    cancelled: { attemptResponseCode: 'SUCCESS', attemptReasonCode: 'ATTEMPT_CANCELLED' },
  }[outcome.kind];
  return {
    context,
    credentialValidationResults,
    ...codes,
    challengeMethods:
      outcome.kind === 'challenge' ? { challenges: [{ methodSetId: null, requiredMethods: [requiredMethod(outcome.challenge)] }] } : null,
  };
}

/** Why a request was refused before any attempt moved, or (`SERVER_ERROR`) why its check could not be made. */
export type RefusalReason = 'INVALID_REQUEST' | 'ACCESS_DENIED' | 'ATTEMPT_NOT_CONTINUABLE' | 'TOO_MANY_REQUESTS' | 'SERVER_ERROR';

/**
 * The answer to a request refused before any attempt moved: bad JSON or fields, an unknown agent or
 * a wrong key, an attempt that cannot go on. A check Tally could not make is an `ERROR`, not a
 * `FAIL`: nothing was decided about the user, and the same request may be sent again.
 */
export function encodeRefusal(reason: RefusalReason): Record<string, unknown> {
  return { attemptResponseCode: reason === 'SERVER_ERROR' ? 'ERROR' : 'FAIL', attemptReasonCode: reason };
}
