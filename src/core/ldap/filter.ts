/**
 * LDAP search filters (RFC 4515) and the values Active Directory encodes its own way. Every value
 * a filter takes from outside goes through `escapeFilterValue`, so `*)(uid=*` is a name to look
 * for, never filter syntax.
 */

/** RFC 4515 section 3: `*`, `(`, `)`, `\` and NUL as `\XX`; bytes outside ASCII too, so any text is safe. */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += byte < 0x20 || byte > 0x7e || '*()\\'.includes(char) ? `\\${byte.toString(16).padStart(2, '0')}` : char;
  }
  return out;
}

/** An attribute description: a name or an OID, with options (`cn;lang-en`); nothing a filter could be broken by. */
const ATTRIBUTE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)(?:;[A-Za-z0-9-]+)*$/;

export function isAttributeName(name: string): boolean {
  return ATTRIBUTE.test(name) && name.length <= 128;
}

function attribute(name: string): string {
  if (!isAttributeName(name)) throw new RangeError(`not an LDAP attribute name: ${name.slice(0, 40)}`);
  return name;
}

/** `(attr=value)` with the value escaped. */
export function equalityFilter(name: string, value: string): string {
  return `(${attribute(name)}=${escapeFilterValue(value)})`;
}

/**
 * Whether a filter an administrator wrote is one parenthesised filter with balanced parentheses
 * (escapes counted), so that ANDing it with a user's name cannot change what the name matches.
 */
export function isWellFormedFilter(filter: string): boolean {
  if (!filter.startsWith('(') || !filter.endsWith(')') || filter.length > 1024) return false;
  let depth = 0;
  for (let i = 0; i < filter.length; i++) {
    const char = filter[i];
    if (char === '\\') {
      if (!/^[0-9A-Fa-f]{2}$/.test(filter.slice(i + 1, i + 3))) return false;
      i += 2;
    } else if (char === '(') depth++;
    else if (char === ')') {
      depth--;
      if (depth < 0 || (depth === 0 && i !== filter.length - 1)) return false;
    } else if (char === '\0') return false;
  }
  return depth === 0;
}

/** The filter that finds one user by login name within the source's own user filter. */
export function userFilter(userClassFilter: string, loginAttribute: string, login: string): string {
  if (!isWellFormedFilter(userClassFilter)) throw new RangeError('the user filter is not one well-formed filter');
  return `(&${userClassFilter}${equalityFilter(loginAttribute, login)})`;
}

/** Active Directory's matching rule that follows group membership through nested groups. */
export const AD_IN_CHAIN = '1.2.840.113556.1.4.1941';

/** Whether `memberDn` is a member of the group, directly or through nested groups, as AD evaluates it. */
export function inChainMemberFilter(memberDn: string): string {
  return `(member:${AD_IN_CHAIN}:=${escapeFilterValue(memberDn)})`;
}

/** Entries in the group, directly or through nested groups, as AD evaluates it (the group's DN escaped). */
export function inChainMemberOfFilter(groupDn: string): string {
  return `(memberOf:${AD_IN_CHAIN}:=${escapeFilterValue(groupDn)})`;
}

/** Groups naming any of these DNs as a member (groupOfNames' `member` or groupOfUniqueNames' `uniqueMember`). */
export function groupsWithMembersFilter(memberDns: readonly string[]): string {
  const terms = memberDns.flatMap((dn) => [equalityFilter('member', dn), equalityFilter('uniqueMember', dn)]);
  return `(|${terms.join('')})`;
}

/** userAccountControl's ACCOUNTDISABLE (0x2) and LOCKOUT (0x10) bits. */
const UAC_ACCOUNTDISABLE = 0x2;
const UAC_LOCKOUT = 0x10;

/** Whether an AD userAccountControl value says the account may not log on. Anything unreadable counts as refused. */
export function userAccountControlRefuses(value: string): boolean {
  if (!/^-?\d{1,11}$/.test(value.trim())) return true;
  const flags = Number(value.trim()) >>> 0;
  return (flags & (UAC_ACCOUNTDISABLE | UAC_LOCKOUT)) !== 0;
}

/**
 * AD's objectGUID bytes as the text AD shows: the first three fields are little-endian, the rest
 * in order. Undefined unless exactly 16 bytes.
 */
export function guidText(bytes: Uint8Array): string | undefined {
  if (bytes.length !== 16) return undefined;
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(bytes.subarray(from, to));
    return (reverse ? part.reverse() : part).map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}
