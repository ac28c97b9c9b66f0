import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { configurationReference } from '../src/config.js';
import { errorCatalogue, validationMessages } from '../src/errors.js';
import { AUDIT_ACTIONS } from '../src/model/audit-actions.js';
import { repoRoot } from './support/cli.js';

test('docs/errors.md documents every error code, and only those', () => {
  const docs = readFileSync(join(repoRoot, 'docs/errors.md'), 'utf8');
  const documented = new Set([...docs.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
  const catalogue = Object.keys(errorCatalogue);
  assert.deepEqual(
    catalogue.filter((code) => !documented.has(code)),
    [],
    'codes missing from docs/errors.md',
  );
  assert.deepEqual(
    [...documented].filter((code) => !catalogue.includes(code)),
    [],
    'codes in docs/errors.md that no longer exist',
  );
  for (const [code, entry] of Object.entries(errorCatalogue)) {
    assert.match(docs, new RegExp(`^\\| \`${code}\` \\| ${entry.status} \\|`, 'm'), `${code} status in docs`);
  }
});

test('docs/errors.md lists every validation message template as it is, and only those; no template takes a secret', () => {
  const docs = readFileSync(join(repoRoot, 'docs/errors.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## Validation messages'));
  const documented = Object.fromEntries([...section.matchAll(/^\| `([a-zA-Z0-9]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual(documented, { ...validationMessages });
  const parameters = Object.values(validationMessages).flatMap((template) => [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
  assert.deepEqual(
    parameters.filter((name) => /password|secret|seed|pin|passcode|code/i.test(name ?? '')),
    [],
    'template parameters that could carry a secret',
  );
});

test('docs/audit.md documents every audit action, and only those', () => {
  const docs = readFileSync(join(repoRoot, 'docs/audit.md'), 'utf8');
  const documented = [...docs.matchAll(/^\| `([a-z.-]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, Object.keys(AUDIT_ACTIONS));
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

/** What a source file imports, statically or dynamically: package names, or paths relative to src/ for its own modules. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
  ].map(([, specifier]) => specifier as string);
  return specifiers.map((specifier) =>
    specifier.startsWith('.') ? relative(join(repoRoot, 'src'), join(file, '..', specifier)) : specifier,
  );
}

/** Source files under src/<dir>, tests excepted, with each import the rule refuses. */
function layerOffenders(dir: string, refused: (target: string) => boolean): string[] {
  return sources(join(repoRoot, 'src', dir))
    .filter((file) => !file.endsWith('.test.ts'))
    .flatMap((file) =>
      importsOf(file)
        .filter(refused)
        .map((target) => `${relative(repoRoot, file)} imports ${target}`),
    );
}

const under =
  (...dirs: string[]) =>
  (target: string) =>
    dirs.some((dir) => target.startsWith(`${dir}/`));

test('layering: src/core imports only node:crypto, fast-xml-parser, src/errors and src/core', () => {
  const allowed = (target: string) =>
    ['node:crypto', 'node:buffer', 'fast-xml-parser', 'errors.js'].includes(target) || target.startsWith('core/');
  assert.deepEqual(
    layerOffenders('core', (target) => !allowed(target)),
    [],
  );
});

test('layering: src/model (the vocabulary) imports nothing', () => {
  assert.deepEqual(
    layerOffenders('model', (target) => !target.startsWith('model/')),
    [],
  );
});

test('layering: adapters (HTTP, RADIUS) reach the store only through domain services', () => {
  assert.deepEqual([...layerOffenders('http', under('store')), ...layerOffenders('radius', under('store'))], []);
});

test('layering: the domain knows no adapter, and the store knows neither adapters nor the domain', () => {
  assert.deepEqual(layerOffenders('domain', under('http', 'radius', 'cli')), []);
  assert.deepEqual(layerOffenders('store', under('http', 'radius', 'cli', 'domain')), []);
});

test('layering: the domain reports through its Observer and knows neither prom-client nor src/metrics', () => {
  assert.deepEqual(
    layerOffenders('domain', (target) => target === 'prom-client' || target.startsWith('metrics/')),
    [],
  );
});

/** Kysely imports of a source text that bring in values (a query helper like `sql`), not only types. */
function kyselyValueImports(text: string): string[] {
  const found: string[] = [];
  for (const [statement, typeOnly, clause] of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?([^'"]*?)\s*from\s+'kysely'/gm)) {
    if (typeOnly) continue;
    const named = /\{([^}]*)\}/.exec(clause ?? '')?.[1] ?? '';
    const values = named
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '' && !name.startsWith('type '));
    const unnamed = (clause ?? '')
      .replace(/\{[^}]*\}/, '')
      .replace(/,/g, '')
      .trim();
    if (values.length > 0 || unnamed !== '') found.push(statement.trim().replace(/\s+/g, ' '));
  }
  for (const [statement] of text.matchAll(/\bimport\(\s*'kysely'\s*\)|^\s*import\s+'kysely'/gm)) found.push(statement.trim());
  return found;
}

test("layering: the domain holds no query builder: not even its types, nor the tables' (a transaction is an opaque Connection)", () => {
  assert.deepEqual(
    layerOffenders('domain', (target) => target === 'kysely' || target === 'store/schema.js'),
    [],
  );
});

test('layering: the domain writes no SQL', () => {
  const offences = (file: string): string[] => {
    const text = readFileSync(file, 'utf8');
    return [
      // A transaction opened on the connection (`db.transaction()`); a unit of work's `transaction` is the way.
      ...[...text.matchAll(/\.\s*(selectFrom|updateTable|insertInto|deleteFrom)\s*\(|\b(?:db|trx)\s*\.\s*(transaction)\s*\(/g)].map(
        ([, call, transaction]) => `calls ${call ?? transaction}(`,
      ),
      ...kyselyValueImports(text).map((statement) => `has \`${statement}\``),
    ];
  };
  const files = sources(join(repoRoot, 'src', 'domain'))
    .filter((file) => !file.endsWith('.test.ts'))
    .map((file) => ({ name: relative(repoRoot, file), offences: offences(file) }));
  assert.deepEqual(
    files.flatMap(({ name, offences }) => offences.map((o) => `${name} ${o}`)),
    [],
    'SQL belongs in a repository (src/store/repositories/), which the domain calls',
  );
  // The rule itself catches what it names.
  assert.equal(offences(join(repoRoot, 'src', 'store', 'repositories', 'users.ts')).length > 0, true);
  assert.deepEqual(kyselyValueImports("import { type Kysely, sql } from 'kysely';\nimport type { Selectable } from 'kysely';"), [
    "import { type Kysely, sql } from 'kysely'",
  ]);
});

test('layering: src/formats (token files and strings, for server and client) is pure: core, errors, model and token types only', () => {
  const allowed = (target: string) =>
    ['node:crypto', 'node:buffer', 'errors.js', 'tokens/types.js'].includes(target) || under('core', 'model', 'formats')(target);
  assert.deepEqual(
    layerOffenders('formats', (target) => !allowed(target)),
    [],
  );
});

test('audit: one way in: only the audit service appends events, and the code calls it by `change` (a change and its event, one transaction) or `record`', () => {
  const appendsOutsideAudit = sources(join(repoRoot, 'src'))
    .filter((file) => !file.endsWith('.test.ts'))
    .map((file) => relative(repoRoot, file))
    .filter((name) => name !== join('src', 'domain', 'audit.ts') && name !== join('src', 'store', 'repositories', 'audit.ts'))
    // The one exception: an authentication batch that only uses steps writes them and its events at
    // once (one statement on PostgreSQL), the events' rows made by `AuditService.rowOf`.
    .filter((name) => name !== join('src', 'store', 'repositories', 'authentication.ts'))
    .filter((name) => /\.\s*append(?:Many)?\s*\(/.test(readFileSync(join(repoRoot, name), 'utf8')));
  assert.deepEqual(appendsOutsideAudit, [], 'events are appended by AuditService alone');
  const service = readFileSync(join(repoRoot, 'src', 'domain', 'audit.ts'), 'utf8');
  const body = service.slice(service.indexOf('export class AuditService'));
  const publicMethods = [...body.matchAll(/^ {2}(?!private\b|constructor\b)(?:async\s+)?(\w+)\s*[<(]/gm)].map(([, name]) => name);
  assert.deepEqual(publicMethods.sort(), ['authentications', 'change', 'exportCsv', 'list', 'record', 'rowOf']);
  const writesCalled = new Set(
    sources(join(repoRoot, 'src'))
      .filter((file) => !file.endsWith('.test.ts'))
      .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\baudit\s*\.\s*(\w+)\s*\(/g)].map(([, name]) => name as string))
      .filter(
        (name) =>
          !['list', 'authentications', 'exportCsv', 'authenticationsByHour', 'query', 'authenticationsOf', 'ascending', 'rowOf'].includes(
            name,
          ),
      ),
  );
  // purgeBefore: the retention purge (`tally audit purge`), the one delete, itself a recorded change.
  assert.deepEqual([...writesCalled].sort(), ['appendMany', 'change', 'purgeBefore', 'record']);
});
