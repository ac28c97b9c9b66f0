import {
  type AttributeMapping,
  DIRECTORY_PRESET_VALUES,
  type IdentitySourceTest,
  type IdentitySourceView,
  type LastSync,
  type SyncReport,
} from '../../../../domain/directory.js';
import type { TallyError } from '../../../../errors.js';
import { DIRECTORY_PRESETS, type DirectoryPreset, type DirectoryState } from '../../../../model/vocabulary.js';
import { query, time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import {
  actionButton,
  backLink,
  checkboxField,
  consolePage,
  csrf,
  link,
  pageHead,
  ROLE_NAMES,
  table,
  textArea,
  textField,
  userLink,
  type Viewer,
} from './kit.js';

/** The Security Console's identity-source pages: the list in order, the add/edit form with presets, the test, sync and removal. */

export const PRESET_NAMES: Record<DirectoryPreset, string> = { ad: 'Active Directory', openldap: 'OpenLDAP' };

/** What each attribute of the mapping means, in the words of the form and the test page. */
const MAPPING_LABELS: Record<keyof AttributeMapping, string> = {
  login: 'Login name attribute',
  id: 'Stable id attribute',
  firstName: 'First name attribute',
  lastName: 'Last name attribute',
  mail: 'Mail attribute',
  mobile: 'Mobile attribute',
};
export const MAPPING_KEYS = Object.keys(MAPPING_LABELS) as (keyof AttributeMapping)[];

/** How each kind of directory says an account may not log on; Tally reads all of them whatever the preset. */
const REFUSAL_ATTRIBUTES: Record<DirectoryPreset, string> = {
  ad: 'userAccountControl (the ACCOUNTDISABLE and LOCKOUT bits)',
  openldap: 'pwdAccountLockedTime (ppolicy) and nsAccountLock',
};

const REFUSAL_REASONS: Record<string, string> = {
  userAccountControl: 'Disabled or locked in Active Directory (userAccountControl)',
  pwdAccountLockedTime: 'Locked by the password policy (pwdAccountLockedTime)',
  nsAccountLock: 'Locked (nsAccountLock)',
};

/** The add/edit form as text fields hold it: what was stored, what a preset fills, or what was sent. */
export interface SourceForm {
  name: string;
  preset: DirectoryPreset;
  urls: string;
  startTls: boolean;
  allowPlain: boolean;
  caFile: string;
  bindDn: string;
  baseDn: string;
  userFilter: string;
  attributes: AttributeMapping;
  superadminGroup: string;
  helpdeskGroup: string;
  timeoutSeconds: string;
}

/** An empty form with a preset's usual values. */
export function presetForm(preset: DirectoryPreset): SourceForm {
  const values = DIRECTORY_PRESET_VALUES[preset];
  return {
    name: '',
    preset,
    urls: '',
    startTls: false,
    allowPlain: false,
    caFile: '',
    bindDn: '',
    baseDn: '',
    userFilter: values.userFilter,
    attributes: { ...values.attributes },
    superadminGroup: '',
    helpdeskGroup: '',
    timeoutSeconds: '5',
  };
}

/** A stored source as the form shows it; with a preset, its user filter and mapping replaced by the preset's. */
export function sourceForm(source: IdentitySourceView, preset?: DirectoryPreset): SourceForm {
  const filled = preset ? DIRECTORY_PRESET_VALUES[preset] : undefined;
  return {
    name: source.name,
    preset: preset ?? source.preset,
    urls: source.urls.join('\n'),
    startTls: source.startTls,
    allowPlain: source.allowPlain,
    caFile: source.caFile ?? '',
    bindDn: source.bindDn,
    baseDn: source.baseDn,
    userFilter: filled?.userFilter ?? source.userFilter,
    attributes: { ...(filled?.attributes ?? source.attributes) },
    superadminGroup: source.roleGroups.superadmin ?? '',
    helpdeskGroup: source.roleGroups.helpdesk ?? '',
    timeoutSeconds: String(source.timeoutSeconds),
  };
}

function syncSummary(sync: LastSync | null): Html {
  if (!sync) return html`<span class="muted">Never</span>`;
  if (sync.outcome === 'failed')
    return html`${time(sync.at)} <span class="badge badge-failure">Failed</span> <span class="muted">${sync.error}</span>`;
  return html`${time(sync.at)} <span class="badge badge-active">OK</span> <span class="muted">${sync.checked} checked, ${sync.updated} updated, ${sync.gone} gone, ${sync.disabled} disabled</span>`;
}

export interface SourcesData {
  sources: IdentitySourceView[];
  notice?: Notice;
  error?: TallyError;
}

export function identitySourcesPage(viewer: Viewer, data: SourcesData): Html {
  const last = data.sources.length - 1;
  const row = (source: IdentitySourceView, index: number) => {
    const base = link('identity-sources', source.name);
    const move = (direction: 'up' | 'down', label: string) =>
      actionButton(viewer, `${base}/move`, label, { small: true, kind: 'quiet', fields: { direction } });
    return html`<tr>
  <td>${index + 1}</td>
  <td><strong>${source.name}</strong><br><span class="muted">${PRESET_NAMES[source.preset]}</span></td>
  <td class="mono">${source.urls.map((url) => html`${url}<br>`)}</td>
  <td class="mono">${source.baseDn}</td>
  <td class="mono">${source.loginAttribute}</td>
  <td>${syncSummary(source.lastSync)}</td>
  <td><div class="actions">${index > 0 ? move('up', `Move ${source.name} up`) : ''}${index < last ? move('down', `Move ${source.name} down`) : ''}<a class="button button-secondary button-small" href="${base}/test">Test</a><a class="button button-secondary button-small" href="${base}/edit">Edit</a>${actionButton(viewer, `${base}/sync`, 'Sync now', { small: true })}<a class="button button-danger button-small" href="${base}/remove">Remove</a></div></td>
</tr>`;
  };
  return consolePage(
    { ...viewer, section: 'sources' },
    {
      title: 'Identity sources',
      notice: data.notice,
      error: data.error,
      body: html`${pageHead(
        'Identity sources',
        html`<a class="button button-primary" href="${link('identity-sources', 'new')}">Add source</a>`,
        'Where Tally looks for a user who logs on or is given a token: its own users first, then each directory in this order. The first that has the login name decides.',
      )}
<section class="card" aria-labelledby="internal-title">
  <h2 id="internal-title">Internal users</h2>
  <p class="hint">Users created here, over REST or by CSV import, with passwords Tally keeps. Always looked in first, and never blocked by a directory outage.</p>
</section>
<section class="card" aria-labelledby="ldap-title">
  <h2 id="ldap-title">Directories</h2>
  ${table(
    'Directories in the order they are looked in',
    ['Order', 'Name', 'URLs', 'Base DN', 'Login attribute', 'Last sync', ''],
    data.sources.map(row),
    'No directory yet: only internal users can log on. Add an Active Directory or OpenLDAP source.',
  )}
  <p class="hint">Sync now compares the source's users here with the directory: names and roles are refreshed, users the directory disables are disabled, and users it no longer has are marked gone and their tokens stop authenticating. <a href="${link('users')}${query({ directoryState: 'gone' })}">Users who left the directory</a></p>
</section>`,
    },
  );
}

export interface SourceFormPage {
  /** The source being edited; absent when adding one. */
  editing?: string;
  form: SourceForm;
  error?: TallyError;
  notice?: Notice;
}

function presetsNote(target: string): Html {
  return html`<aside class="card card-note" aria-labelledby="presets-title">
  <h2 id="presets-title">Presets</h2>
  <p class="hint">A preset fills the user filter and the attribute mapping with the usual values of that kind of directory; what you typed elsewhere stays.</p>
  <p class="actions">${DIRECTORY_PRESETS.map((preset) => html`<a class="button button-secondary button-small" href="${target}${query({ preset })}">${PRESET_NAMES[preset]} preset</a>`)}</p>
  <dl class="facts facts-stacked">
    ${DIRECTORY_PRESETS.map(
      (preset) =>
        html`<div><dt>${PRESET_NAMES[preset]}</dt><dd>Login <code>${DIRECTORY_PRESET_VALUES[preset].attributes.login}</code>, stable id <code>${DIRECTORY_PRESET_VALUES[preset].attributes.id}</code>, filter <code>${DIRECTORY_PRESET_VALUES[preset].userFilter}</code>. Accounts refused by ${REFUSAL_ATTRIBUTES[preset]}.</dd></div>`,
    )}
  </dl>
  <p class="hint">Tally reads every one of those lock attributes whatever the preset, and stores no directory password: users log on by binding as themselves.</p>
</aside>`;
}

export function identitySourceFormPage(viewer: Viewer, data: SourceFormPage): Html {
  const { form, editing } = data;
  const title = editing ? `Edit ${editing}` : 'Add identity source';
  const action = editing ? link('identity-sources', editing, 'edit') : link('identity-sources');
  const target = editing ? link('identity-sources', editing, 'edit') : link('identity-sources', 'new');
  return consolePage(
    { ...viewer, section: 'sources' },
    {
      title,
      error: data.error,
      notice: data.notice,
      body: html`${backLink(link('identity-sources'), 'Identity sources')}
${pageHead(title, undefined, html`Settings as for <strong>${PRESET_NAMES[form.preset]}</strong>. Test the source with a user's login name once saved.`)}
<div class="columns columns-form">
  <form method="post" action="${action}" class="card form">
    ${csrf(viewer)}
    <input type="hidden" name="preset" value="${form.preset}">
    ${editing ? '' : textField('name', 'Name', form.name, { required: true, maxlength: 64, autofocus: !data.error, hint: 'Letters, digits and . _ -, e.g. “corp”. It cannot be changed later.' })}
    <h2 class="form-title">Connection</h2>
    ${textArea('urls', 'URLs', form.urls, { rows: 2, maxlength: 2100, required: true, placeholder: 'ldaps://dc1.corp.example.org\nldaps://dc2.corp.example.org', hint: 'One per line, tried in turn when one does not answer. ldaps://, or ldap:// with StartTLS.' })}
    ${checkboxField('startTls', 'Use StartTLS on ldap:// URLs', form.startTls)}
    ${textField('caFile', 'CA file', form.caFile, { maxlength: 1024, hint: "Path on the Tally server of the PEM file of the CA that signed the directory's certificate; empty to use the system's CAs." })}
    ${checkboxField('allowPlain', 'Allow plain ldap:// without TLS', form.allowPlain, 'Passwords then cross the network in clear: for a test directory only.')}
    ${textField('timeoutSeconds', 'Timeout (seconds)', form.timeoutSeconds, { type: 'number', min: 1, max: 60, required: true, hint: 'On connecting and on each search.' })}
    <h2 class="form-title">Bind account</h2>
    ${textField('bindDn', 'Bind DN', form.bindDn, { required: true, maxlength: 1024, placeholder: 'cn=tally-reader,ou=system,dc=corp,dc=example,dc=org', hint: 'A read-only account Tally binds as to find users.' })}
    ${textField('bindPassword', 'Bind password', undefined, { type: 'password', maxlength: 1024, required: !editing, autocomplete: 'new-password', hint: editing ? 'Leave empty to keep the current one. It is sealed under the master key and never shown.' : 'Sealed under the master key and never shown again.' })}
    <h2 class="form-title">Users</h2>
    ${textField('baseDn', 'Base DN', form.baseDn, { required: true, maxlength: 1024, placeholder: 'dc=corp,dc=example,dc=org', hint: 'Where users and groups are searched.' })}
    ${textField('userFilter', 'User filter', form.userFilter, { required: true, maxlength: 1024, hint: "The filter a user's entry must match." })}
    ${MAPPING_KEYS.map((key) => textField(`attr_${key}`, MAPPING_LABELS[key], form.attributes[key], { required: true, maxlength: 128, ...(key === 'id' ? { hint: 'Never changes for a person, so a renamed user keeps their tokens.' } : {}) }))}
    <h2 class="form-title">Roles from groups</h2>
    ${textField('superadminGroup', 'Super admin group', form.superadminGroup, { maxlength: 1024, hint: 'DN of the group whose members, directly or through nested groups, are super admins. Empty for none.' })}
    ${textField('helpdeskGroup', 'Help desk group', form.helpdeskGroup, { maxlength: 1024, hint: 'DN of the group whose members are help desk administrators. Empty for none.' })}
    <div class="form-actions"><button type="submit" class="button button-primary">${editing ? 'Save source' : 'Add source'}</button><a class="button button-secondary" href="${link('identity-sources')}">Cancel</a></div>
  </form>
  ${presetsNote(target)}
</div>`,
    },
  );
}

export interface SourceTestPage {
  source: IdentitySourceView;
  username?: string;
  result?: IdentitySourceTest;
  error?: TallyError;
}

function fact(label: string, attribute: string | null, value: string | null | Html): Html {
  return html`<div><dt>${label}${attribute ? html` <span class="muted">(${attribute})</span>` : ''}</dt><dd>${value === null || value === '' ? html`<span class="muted">—</span>` : value}</dd></div>`;
}

function testResult(source: IdentitySourceView, result: IdentitySourceTest): Html {
  const { found } = result;
  const attributes = source.attributes;
  const name = [found.firstName, found.lastName].filter(Boolean).join(' ');
  return html`<section class="card" aria-labelledby="found-title">
  <h2 id="found-title">Found ${found.login}</h2>
  <dl class="facts facts-stacked">
    ${fact('DN', null, html`<span class="mono">${found.dn}</span>`)}
    ${fact('Login name', attributes.login, found.login)}
    ${fact('Display name', `${attributes.firstName}, ${attributes.lastName}`, name)}
    ${fact('Mail', attributes.mail, found.email)}
    ${fact('Mobile', attributes.mobile, found.mobile)}
    ${fact('Stable id', attributes.id, html`<span class="mono">${found.externalId}</span>`)}
    ${fact('Groups', null, result.groups.length ? html`<ul class="plain-list">${result.groups.map((group) => html`<li class="mono">${group}</li>`)}</ul>` : null)}
    ${fact('Role', null, found.role ? (ROLE_NAMES[found.role] ?? found.role) : 'No role groups are set: the role is kept as it is in Tally')}
    ${fact('Log-on', null, found.refused ? html`<span class="badge badge-failure">Refused</span> ${REFUSAL_REASONS[found.refused] ?? found.refused}` : html`<span class="badge badge-active">Allowed</span>`)}
  </dl>
  <p class="hint">Asked ${result.url ?? 'the first URL'} first. Tally binds as the user only when they log on; this test does not check their password.</p>
</section>`;
}

export function identitySourceTestPage(viewer: Viewer, data: SourceTestPage): Html {
  const { source } = data;
  const base = link('identity-sources', source.name);
  return consolePage(
    { ...viewer, section: 'sources' },
    {
      title: `Test ${source.name}`,
      error: data.error,
      body: html`${backLink(link('identity-sources'), 'Identity sources')}
${pageHead(`Test ${source.name}`, html`<a class="button button-secondary" href="${base}/edit">Edit</a>`, 'Bind and find this user: Tally binds with the source’s account, finds the login name with the user filter, and shows what each attribute maps to.')}
<form method="post" action="${base}/test" class="card form form-inline">
  ${csrf(viewer)}
  ${textField('username', 'Login name', data.username, { required: true, maxlength: 256, autofocus: !data.result, hint: `Looked for in ${source.loginAttribute} under ${source.baseDn}.` })}
  <button type="submit" class="button button-primary">Test</button>
</form>
${data.result ? testResult(source, data.result) : ''}`,
    },
  );
}

export const DIRECTORY_STATE_LABELS: Record<DirectoryState, string> = {
  present: 'Present',
  disabled: 'Disabled in the directory',
  gone: 'Left the directory',
};

export function syncReportPage(viewer: Viewer, report: SyncReport): Html {
  const people = (names: string[], empty: string) =>
    names.length
      ? html`<ul class="plain-list">${names.map((name) => html`<li>${userLink(name)}</li>`)}</ul>`
      : html`<p class="empty-note">${empty}</p>`;
  return consolePage(
    { ...viewer, section: 'sources' },
    {
      title: `Synced ${report.source}`,
      notice: {
        kind: report.gone.length ? 'warning' : 'success',
        text: `${report.source}: ${report.checked} checked, ${report.updated} updated, ${report.gone.length} gone, ${report.disabled.length} disabled.`,
      },
      body: html`${backLink(link('identity-sources'), 'Identity sources')}
${pageHead(`Synced ${report.source}`)}
<div class="columns">
  <section class="card" aria-labelledby="gone-title">
    <h2 id="gone-title">${DIRECTORY_STATE_LABELS.gone}</h2>
    <p class="hint">Disabled here: their tokens no longer authenticate. Their records and tokens are kept for the audit trail.</p>
    ${people(report.gone, 'Nobody.')}
  </section>
  <section class="card" aria-labelledby="disabled-title">
    <h2 id="disabled-title">${DIRECTORY_STATE_LABELS.disabled}</h2>
    ${people(report.disabled, 'Nobody.')}
  </section>
</div>`,
    },
  );
}

export function removeSourcePage(viewer: Viewer, source: IdentitySourceView, error?: TallyError): Html {
  const base = link('identity-sources', source.name);
  return consolePage(
    { ...viewer, section: 'sources' },
    {
      title: `Remove ${source.name}`,
      error,
      body: html`${backLink(link('identity-sources'), 'Identity sources')}
${pageHead(`Remove ${source.name}`)}
<form method="post" action="${base}/remove" class="card form">
  ${csrf(viewer)}
  <p>Users from ${source.name} keep their records and tokens, but are marked gone and disabled: they can no longer log on, and their tokens stop authenticating.</p>
  ${checkboxField('confirm', `Remove ${source.name} and disable its users`, false)}
  <div class="form-actions"><button type="submit" class="button button-danger">Remove source</button><a class="button button-secondary" href="${link('identity-sources')}">Cancel</a></div>
</form>`,
    },
  );
}
