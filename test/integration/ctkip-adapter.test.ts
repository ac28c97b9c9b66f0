import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { clientHello } from '../../src/core/ctkip/exchange.js';
import { buildClientRequest, DEFAULT_CLIENT_PROVISIONING_DATA, parseSoapFault } from '../../src/core/ctkip/messages.js';
import { repoRoot } from '../support/cli.js';
import { CTKIP_URL } from '../support/ctkip.js';
import { describeEachStore } from '../support/store.js';
import { createTestTally, type TestTally } from '../support/tally.js';

// The CT-KIP split: the adapter decodes and encodes (faults in one place), the domain takes typed
// messages and has no SQL.

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

const src = join(repoRoot, 'src');
const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

test('the provisioning service knows no SQL, no XML and no SOAP', () => {
  const text = read('src/domain/provisioning.ts');
  for (const call of ['selectFrom(', 'updateTable(', 'insertInto(', 'deleteFrom(', '.transaction()']) {
    assert.ok(!text.includes(call), `src/domain/provisioning.ts calls ${call}`);
  }
  assert.doesNotMatch(text, /from '\.\.\/core\/xml\//);
  assert.doesNotMatch(text, /\b(build|parse)[A-Z]\w*\(|\bserverHello\(|\bserverFinished\(/);
});

test('a SOAP fault is built in one place: core/ctkip/wire.ts, called by the CT-KIP adapter', () => {
  const callers = (name: string) =>
    sources(src)
      .filter((file) => new RegExp(`\\b${name}\\(`).test(readFileSync(file, 'utf8')))
      .map((file) => relative(repoRoot, file))
      .sort();
  // messages.ts defines the builder; wire.ts is its one server-side caller.
  assert.deepEqual(callers('buildSoapFault'), ['src/core/ctkip/messages.ts', 'src/core/ctkip/wire.ts']);
  assert.deepEqual(callers('faultReasonFor'), ['src/core/ctkip/messages.ts', 'src/core/ctkip/wire.ts']);
  assert.deepEqual(callers('encodeFault'), ['src/core/ctkip/wire.ts', 'src/http/public/ctkip.ts']);
});

describeEachStore('CT-KIP adapter', (getStore) => {
  let tally: TestTally;
  before(async () => {
    tally = await createTestTally(getStore());
  });
  after(async () => tally.close());

  test('a refused code and a malformed body are SOAP faults with HTTP 200, not cached', async () => {
    const post = (payload: string, remoteAddress: string) =>
      tally.public.inject({ method: 'POST', url: CTKIP_URL, remoteAddress, payload });
    const wrongCode = buildClientRequest({
      authData: '000000000000',
      provisioningData: DEFAULT_CLIENT_PROVISIONING_DATA,
      request: clientHello(),
    });
    const responses = await Promise.all([post(wrongCode, '192.0.2.31'), post('not xml at all', '192.0.2.32'), post('<a/>', '192.0.2.33')]);
    const reasons = responses.map((response) => {
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['cache-control'], 'no-store');
      assert.match(String(response.headers['content-type']), /^text\/xml/);
      assert.doesNotMatch(response.body, /at \w+ \(|node_modules/);
      return parseSoapFault(response.body).exceptionClass;
    });
    assert.deepEqual(reasons, [
      'com.rsa.command.exception.InsufficientPrivilegeException',
      'tally.FORMAT_INVALID',
      'tally.CTKIP_BAD_MESSAGE',
    ]);
  });
});
