import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { initialisedStoreArgs, tally, tallyAsync } from '../support/cli.js';
import { freshStoreOptions, type TestStoreHandle, testDialects } from '../support/store.js';

describe('tally settings get and set, as processes', () => {
  for (const dialect of testDialects()) {
    describe(dialect, () => {
      let handle: TestStoreHandle;
      let args: string[];
      before(() => {
        handle = freshStoreOptions(dialect);
        args = initialisedStoreArgs({ dataDir: handle.dataDir, databaseUrl: handle.options.databaseUrl, schema: handle.options.schema });
      });
      after(() => handle.cleanup());

      test('get prints the defaults; set changes one for every node; bad names and values are refused with the reason', async () => {
        const defaults = tally(['settings', 'get', ...args]);
        assert.equal(defaults.status, 0, defaults.stderr);
        assert.match(defaults.stdout, /^tokensPerUser\t3\tdefault$/m);
        assert.match(defaults.stdout, /^selfServiceReportLost\ttrue\tdefault$/m);

        const set = tally(['settings', 'set', 'tokensPerUser', '5', ...args]);
        assert.equal(set.status, 0, set.stderr);
        assert.match(set.stdout, /^tokensPerUser\t5\tsystem \d{4}-/);
        const [one, json, offSwitch, unknown, outOfRange, notBoolean, missing] = await Promise.all([
          tallyAsync(['settings', 'get', 'tokensPerUser', ...args]),
          tallyAsync(['settings', 'get', '--json', ...args]),
          tallyAsync(['settings', 'set', 'selfServiceRequest', 'false', ...args]),
          tallyAsync(['settings', 'get', 'tokenLimit', ...args]),
          tallyAsync(['settings', 'set', 'tokensPerUser', '0', ...args]),
          tallyAsync(['settings', 'set', 'selfServiceReissue', 'off', ...args]),
          tallyAsync(['settings', 'set', 'tokensPerUser', ...args]),
        ]);
        assert.equal(one.stdout, '5\n');
        const listed = JSON.parse(json.stdout).settings.find((s: { name: string }) => s.name === 'tokensPerUser');
        assert.equal(listed.value, 5);
        assert.equal(listed.updatedBy, 'system');
        assert.equal(offSwitch.status, 0, offSwitch.stderr);
        assert.equal(unknown.status, 2);
        assert.match(unknown.stderr, /unknown setting "tokenLimit"/);
        assert.equal(outOfRange.status, 1);
        assert.match(outOfRange.stderr, /tokensPerUser must be a whole number from 1 to 100\./);
        assert.equal(notBoolean.status, 1);
        assert.match(notBoolean.stderr, /selfServiceReissue must be true or false\./);
        assert.equal(missing.status, 2, 'VALUE is required');
        assert.equal(tally(['settings', 'get', 'selfServiceRequest', ...args]).stdout, 'false\n');
      });
    });
  }
});
