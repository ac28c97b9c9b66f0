import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveConfig } from '../config.js';
import { isTallyError } from '../errors.js';
import { parsePostgresAddress } from './postgres-address.js';

describe('a PostgreSQL failover address list', () => {
  test('a URL lists its hosts in order, each with its port or the default 5432, and gives a single-host URL per host', () => {
    const address = parsePostgresAddress(
      'postgres://tally:pa55@db1.example.org:5433,10.0.0.2,[2001:db8::7]:6432/tally?target_session_attrs=read-write&application_name=t',
    );
    assert.deepEqual(address.servers, [
      { host: 'db1.example.org', port: 5433 },
      { host: '10.0.0.2', port: 5432 },
      { host: '2001:db8::7', port: 6432 },
    ]);
    assert.equal(address.targetSessionAttrs, 'read-write');
    assert.deepEqual(address.urls, [
      'postgres://tally:pa55@db1.example.org:5433/tally?application_name=t',
      'postgres://tally:pa55@10.0.0.2/tally?application_name=t',
      'postgres://tally:pa55@[2001:db8::7]:6432/tally?application_name=t',
    ]);
    assert.equal(address.description, 'db1.example.org:5433,10.0.0.2:5432,[2001:db8::7]:6432/tally');
  });

  test('one host and no target_session_attrs is the plain URL, with any', () => {
    const address = parsePostgresAddress('postgresql://u@127.0.0.1:5432/db/');
    assert.deepEqual(address.servers, [{ host: '127.0.0.1', port: 5432 }]);
    assert.equal(address.targetSessionAttrs, 'any');
    assert.deepEqual(address.urls, ['postgresql://u@127.0.0.1:5432/db']);
  });

  test('percent-encoding is kept in the URLs node-postgres reads and decoded in the description', () => {
    const address = parsePostgresAddress('postgres://u%40corp:p%2Fw%3A@%2Fvar%2Frun%2Fpostgresql,h2/my%20db?target_session_attrs=primary');
    assert.deepEqual(address.servers, [
      { host: '/var/run/postgresql', port: 5432 },
      { host: 'h2', port: 5432 },
    ]);
    assert.equal(address.targetSessionAttrs, 'primary');
    assert.equal(address.urls[1], 'postgres://u%40corp:p%2Fw%3A@h2/my%20db');
    assert.equal(address.description, '/var/run/postgresql:5432,h2:5432/my db');
  });

  test('keyword/value pairs: a host list, one port for all or one per host, quoted values', () => {
    const address = parsePostgresAddress(
      "host=h1,h2 port=5432,5433 user=tally password='a b\\'c' dbname=tally target_session_attrs=read-write sslmode=require",
    );
    assert.deepEqual(address.servers, [
      { host: 'h1', port: 5432 },
      { host: 'h2', port: 5433 },
    ]);
    assert.equal(address.targetSessionAttrs, 'read-write');
    assert.equal(address.urls[1], "postgres://tally:a%20b'c@h2:5433/tally?sslmode=require");
    assert.deepEqual(parsePostgresAddress('host=h1,::1 port=6000 dbname=d').servers, [
      { host: 'h1', port: 6000 },
      { host: '::1', port: 6000 },
    ]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['not a URL', 'https://u:pa55@h/db', /must be a URL starting with postgres: or postgresql:/],
    ['no scheme or pairs', 'pa55', /must be a URL starting with postgres:/],
    ['a port out of range', 'postgres://u:pa55@h1:5432,h2:70000/db', /has the port "70000", which is not a number from 1 to 65535/],
    ['a port that is no number', 'postgres://u:pa55@h1:x/db', /has the port "x"/],
    ['an empty host', 'postgres://u:pa55@h1,/db', /has an empty host in its host list/],
    ['an unbracketed IPv6 address', 'postgres://u:pa55@::1:5432/db', /an IPv6 address goes in brackets/],
    ['brackets round no IPv6 address', 'postgres://u:pa55@[db.example]:5432/db', /is not an IPv6 address/],
    ['a bad percent-encoding in the password', 'postgres://u:pa55%zz@h1/db', /has a bad percent-encoding in its user or password/],
    [
      'a standby-only target',
      'postgres://u:pa55@h1,h2/db?target_session_attrs=prefer-standby',
      /target_session_attrs=prefer-standby; Tally writes, so it takes any, read-write, primary/,
    ],
    ['an unknown target', 'postgres://u:pa55@h1/db?target_session_attrs=rw', /target_session_attrs=rw/],
    ['ports not matching hosts', 'host=h1,h2,h3 port=1,2 password=pa55', /has 3 hosts and 2 ports/],
    ['an unterminated quote', "host=h1 password='pa55", /keyword\/value pair it cannot read/],
    ['hostaddr', 'hostaddr=10.0.0.1 password=pa55', /has hostaddr/],
  ];
  for (const [what, raw, message] of bad) {
    test(`${what} is a CONFIG_INVALID naming --database-url, without the password`, () => {
      assert.throws(
        () => resolveConfig(['databaseUrl'], { databaseUrl: raw }, {}),
        (error: unknown) => {
          assert.ok(isTallyError(error) && error.code === 'CONFIG_INVALID', String(error));
          assert.match(error.message, /^--database-url /);
          assert.match(error.message, message);
          assert.doesNotMatch(error.message, /pa55/);
          return true;
        },
      );
    });
  }
});
