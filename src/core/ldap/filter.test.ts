import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  equalityFilter,
  escapeFilterValue,
  groupsWithMembersFilter,
  guidText,
  inChainMemberFilter,
  inChainMemberOfFilter,
  isAttributeName,
  isWellFormedFilter,
  userAccountControlRefuses,
  userFilter,
} from './filter.js';

describe('RFC 4515 filter values', () => {
  const vectors: [string, string][] = [
    ['alice', 'alice'],
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['a\0b', 'a\\00b'],
    ['back\\slash', 'back\\5cslash'],
    ['(parens)', '\\28parens\\29'],
    // RFC 4515 section 4's examples
    ['Parens R Us (for all your parenthetical needs)', 'Parens R Us \\28for all your parenthetical needs\\29'],
    ['Lučić', 'Lu\\c4\\8di\\c4\\87'],
    ['new\nline', 'new\\0aline'],
  ];
  for (const [value, escaped] of vectors) {
    test(`escapes ${JSON.stringify(value)}`, () => assert.equal(escapeFilterValue(value), escaped));
  }

  test('an injection attempt stays inside one equality term', () => {
    const filter = userFilter('(objectClass=inetOrgPerson)', 'uid', '*)(uid=*');
    assert.equal(filter, '(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))');
    assert.ok(isWellFormedFilter(filter));
  });

  test('attribute names are checked, never escaped', () => {
    assert.equal(equalityFilter('sAMAccountName', 'ada'), '(sAMAccountName=ada)');
    assert.ok(isAttributeName('1.2.840.113556.1.4.221'));
    assert.ok(isAttributeName('cn;lang-en'));
    for (const bad of ['uid=*', 'uid)(x', '', 'a b', '9abc', 'a'.repeat(129)]) {
      assert.equal(isAttributeName(bad), false, bad);
      assert.throws(() => equalityFilter(bad, 'x'), RangeError);
    }
  });

  test('an administrator filter must be one balanced filter', () => {
    for (const good of ['(objectClass=person)', '(&(objectClass=user)(!(cn=x\\29y)))', '(|(a=1)(b=2))']) {
      assert.ok(isWellFormedFilter(good), good);
    }
    for (const bad of ['objectClass=person', '(a=1)(b=2)', '(a=1))(', '((a=1)', '(a=\\zz)', '(a=\0)', '(a=1)x)']) {
      assert.equal(isWellFormedFilter(bad), false, bad);
      assert.throws(() => userFilter(bad, 'uid', 'x'), RangeError);
    }
  });

  test('group filters escape the member DNs', () => {
    assert.equal(
      groupsWithMembersFilter(['uid=a\\2c b,dc=x', 'cn=(g)']),
      '(|(member=uid=a\\5c2c b,dc=x)(uniqueMember=uid=a\\5c2c b,dc=x)(member=cn=\\28g\\29)(uniqueMember=cn=\\28g\\29))',
    );
    assert.equal(inChainMemberFilter('CN=Ada,DC=corp'), '(member:1.2.840.113556.1.4.1941:=CN=Ada,DC=corp)');
    assert.equal(inChainMemberOfFilter('CN=vpn*)(x=*,DC=corp'), '(memberOf:1.2.840.113556.1.4.1941:=CN=vpn\\2a\\29\\28x=\\2a,DC=corp)');
  });
});

describe('Active Directory values', () => {
  test('userAccountControl: ACCOUNTDISABLE and LOCKOUT refuse; a normal account does not', () => {
    assert.equal(userAccountControlRefuses('512'), false); // NORMAL_ACCOUNT
    assert.equal(userAccountControlRefuses('66048'), false); // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    assert.equal(userAccountControlRefuses('514'), true); // | ACCOUNTDISABLE
    assert.equal(userAccountControlRefuses('528'), true); // | LOCKOUT
    assert.equal(userAccountControlRefuses('66050'), true);
    for (const unreadable of ['', 'abc', '1e3', '99999999999999']) assert.equal(userAccountControlRefuses(unreadable), true);
  });

  test('objectGUID: the first three fields little-endian, as AD writes it', () => {
    const bytes = Buffer.from('3c2d1e0f5a4b78698796a5b4c3d2e1f0', 'hex');
    assert.equal(guidText(bytes), '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0');
    assert.equal(guidText(Buffer.alloc(15)), undefined);
    assert.equal(guidText(Buffer.alloc(17)), undefined);
  });
});
