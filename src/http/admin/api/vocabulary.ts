import { type TUnsafe, Type } from '@sinclair/typebox';

/** A REST schema for one of the vocabulary's lists (src/model/vocabulary.ts): the list is the only source. */
export function oneOf<const Values extends readonly string[]>(
  values: Values,
  options: { description?: string } = {},
): TUnsafe<Values[number]> {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], ...options });
}
