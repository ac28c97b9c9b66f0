import type { Migration } from 'kysely';
import type { Dialect } from '../connect.js';
import { foundation } from './0001_foundation.js';

/** Versioned migrations, in order. Never edit a released one: add the next. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_foundation': foundation(dialect),
  };
}
