import { type RawBuilder, sql } from 'kysely';
import type { Dialect } from './connect.js';

/**
 * The lists page by key, never by OFFSET on a big table, and their text columns sort by code point
 * on both dialects (SQLite's BINARY; PostgreSQL's "C" collation, whatever the database's own is), so
 * that a prefix is a range of the index and the next page starts where the last one ended.
 * Migration 0025 builds the indexes with the same collation; `test/integration/list-plans.test.ts`
 * checks with EXPLAIN that every list uses them.
 */
export function codePointOrder(dialect: Dialect, expression: RawBuilder<string>): RawBuilder<string> {
  return dialect === 'postgres' ? sql<string>`${expression} collate "C"` : expression;
}

/** A column in code-point order. */
export function orderedColumn(dialect: Dialect, column: string): RawBuilder<string> {
  return codePointOrder(dialect, sql<string>`${sql.ref(column)}`);
}

/**
 * The upper bound of a prefix's range: the prefix followed by the last code point, which no
 * stored name contains.
 */
export function prefixEnd(dialect: Dialect, prefix: RawBuilder<string>): RawBuilder<string> {
  return codePointOrder(
    dialect,
    dialect === 'postgres' ? sql<string>`(${prefix} || chr(1114111))` : sql<string>`(${prefix} || char(1114111))`,
  );
}

/** Usernames compared without case: SQLite's lower() folds ASCII letters, PostgreSQL's those of the database's locale. */
export function foldedUsername(dialect: Dialect): RawBuilder<string> {
  return codePointOrder(dialect, sql<string>`lower(${sql.ref('username')})`);
}
