import assert from 'node:assert/strict';

/**
 * The item at `index` of a list a test expects to hold it; a shorter list fails the test here,
 * by name, instead of as a TypeError further on (and narrows away `undefined` for the compiler).
 */
export function item<T>(items: readonly T[], index: number): Exclude<T, undefined> {
  const found = items[index];
  assert.ok(found !== undefined, `expected an item at index ${index}; the list holds ${items.length}`);
  return found as Exclude<T, undefined>;
}

/** The first item of a list a test expects to be non-empty. */
export function firstItem<T>(items: readonly T[]): Exclude<T, undefined> {
  return item(items, 0);
}
