import { systemActor } from '../../domain/actor.js';
import type { IdentitySourceView } from '../../domain/directory.js';
import { DIRECTORY_PRESETS, type DirectoryPreset } from '../../model/vocabulary.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withServices } from '../store.js';

const name = { type: 'string', doc: "The source's name.", required: true } as const;
const json = { type: 'boolean', doc: 'Print JSON.' } as const;

const addCommand = defineCommand({
  name: 'identity-source add',
  summary: 'Add an LDAP or Active Directory identity source; its bind password is read from standard input.',
  settings: [...storeSettings, 'masterKey'],
  options: {
    name,
    preset: { type: 'string', doc: 'openldap or ad: the usual user filter and attributes.', choices: DIRECTORY_PRESETS },
    url: {
      type: 'string',
      doc: 'ldaps:// (or ldap:// with --start-tls) URL; repeat for failover, tried in turn.',
      required: true,
      multiple: true,
    },
    startTls: { type: 'boolean', doc: 'Upgrade ldap:// URLs with StartTLS.' },
    caFile: { type: 'string', doc: "PEM file of the CA that signed the directory's certificate." },
    allowPlain: { type: 'boolean', doc: 'Allow ldap:// without TLS (passwords cross the network in clear).' },
    bindDn: { type: 'string', doc: 'The DN Tally binds as to find users.', required: true },
    baseDn: { type: 'string', doc: 'Where users (and groups) are searched.', required: true },
    userFilter: { type: 'string', doc: "The filter a user's entry must match, e.g. (objectClass=inetOrgPerson)." },
    loginAttribute: { type: 'string', doc: 'The attribute holding the login name: uid, sAMAccountName, userPrincipalName.' },
    superadminGroup: { type: 'string', doc: 'Group DN whose members are super admins.' },
    helpdeskGroup: { type: 'string', doc: 'Group DN whose members are help desk administrators.' },
    timeoutSeconds: { type: 'string', doc: 'Timeout on connecting and on each operation (default 5).' },
    syncIntervalMinutes: {
      type: 'string',
      doc: 'Minutes between the syncs the server runs by itself (default 60); 0: only by `identity-source sync`.',
    },
    json,
  },
  notes: ['The bind password is the first line of standard input, so that it stays out of the process list and shell history.'],
  async run({ config, options, io }) {
    const bindPassword = (await io.readStdin()).split(/\r?\n/)[0] ?? '';
    return withServices(config, async (services) => {
      const roleGroups = {
        ...(options.superadminGroup ? { superadmin: String(options.superadminGroup) } : {}),
        ...(options.helpdeskGroup ? { helpdesk: String(options.helpdeskGroup) } : {}),
      };
      const source = await services.directory.create(systemActor, {
        name: String(options.name),
        type: 'ldap',
        preset: options.preset as DirectoryPreset | undefined,
        urls: options.url as string[],
        startTls: options.startTls === true,
        caFile: options.caFile === undefined ? null : String(options.caFile),
        allowPlain: options.allowPlain === true,
        bindDn: String(options.bindDn),
        bindPassword,
        baseDn: String(options.baseDn),
        ...(options.userFilter !== undefined ? { userFilter: String(options.userFilter) } : {}),
        ...(options.loginAttribute !== undefined ? { loginAttribute: String(options.loginAttribute) } : {}),
        roleGroups,
        ...(options.timeoutSeconds !== undefined ? { timeoutSeconds: Number(options.timeoutSeconds) } : {}),
        ...(options.syncIntervalMinutes !== undefined ? { syncIntervalMinutes: Number(options.syncIntervalMinutes) } : {}),
      });
      io.out(options.json ? `${JSON.stringify(source)}\n` : `${source.name}\t${source.position}\t${source.urls.join(' ')}\n`);
      return EXIT.ok;
    });
  },
});

const onOff = { type: 'string', choices: ['on', 'off'] } as const;

const editCommand = defineCommand({
  name: 'identity-source edit',
  summary: "Change a source's settings; what is not given stays as it is.",
  settings: [...storeSettings, 'masterKey'],
  options: {
    name,
    url: { type: 'string', doc: 'The URLs, all of them, in the order tried (repeat the option).', multiple: true },
    startTls: { ...onOff, doc: 'on or off: upgrade ldap:// URLs with StartTLS.' },
    caFile: { type: 'string', doc: "PEM file of the CA that signed the directory's certificate ('' for the system's CAs)." },
    allowPlain: { ...onOff, doc: 'on or off: allow ldap:// without TLS.' },
    bindDn: { type: 'string', doc: 'The DN Tally binds as to find users.' },
    bindPasswordStdin: { type: 'boolean', doc: 'Read a new bind password from the first line of standard input.' },
    baseDn: { type: 'string', doc: 'Where users (and groups) are searched.' },
    userFilter: { type: 'string', doc: "The filter a user's entry must match." },
    loginAttribute: { type: 'string', doc: 'The attribute holding the login name.' },
    superadminGroup: { type: 'string', doc: "Group DN whose members are super admins ('' for none)." },
    helpdeskGroup: { type: 'string', doc: "Group DN whose members are help desk administrators ('' for none)." },
    timeoutSeconds: { type: 'string', doc: 'Timeout on connecting and on each operation.' },
    syncIntervalMinutes: { type: 'string', doc: 'Minutes between the syncs the server runs by itself; 0: only when asked.' },
    json,
  },
  async run({ config, options, io }) {
    const bindPassword = options.bindPasswordStdin ? ((await io.readStdin()).split(/\r?\n/)[0] ?? '') : undefined;
    return withServices(config, async (services) => {
      const current = (await services.directory.list(systemActor)).find((source) => source.name === options.name);
      const group = (given: unknown, kept: string | undefined) => (given === undefined ? kept : String(given) || undefined);
      const roleGroups =
        options.superadminGroup === undefined && options.helpdeskGroup === undefined
          ? undefined
          : {
              ...optional('superadmin', group(options.superadminGroup, current?.roleGroups.superadmin)),
              ...optional('helpdesk', group(options.helpdeskGroup, current?.roleGroups.helpdesk)),
            };
      const source = await services.directory.update(systemActor, String(options.name), {
        ...optional('urls', options.url as string[] | undefined),
        ...optional('startTls', options.startTls === undefined ? undefined : options.startTls === 'on'),
        ...optional('caFile', options.caFile === undefined ? undefined : String(options.caFile) || null),
        ...optional('allowPlain', options.allowPlain === undefined ? undefined : options.allowPlain === 'on'),
        ...optional('bindDn', options.bindDn as string | undefined),
        ...optional('bindPassword', bindPassword),
        ...optional('baseDn', options.baseDn as string | undefined),
        ...optional('userFilter', options.userFilter as string | undefined),
        ...optional('loginAttribute', options.loginAttribute as string | undefined),
        ...optional('roleGroups', roleGroups),
        ...optional('timeoutSeconds', options.timeoutSeconds === undefined ? undefined : Number(options.timeoutSeconds)),
        ...optional('syncIntervalMinutes', options.syncIntervalMinutes === undefined ? undefined : Number(options.syncIntervalMinutes)),
      });
      io.out(options.json ? `${JSON.stringify(source)}\n` : `${source.name}\t${source.position}\t${source.urls.join(' ')}\n`);
      return EXIT.ok;
    });
  },
});

/** `{key: value}` when the value is given, else nothing: a change names only what it changes. */
function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

const orderCommand = defineCommand({
  name: 'identity-source order',
  summary: 'Set the order in which sources are asked for a user: every source, first to last.',
  settings: [...storeSettings, 'masterKey'],
  options: { name: { ...name, doc: 'A source; repeat for each, first to last.', multiple: true }, json },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const sources = await services.directory.reorder(systemActor, options.name as string[]);
      io.out(
        options.json
          ? `${JSON.stringify({ identitySources: sources })}\n`
          : sources.map((source) => `${source.position}\t${source.name}\n`).join(''),
      );
      return EXIT.ok;
    });
  },
});

const listCommand = defineCommand({
  name: 'identity-source list',
  summary:
    'List the identity sources in the order users are looked for, with their sync interval and last sync (never their bind passwords).',
  settings: [...storeSettings, 'masterKey'],
  options: { json },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const sources = await services.directory.list(systemActor);
      io.out(
        options.json
          ? `${JSON.stringify({ identitySources: sources })}\n`
          : sources.map((s) => `${s.position}\t${s.name}\t${s.preset}\t${s.urls.join(' ')}\t${s.baseDn}\t${syncText(s)}\n`).join(''),
      );
      return EXIT.ok;
    });
  },
});

/** A source's sync as a list line shows it: its interval, and how the last one ended. */
function syncText(source: IdentitySourceView): string {
  const every = source.syncIntervalMinutes === 0 ? 'sync off' : `sync every ${source.syncIntervalMinutes} min`;
  const last = source.lastSync;
  if (!last) return `${every}, never synced`;
  return last.outcome === 'ok'
    ? `${every}, last ${last.at} ok: checked ${last.checked}, updated ${last.updated}, gone ${last.gone}, disabled ${last.disabled}`
    : `${every}, last ${last.at} failed: ${last.error}`;
}

const testCommand = defineCommand({
  name: 'identity-source test',
  summary: 'Bind and find this user: print what the source finds and how its attributes map.',
  settings: [...storeSettings, 'masterKey'],
  options: { name, username: { type: 'string', doc: 'The login name to look for.', required: true } },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const result = await services.directory.test(systemActor, String(options.name), String(options.username));
      io.out(`${JSON.stringify(result, null, 2)}\n`);
      return EXIT.ok;
    });
  },
});

const syncCommand = defineCommand({
  name: 'identity-source sync',
  summary: "Refresh the source's users from the directory; users gone from it are disabled and listed.",
  settings: [...storeSettings, 'masterKey'],
  options: { name, json },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const report = await services.directory.sync(systemActor, String(options.name));
      io.out(
        options.json
          ? `${JSON.stringify(report)}\n`
          : `checked ${report.checked}, updated ${report.updated}\n${report.gone.map((u) => `gone\t${u}\n`).join('')}${report.disabled.map((u) => `disabled\t${u}\n`).join('')}`,
      );
      return EXIT.ok;
    });
  },
});

const removeCommand = defineCommand({
  name: 'identity-source remove',
  summary: 'Remove a source: its users keep their records but can no longer log on or authenticate.',
  settings: [...storeSettings, 'masterKey'],
  options: { name },
  async run({ config, options }) {
    return withServices(config, async (services) => {
      await services.directory.remove(systemActor, String(options.name));
      return EXIT.ok;
    });
  },
});

export const identitySourceCommands = [addCommand, editCommand, orderCommand, listCommand, testCommand, syncCommand, removeCommand];
