import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { IdentitySourceInput } from '../../src/domain/directory.js';
import { freePort } from './cli.js';
import { interopRequired } from './peers.js';

export const SLAPD = '/usr/sbin/slapd';
export const SUFFIX = 'dc=example,dc=org';
export const ADMIN_DN = `cn=admin,${SUFFIX}`;
export const ADMIN_PASSWORD = 'directory-admin-secret';
/** The read-only account a source binds as to find users. */
export const READER_DN = `cn=tally-reader,ou=system,${SUFFIX}`;
export const READER_PASSWORD = 'reader-bind-Secret-41';
export const PEOPLE = `ou=people,${SUFFIX}`;
export const GROUPS = `ou=groups,${SUFFIX}`;
/** Every test user's password (the AD-shaped ones too). */
export const USER_PASSWORD = 'Directory-pass-7';
/** The objectGUID of the AD-shaped user `ada`, as AD's binary (mixed-endian) layout and as text. */
export const ADA_GUID_TEXT = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
export const ADA_GUID_BYTES = Buffer.from('3c2d1e0f5a4b78698796a5b4c3d2e1f0', 'hex');

/** Whether this machine can run the test directory (slapd and the tools that fill it). */
export function hasSlapd(): boolean {
  return existsSync(SLAPD) && spawnSync('sh', ['-c', 'command -v ldapadd && command -v openssl'], { stdio: 'ignore' }).status === 0;
}

export interface TestDirectory {
  /** ldap:// on loopback (StartTLS offered). */
  ldapUrl: string;
  /** ldaps:// on loopback, with a certificate for 127.0.0.1 and localhost. */
  ldapsUrl: string;
  /** The PEM file of the CA that signed the server's certificate. */
  caFile: string;
  /** Runs `ldapmodify` as the directory's admin (renames, disabling a user during a test). */
  modify(ldif: string): void;
  stop(): Promise<void>;
}

/**
 * Private schema for the test: the attribute names of Active Directory (with AD's own OIDs) and
 * the lock attributes of other servers, on an auxiliary class. A Samba AD domain controller is too
 * heavy for the test machine, so AD is stood in for by an OpenLDAP entry carrying its names.
 * pwdAccountLockedTime and nsAccountLock are declared here instead of loading ppolicy: the
 * directory does not enforce them, so the tests show that Tally refuses such a user itself.
 */
const TEST_SCHEMA = `
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.102 NAME 'memberOf'
  EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
attributetype ( 2.16.840.1.113730.3.1.610 NAME 'nsAccountLock'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.42.2.27.8.1.17 NAME 'pwdAccountLockedTime'
  EQUALITY generalizedTimeMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.17.1 NAME 'tallyTestExtras' AUXILIARY
  MAY ( sAMAccountName $ userPrincipalName $ objectGUID $ userAccountControl $ memberOf $
        nsAccountLock $ pwdAccountLockedTime ) )
`;

function person(uid: string, cn: string, extra = ''): string {
  return `dn: uid=${uid},${PEOPLE}
objectClass: inetOrgPerson
objectClass: tallyTestExtras
uid: ${uid}
cn: ${cn}
sn: ${cn.split(' ').at(-1)}
mail: ${uid}@example.org
mobile: +44 20 7946 0${uid.length}00
userPassword: ${USER_PASSWORD}
${extra}`;
}

/**
 * The people and groups: alice (help desk through a nested group), bob (super admin directly),
 * carol (plain user), dave (nsAccountLock), erin (pwdAccountLockedTime), and ada, an entry shaped
 * like an AD account (sAMAccountName, userPrincipalName, objectGUID, memberOf) with a disabled
 * twin, adam (userAccountControl 514: ACCOUNTDISABLE).
 */
const DATA = `dn: ${SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=system,${SUFFIX}
objectClass: organizationalUnit
ou: system

dn: ${READER_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: tally-reader
userPassword: ${READER_PASSWORD}

dn: ${PEOPLE}
objectClass: organizationalUnit
ou: people

dn: ${GROUPS}
objectClass: organizationalUnit
ou: groups

${person('alice', 'Alice Liddell')}
${person('bob', 'Bob Builder')}
${person('carol', 'Carol Danvers')}
${person('dave', 'Dave Locked', 'nsAccountLock: true\n')}
${person('erin', 'Erin Lockedout', 'pwdAccountLockedTime: 20260101000000Z\n')}
${person(
  'ada',
  'Ada Lovelace',
  `sAMAccountName: ada
userPrincipalName: ada@corp.example.org
objectGUID:: ${ADA_GUID_BYTES.toString('base64')}
userAccountControl: 512
memberOf: cn=helpdesk-staff,${GROUPS}
`,
)}
${person(
  'adam',
  'Adam Disabled',
  `sAMAccountName: adam
userPrincipalName: adam@corp.example.org
objectGUID:: ${Buffer.alloc(16, 7).toString('base64')}
userAccountControl: 514
`,
)}
dn: cn=tally-superadmins,${GROUPS}
objectClass: groupOfNames
cn: tally-superadmins
member: uid=bob,${PEOPLE}

dn: cn=helpdesk-staff,${GROUPS}
objectClass: groupOfNames
cn: helpdesk-staff
member: uid=alice,${PEOPLE}

dn: cn=tally-helpdesk,${GROUPS}
objectClass: groupOfNames
cn: tally-helpdesk
member: cn=helpdesk-staff,${GROUPS}
`;

function run(command: string, args: string[], input?: string): void {
  const result = spawnSync(command, args, { input, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} exited ${result.status}: ${result.stderr}`);
}

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server-key.pem');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    ca,
    '-days',
    '2',
    '-subj',
    '/CN=Tally test directory CA',
  ]);
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { ca, cert, key };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`slapd exited ${child.exitCode}: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`slapd did not listen on ${port}: ${log()}`);
}

/** Starts a private OpenLDAP in a temp dir on loopback, filled with the test people and groups. */
export async function startDirectory(): Promise<TestDirectory> {
  const dir = mkdtempSync(join(tmpdir(), 'tally-slapd-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const { ca, cert, key } = makeCertificates(dir);
  const schema = join(dir, 'tally-test.schema');
  writeFileSync(schema, TEST_SCHEMA);
  const conf = join(dir, 'slapd.conf');
  writeFileSync(
    conf,
    `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include ${schema}
pidfile ${join(dir, 'slapd.pid')}
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile ${ca}
TLSCertificateFile ${cert}
TLSCertificateKeyFile ${key}
database mdb
maxsize 10485760
suffix "${SUFFIX}"
rootdn "${ADMIN_DN}"
rootpw ${ADMIN_PASSWORD}
directory ${dataDir}
index objectClass eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
`,
  );
  const [ldapPort, ldapsPort] = [await freePort(), await freePort()];
  const ldapUrl = `ldap://127.0.0.1:${ldapPort}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  let output = '';
  const child = spawn(SLAPD, ['-f', conf, '-h', `${ldapUrl}/ ${ldapsUrl}/`, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(ldapPort, child, () => output);
    await waitForPort(ldapsPort, child, () => output);
    run('ldapadd', ['-x', '-H', ldapUrl, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD], DATA);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ldapUrl,
    ldapsUrl,
    caFile: ca,
    modify(ldif: string) {
      run('ldapmodify', ['-x', '-H', ldapUrl, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD], ldif);
    },
    stop,
  };
}

/**
 * One test directory for a whole test file: started before its tests and stopped after them.
 * `skip` is the option that skips a test when slapd is missing (which fails the file under
 * REQUIRE_INTEROP=1 instead); `directory()` is the running directory.
 */
export function directoryForFile(): { available: boolean; skip: { skip?: string }; directory(): TestDirectory } {
  const available = hasSlapd();
  if (!available && interopRequired()) throw new Error('REQUIRE_INTEROP=1 but slapd, ldapadd or openssl is missing');
  let running: TestDirectory | undefined;
  if (available) {
    before(async () => {
      running = await startDirectory();
    });
    after(async () => {
      await running?.stop();
    });
  }
  return {
    available,
    skip: available ? {} : { skip: 'slapd, ldapadd or openssl not installed' },
    directory() {
      if (!running) throw new Error('the test directory is not running');
      return running;
    },
  };
}

/** An OpenLDAP identity source on this directory: LDAPS under the test CA, the reader account, help desk by the (nested) help desk group. */
export function identitySourceOn(directory: TestDirectory, overrides: Partial<IdentitySourceInput> = {}): IdentitySourceInput {
  return {
    name: 'corp-ldap',
    type: 'ldap',
    preset: 'openldap',
    urls: [directory.ldapsUrl],
    caFile: directory.caFile,
    bindDn: READER_DN,
    bindPassword: READER_PASSWORD,
    baseDn: SUFFIX,
    roleGroups: { helpdesk: `cn=tally-helpdesk,${GROUPS}` },
    ...overrides,
  };
}
