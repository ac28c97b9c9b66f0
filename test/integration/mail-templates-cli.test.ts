import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storeArgs, tally } from '../support/cli.js';
import { freshStoreOptions, testDialects } from '../support/store.js';

for (const dialect of testDialects())
  test(`[${dialect}] tally mail-template: list, set from standard input (refusals with exit 1 and the reason), show, reset`, async () => {
    const place = freshStoreOptions(dialect);
    const args = storeArgs({ dataDir: place.dataDir, databaseUrl: place.options.databaseUrl, schema: place.options.schema });
    try {
      assert.equal(tally(['init', ...args, '--admin-user', 'root', '--admin-password-stdin'], { input: 'root-password-1\n' }).status, 0);
      const listed = tally(['mail-template', 'list', ...args]);
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout, /^token-issued\tdefault\tA new token\n/);
      assert.equal(listed.stdout.trim().split('\n').length, 9);

      const refused = tally(['mail-template', 'set', 'token-reissued', ...args, '--subject', 'x'], { input: 'Code: {{activationCode}}\n' });
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /text uses \{\{activationCode\}\}, which this mail does not have/);
      assert.equal(tally(['mail-template', 'set', 'no-such-mail', ...args], { input: 'x' }).status, 1);

      const set = tally(['mail-template', 'set', 'token-reissued', ...args, '--subject', '{{issuer}}: {{serial}} again'], {
        input: 'Hello {{name}},\nyour token {{serial}} was issued again.\n',
      });
      assert.equal(set.status, 0, set.stderr);
      assert.equal(
        tally(['mail-template', 'show', 'token-reissued', ...args]).stdout,
        '{{issuer}}: {{serial}} again\n\nHello {{name}},\nyour token {{serial}} was issued again.\n',
      );
      assert.match(tally(['mail-template', 'list', ...args]).stdout, /\ntoken-reissued\tedited\t/);
      assert.equal(tally(['mail-template', 'reset', 'token-reissued', ...args]).status, 0);
      assert.match(
        tally(['mail-template', 'show', 'token-reissued', ...args]).stdout,
        /^\{\{issuer\}\}: your token \{\{serial\}\} has been issued again\n\nHello/,
      );
    } finally {
      await place.cleanup();
    }
  });
