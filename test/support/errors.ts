import { type ErrorCode, TallyError } from '../../src/errors.js';

/**
 * The code of the typed error `fn` throws, or undefined when it returns; any other error is thrown
 * on, so a plain crash is never taken for a refusal.
 */
export function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof TallyError) return error.code;
    throw error;
  }
  return undefined;
}
