import { Type } from '@sinclair/typebox';
import { type DirectoryGroup, parseDirectoryGroup } from '../../../domain/directory.js';
import { invalidField } from '../../../errors.js';

/** Query strings are text: numbers are validated by pattern and converted here, not coerced. */
export const listQuery = {
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 100' })),
  offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
};

/** Paging by key: the last key (username, serial) of the page before; the next page starts after it. */
export const afterQuery = {
  after: Type.Optional(
    Type.String({
      maxLength: 128,
      description: 'the last username or serial of the page before: the next page starts after it (faster than offset)',
    }),
  ),
};

export function pageOf(query: { limit?: string; offset?: string }): { limit: number; offset: number } {
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (limit < 1 || limit > 1000) throw invalidField('limit', 'wholeNumberRange', { min: 1, max: 1000 });
  return { limit, offset: query.offset === undefined ? 0 : Number(query.offset) };
}

export function timeOf(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const time = /^\d{1,13}$/.test(value) ? Number(value) * (value.length <= 10 ? 1000 : 1) : Date.parse(value);
  if (Number.isNaN(time)) throw invalidField(name, 'timeValue');
  return time;
}

/** A directory group in a query string: `SOURCE:DN`, members resolved from the directory, nested groups included. */
export const groupQuery = Type.String({
  maxLength: 1100,
  description: "a directory group as SOURCE:DN (the identity source's name, a colon, the group's DN); its members, nested groups included",
});

export function groupOf(value: string | undefined): DirectoryGroup | undefined {
  return value === undefined ? undefined : parseDirectoryGroup(value);
}
