import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { errorCatalogue } from '../src/errors.js';
import { configurationReference } from '../src/config.js';
import { repoRoot } from './support/cli.js';

test('docs/errors.md documents every error code, and only those', () => {
  const docs = readFileSync(join(repoRoot, 'docs/errors.md'), 'utf8');
  const documented = new Set([...docs.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  const catalogue = Object.keys(errorCatalogue);
  assert.deepEqual(catalogue.filter((code) => !documented.has(code)), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documented].filter((code) => !catalogue.includes(code)), [], 'codes in docs/errors.md that no longer exist');
  for (const [code, entry] of Object.entries(errorCatalogue)) {
    assert.match(docs, new RegExp(`^\\| \`${code}\` \\| ${entry.status} \\|`, 'm'), `${code} status in docs`);
  }
});

test('docs/configuration.md is generated from the settings table (npm run docs:config)', () => {
  assert.equal(readFileSync(join(repoRoot, 'docs/configuration.md'), 'utf8'), configurationReference());
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('layering: src/core imports only node:crypto, fast-xml-parser, src/errors and src/core', () => {
  const core = join(repoRoot, 'src/core');
  const offenders: string[] = [];
  for (const file of sources(core).filter((f) => !f.endsWith('.test.ts'))) {
    const text = readFileSync(file, 'utf8');
    for (const [, specifier] of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)) {
      if (specifier === 'node:crypto' || specifier === 'fast-xml-parser' || specifier === 'node:buffer') continue;
      if (specifier.startsWith('.')) {
        const target = join(file, '..', specifier);
        const rel = relative(join(repoRoot, 'src'), target);
        if (rel.startsWith('core/') || rel === 'errors.js') continue;
      }
      offenders.push(`${relative(repoRoot, file)} imports ${specifier}`);
    }
  }
  assert.deepEqual(offenders, []);
});
