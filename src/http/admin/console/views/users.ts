import type { AuditEvent } from '../../../../domain/audit.js';
import type { AuthResult } from '../../../../domain/authentication.js';
import type { ProfileView } from '../../../../domain/profiles.js';
import type { TokenView } from '../../../../domain/tokens.js';
import type { UserImportReport, UserView } from '../../../../domain/users.js';
import type { TallyError } from '../../../../errors.js';
import { DIRECTORY_STATES, type DirectoryState, USER_ROLES, type UserRole } from '../../../../model/vocabulary.js';
import { query, time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import { DIRECTORY_STATE_LABELS } from './identity-sources.js';
import {
  actionButton,
  backLink,
  consolePage,
  csrf,
  fileField,
  link,
  may,
  pageHead,
  pager,
  ROLE_NAMES,
  resultBadge,
  selectField,
  serialLink,
  stateBadge,
  TYPE_NAMES,
  table,
  textArea,
  textField,
  type Viewer,
} from './kit.js';

const PAGE = 50;

function fullName(user: UserView): string {
  return [user.firstName, user.lastName].filter(Boolean).join(' ');
}

/** Where a user comes from: Tally's own store, or a directory and what it last said of them. */
function sourceOf(user: UserView): Html {
  if (user.directoryState === null) return html`Internal`;
  return html`${user.source ?? html`<span class="muted">a removed source</span>`}`;
}

function directoryBadge(user: UserView): Html {
  if (user.directoryState === null) return html`<span class="muted">—</span>`;
  const kind = { present: 'active', disabled: 'disabled', gone: 'failure' }[user.directoryState];
  return html`<span class="badge badge-${kind}">${DIRECTORY_STATE_LABELS[user.directoryState]}</span>`;
}

const DIRECTORY_FILTERS = [
  { value: '', label: 'All users' },
  ...DIRECTORY_STATES.map((state) => ({ value: state, label: DIRECTORY_STATE_LABELS[state] })),
];

function userStatus(user: UserView): Html {
  if (user.disabled) return html`<span class="badge badge-disabled">Disabled</span>`;
  if (user.locked) return html`<span class="badge badge-failure">Locked</span>`;
  return html`<span class="badge badge-active">Enabled</span>`;
}

export function usersPage(
  viewer: Viewer,
  data: { users: UserView[]; search?: string; directoryState?: DirectoryState; after?: string; more: boolean; notice?: Notice },
): Html {
  const actions = html`<a class="button button-secondary" href="${link('users', 'import')}">Import from CSV</a><a class="button button-primary" href="${link('users', 'new')}">Create user</a>`;
  const at = (after?: string) => `${link('users')}${query({ q: data.search, directoryState: data.directoryState, after })}`;
  const empty = data.directoryState
    ? `No user is “${DIRECTORY_STATE_LABELS[data.directoryState]}”${data.search ? ` and has a name starting “${data.search}”` : ''}.`
    : data.search
      ? `No username starts with “${data.search}”.`
      : 'No users yet.';
  return consolePage(
    { ...viewer, section: 'users' },
    {
      title: 'Users',
      notice: data.notice,
      body: html`${pageHead('Users', actions)}
<form method="get" action="${link('users')}" class="form filters filters-search filters-search-choice" role="search">
  ${textField('q', 'Find users', data.search, { type: 'search', maxlength: 128, placeholder: 'The start of a username', hint: 'Any case.' })}
  ${selectField('directoryState', 'Directory', DIRECTORY_FILTERS, data.directoryState ?? '')}
  <button type="submit" class="button button-secondary">Search</button>
</form>
${data.directoryState === 'gone' ? html`<p class="hint">Users the last sync no longer found in their directory: they are disabled, and their tokens no longer authenticate.</p>` : ''}
${table(
  'Users',
  ['Username', 'Name', 'Email', 'Role', 'Source', 'Directory', 'State', 'Created'],
  data.users.map(
    (user) =>
      html`<tr><td><a href="${link('users', user.username)}">${user.username}</a></td><td>${fullName(user)}</td><td>${user.email ?? ''}</td><td>${ROLE_NAMES[user.role]}</td><td>${sourceOf(user)}</td><td>${directoryBadge(user)}</td><td>${userStatus(user)}</td><td>${time(user.createdAt)}</td></tr>`,
  ),
  empty,
)}
${pager(data.after !== undefined ? at() : undefined, data.more ? at(data.users.at(-1)?.username) : undefined, 'first')}`,
    },
  );
}

export const USERS_PAGE = PAGE;

export interface UserForm {
  username?: string;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  role?: UserRole;
}

const ROLE_OPTIONS = USER_ROLES.map((role) => ({ value: role, label: ROLE_NAMES[role] ?? role }));

export function newUserPage(viewer: Viewer, form: UserForm = {}, error?: TallyError): Html {
  return consolePage(
    { ...viewer, section: 'users' },
    {
      title: 'Create user',
      error,
      body: html`${pageHead('Create user')}
<form method="post" action="${link('users')}" class="card form form-grid">
  ${csrf(viewer)}
  ${textField('username', 'Username', form.username, { required: true, maxlength: 128, autofocus: !error, hint: 'Letters, digits and . _ @ -; it cannot be changed later.' })}
  ${textField('email', 'Email', form.email, { type: 'email', maxlength: 320, hint: 'Where Tally mails the user about their tokens.' })}
  ${textField('firstName', 'First name', form.firstName, { maxlength: 128 })}
  ${textField('lastName', 'Last name', form.lastName, { maxlength: 128 })}
  ${textField('password', 'Password', undefined, { type: 'password', maxlength: 1024, autocomplete: 'new-password', hint: 'For the Self-Service Console; leave empty for a user who only authenticates.' })}
  ${may(viewer, 'users.setRole') ? selectField('role', 'Role', ROLE_OPTIONS, form.role ?? 'user', { hint: 'Help desk and super admins log on to this console.' }) : ''}
  <div class="form-actions"><button type="submit" class="button button-primary">Create user</button><a class="button button-secondary" href="${link('users')}">Cancel</a></div>
</form>`,
    },
  );
}

export function importUsersPage(viewer: Viewer, error?: TallyError, csvText?: string): Html {
  return consolePage(
    { ...viewer, section: 'users' },
    {
      title: 'Import users',
      error,
      body: html`${pageHead('Import users from CSV', undefined, 'A header row, then a row per user. Each row is created on its own: the report says what happened to every row.')}
<div class="columns columns-form">
  <form method="post" action="${link('users', 'import')}" enctype="multipart/form-data" class="card form">
    ${csrf(viewer)}
    ${fileField('file', 'CSV file', { accept: '.csv,text/csv,text/plain' })}
    ${textArea('csv', 'Or paste the CSV', csvText, { rows: 8, maxlength: 2_000_000, placeholder: 'username,email,firstName,lastName\nalice,alice@example.com,Alice,Smith' })}
    <div class="form-actions"><button type="submit" class="button button-primary">Import</button><a class="button button-secondary" href="${link('users')}">Cancel</a></div>
  </form>
  <aside class="card card-note">
    <h2>Columns</h2>
    <dl class="facts facts-stacked">
      <div><dt>username</dt><dd>Required.</dd></div>
      <div><dt>email, firstName, lastName</dt><dd>Optional.</dd></div>
      <div><dt>password</dt><dd>Optional: for the Self-Service Console. Delete the file once imported.</dd></div>
      <div><dt>role</dt><dd>Optional: user (the default), helpdesk or superadmin; roles other than user need a super admin.</dd></div>
    </dl>
    <p class="hint">Commas, semicolons or tabs between fields; quotes as spreadsheets write them.</p>
  </aside>
</div>`,
    },
  );
}

/** Above this many rows, the report lists the refused ones and folds the created ones away. */
const REPORT_ROWS_LISTED = 100;

export function importUsersReportPage(viewer: Viewer, report: UserImportReport): Html {
  const headers = ['Line', 'Username', 'Result', 'Reason'];
  const line = (row: UserImportReport['rows'][number]) =>
    html`<tr><td>${row.line}</td><td>${row.result === 'created' ? html`<a href="${link('users', row.username)}">${row.username}</a>` : row.username}</td><td>${row.result === 'created' ? html`<span class="badge badge-active">Created</span>` : html`<span class="badge badge-failure">Refused</span>`}</td><td>${row.reason ?? ''}</td></tr>`;
  // A long report leads with what needs doing: the refused rows, each with its reason.
  const body =
    report.rows.length <= REPORT_ROWS_LISTED
      ? table('One row per line of the file', headers, report.rows.map(line), 'The file had no rows after its header.')
      : html`<section class="card" aria-labelledby="refused-title">
  <h2 id="refused-title">Refused rows</h2>
  ${table('The rows of the file that were refused', headers, report.rows.filter((row) => row.result !== 'created').map(line), 'None: every row was imported.')}
</section>
<details class="manual">
  <summary>The ${report.created} users created</summary>
  ${table('The rows of the file that were imported', headers, report.rows.filter((row) => row.result === 'created').map(line), 'None.')}
</details>`;
  return consolePage(
    { ...viewer, section: 'users' },
    {
      title: 'Import report',
      notice: { kind: report.refused ? 'warning' : 'success', text: `${report.created} created, ${report.refused} refused.` },
      body: html`${pageHead('Import report', html`<a class="button button-secondary" href="${link('users', 'import')}">Import more</a><a class="button button-primary" href="${link('users')}">Users</a>`)}
${body}`,
    },
  );
}

function tokenRows(tokens: TokenView[]): Html[] {
  return tokens.map(
    (token) =>
      html`<tr><td>${serialLink(token.serial)}</td><td>${TYPE_NAMES[token.tokenType]}</td><td>${stateBadge(token.state)}</td><td>${token.label ?? ''}</td><td>${time(token.lastUsedAt)}</td></tr>`,
  );
}

function authenticationRows(events: AuditEvent[]): Html[] {
  return events.map((event) => {
    const reason = typeof event.details?.reason === 'string' ? event.details.reason : '';
    const reply = typeof event.details?.reply === 'string' ? event.details.reply : '';
    return html`<tr><td>${time(event.at)}</td><td>${event.action === 'auth.radius' ? 'RADIUS' : 'REST'}</td><td>${event.targetType === 'token' && event.target ? serialLink(event.target) : ''}</td><td>${resultBadge(event.result)}${reply === 'challenge' ? html` <span class="muted">challenge</span>` : ''}</td><td>${reason}</td><td class="mono">${event.source ?? ''}</td></tr>`;
  });
}

export interface UserDetail {
  user: UserView;
  tokens: TokenView[];
  authentications: AuditEvent[];
  profiles: ProfileView[];
  notice?: Notice;
  error?: TallyError;
  verified?: AuthResult;
}

export function userPage(viewer: Viewer, data: UserDetail): Html {
  const { user } = data;
  const base = link('users', user.username);
  const manageable = user.role === 'user' || may(viewer, 'users.setRole');
  const actions = html`${manageable ? html`<a class="button button-secondary" href="${base}/edit">Edit</a>` : ''}
${user.locked ? actionButton(viewer, `${base}/unlock`, 'Unlock') : ''}
${manageable ? (user.disabled ? actionButton(viewer, `${base}/enable`, 'Enable') : actionButton(viewer, `${base}/disable`, 'Disable', { kind: 'danger' })) : ''}
${actionButton(viewer, `${base}/sessions/revoke`, 'End sessions')}`;
  const distributable = data.profiles.filter((profile) => profile.delivery !== 'ctf' || may(viewer, 'tokens.seeds'));
  return consolePage(
    { ...viewer, section: 'users' },
    {
      title: user.username,
      notice: data.notice,
      error: data.error,
      body: html`${backLink(link('users'), 'Users')}
${pageHead(html`${user.username} ${userStatus(user)}`, actions)}
<div class="card">
  <dl class="facts facts-grid">
    <div><dt>Name</dt><dd>${fullName(user) || '—'}</dd></div>
    <div><dt>Email</dt><dd>${user.email ?? '—'}</dd></div>
    <div><dt>Role</dt><dd>${ROLE_NAMES[user.role]}</dd></div>
    <div><dt>Source</dt><dd>${sourceOf(user)}</dd></div>
    <div><dt>Directory</dt><dd>${directoryBadge(user)}</dd></div>
    <div><dt>Created</dt><dd>${time(user.createdAt)}</dd></div>
  </dl>
</div>
<div class="columns">
  <section class="card" aria-labelledby="tokens-title">
    <h2 id="tokens-title">Tokens</h2>
    ${table(`Tokens of ${user.username}`, ['Serial', 'Type', 'State', 'Name', 'Last used'], tokenRows(data.tokens), 'No tokens.')}
  </section>
  <section class="card" aria-labelledby="distribute-title">
    <h2 id="distribute-title">Distribute a new token</h2>
    ${
      distributable.length
        ? html`<form method="post" action="${base}/distribute" class="form">
      ${csrf(viewer)}
      ${selectField(
        'profile',
        'Profile',
        distributable.map((profile) => ({ value: profile.name, label: `${profile.name} (${profile.delivery})` })),
        undefined,
        { required: true },
      )}
      <button type="submit" class="button button-primary">Distribute</button>
    </form>
    <p class="hint">To give ${user.username} a token from the inventory, open the token and assign it by serial.</p>`
        : html`<p class="empty-note">No profile yet. ${may(viewer, 'profiles.manage') ? html`<a href="${link('profiles', 'new')}">Create one</a>.` : 'Ask a super admin to create one.'}</p>`
    }
  </section>
</div>
<section class="card" aria-labelledby="auth-title">
  <h2 id="auth-title">Recent authentications</h2>
  ${table(`Recent authentications of ${user.username}`, ['When', 'Channel', 'Token', 'Result', 'Reason', 'From'], authenticationRows(data.authentications), 'No authentications yet.')}
  <p><a href="${link('audit')}${query({ user: user.username })}">Everything done to ${user.username} in the audit trail</a></p>
</section>
${
  may(viewer, 'auth.verify')
    ? html`<section class="card" aria-labelledby="verify-title">
  <h2 id="verify-title">Test a passcode</h2>
  <p class="hint">A real authentication, as RADIUS or the REST API would make it: it is recorded, and an accepted code cannot be used again.</p>
  ${data.verified ? html`<div class="notice notice-${data.verified.result === 'reject' ? 'error' : 'success'}" role="status">Result: ${data.verified.result}${data.verified.message ? ` — ${data.verified.message}` : ''}</div>` : ''}
  <form method="post" action="${base}/verify" class="form form-inline">
    ${csrf(viewer)}
    ${textField('passcode', 'Passcode', undefined, { type: 'password', maxlength: 64, autocomplete: 'off', hint: 'PIN and tokencode, as the user would type them.' })}
    <button type="submit" class="button button-secondary">Test</button>
  </form>
</section>`
    : ''
}`,
    },
  );
}

export function editUserPage(viewer: Viewer, user: UserView, form: UserForm, error?: TallyError): Html {
  const base = link('users', user.username);
  return consolePage(
    { ...viewer, section: 'users' },
    {
      title: `Edit ${user.username}`,
      error,
      body: html`${backLink(base, user.username)}
${pageHead(`Edit ${user.username}`)}
<form method="post" action="${base}/edit" class="card form form-grid">
  ${csrf(viewer)}
  ${textField('email', 'Email', form.email, { type: 'email', maxlength: 320 })}
  ${textField('firstName', 'First name', form.firstName, { maxlength: 128 })}
  ${textField('lastName', 'Last name', form.lastName, { maxlength: 128 })}
  ${textField('password', 'New password', undefined, { type: 'password', maxlength: 1024, autocomplete: 'new-password', hint: 'Leave empty to keep the current one.' })}
  ${may(viewer, 'users.setRole') ? selectField('role', 'Role', ROLE_OPTIONS, form.role ?? user.role) : ''}
  <div class="form-actions"><button type="submit" class="button button-primary">Save</button><a class="button button-secondary" href="${base}">Cancel</a></div>
</form>`,
    },
  );
}
