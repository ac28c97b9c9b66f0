import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './support/cli.js';

/** Kysely's query builder entry points: SQL belongs in src/store/repositories, not in a domain service. */
const QUERY_BUILDER = /\.(selectFrom|updateTable|insertInto|deleteFrom|executeQuery)\(|\.transaction\(\)/g;

test('authentication and token administration ask their repositories; they build no queries', () => {
  const offenders = ['src/domain/authentication.ts', 'src/domain/token-administration.ts'].flatMap((file) =>
    [...readFileSync(join(repoRoot, file), 'utf8').matchAll(QUERY_BUILDER)].map((match) => `${file}: ${match[0]}`),
  );
  assert.deepEqual(offenders, []);
});
