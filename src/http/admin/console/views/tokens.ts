import type { AuditEvent } from '../../../../domain/audit.js';
import type { DistributionResult } from '../../../../domain/distribution.js';
import type { ProfileView } from '../../../../domain/profiles.js';
import type { ImportReport, TokenDetails, TokenView } from '../../../../domain/tokens.js';
import type { TallyError } from '../../../../errors.js';
import type { TokenState } from '../../../../model/vocabulary.js';
import type { TokenType } from '../../../../tokens/types.js';
import { day, query, time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import {
  ACTOR_KINDS,
  actionButton,
  backLink,
  checkboxField,
  consolePage,
  copyable,
  csrf,
  DELIVERY_NAMES,
  fileField,
  link,
  may,
  pageHead,
  pager,
  resultBadge,
  STATE_NAMES,
  selectField,
  serialLink,
  stateBadge,
  TYPE_NAMES,
  table,
  textField,
  userLink,
  type Viewer,
} from './kit.js';

export const TOKENS_PAGE = 50;

export interface TokenFilter {
  serial?: string;
  username?: string;
  state?: TokenState;
  tokenType?: TokenType;
}

export function tokensPage(
  viewer: Viewer,
  data: { tokens: TokenView[]; filter: TokenFilter; after?: string; more: boolean; notice?: Notice; error?: TallyError },
): Html {
  const f = data.filter;
  const actions = html`${may(viewer, 'tokens.import') ? html`<a class="button button-secondary" href="${link('tokens', 'import')}">Import token file</a>` : ''}${may(viewer, 'tokens.create') ? html`<a class="button button-secondary" href="${link('tokens', 'generate')}">Generate tokens</a>` : ''}${may(viewer, 'tokens.distribute') ? html`<a class="button button-secondary" href="${link('tokens', 'assignments')}">Assign from CSV</a>` : ''}${may(viewer, 'tokens.distribute') ? html`<a class="button button-primary" href="${link('bulk')}">Bulk distribution</a>` : ''}`;
  const at = (after?: string) =>
    `${link('tokens')}${query({ serial: f.serial, username: f.username, state: f.state, type: f.tokenType, after })}`;
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Tokens',
      notice: data.notice,
      error: data.error,
      body: html`${pageHead('Tokens', actions)}
<form method="get" action="${link('tokens')}" class="form filters" role="search">
  ${textField('serial', 'Serial', f.serial, { maxlength: 64, hint: 'The start of it is enough.' })}
  ${textField('username', 'User', f.username, { maxlength: 128 })}
  ${selectField('state', 'State', [{ value: '', label: 'Any state' }, ...(Object.keys(STATE_NAMES) as TokenState[]).map((state) => ({ value: state, label: STATE_NAMES[state] }))], f.state)}
  ${selectField('type', 'Type', [{ value: '', label: 'Any type' }, ...(Object.keys(TYPE_NAMES) as TokenType[]).map((type) => ({ value: type, label: TYPE_NAMES[type] }))], f.tokenType)}
  <div class="filters-actions"><button type="submit" class="button button-secondary">Search</button><a href="${link('tokens')}">Clear</a></div>
</form>
${table(
  'Tokens',
  ['Serial', 'Type', 'State', 'User', 'Name', 'Last used', 'Valid until'],
  data.tokens.map(
    (token) =>
      html`<tr><td>${serialLink(token.serial)}</td><td>${TYPE_NAMES[token.tokenType]}</td><td>${stateBadge(token.state)}</td><td>${userLink(token.username)}</td><td>${token.label ?? ''}</td><td>${time(token.lastUsedAt)}</td><td>${day(token.expiresOn, '—')}</td></tr>`,
  ),
  'No token matches.',
)}
${pager(data.after !== undefined ? at() : undefined, data.more ? at(data.tokens.at(-1)?.serial) : undefined, 'first')}`,
    },
  );
}

function describe(event: AuditEvent): string {
  const details = { ...(event.details ?? {}) };
  return Object.entries(details)
    .filter(([, value]) => value !== null && value !== '')
    .map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join(' · ');
}

export function auditRows(events: AuditEvent[], options: { target?: boolean } = {}): Html[] {
  return events.map(
    (event) => html`<tr>
  <td>${time(event.at)}</td>
  <td><span class="actor">${event.actor}</span> <span class="muted">(${ACTOR_KINDS[event.actorType] ?? event.actorType})</span></td>
  <td class="mono">${event.action}</td>
  ${options.target === false ? '' : html`<td>${event.targetType === 'token' && event.target ? serialLink(event.target) : event.targetType === 'user' && event.target ? userLink(event.target) : html`${event.targetType ? `${event.targetType} ` : ''}${event.target ?? ''}`}</td>`}
  <td>${resultBadge(event.result)}</td>
  <td class="details">${describe(event)}</td>
</tr>`,
  );
}

function actionCard(title: string, body: Html): Html {
  return html`<section class="card action-card"><h3>${title}</h3>${body}</section>`;
}

export function tokenPage(
  viewer: Viewer,
  data: {
    details: TokenDetails;
    history: AuditEvent[];
    notice?: Notice;
    error?: TallyError /** Whether the viewer may be shown an emergency access code. */;
    emergencyCodes: boolean;
  },
): Html {
  const { details } = data;
  const token = details.token;
  const base = link('tokens', token.serial);
  const assigned = token.username !== null;
  const cards: Html[] = [];
  if (may(viewer, 'tokens.distribute')) {
    if (token.state === 'unassigned') {
      cards.push(
        actionCard(
          'Assign to a user',
          html`<form method="post" action="${base}/assign" class="form">${csrf(viewer)}${textField('username', 'Username', undefined, { required: true, maxlength: 128 })}<button type="submit" class="button button-primary">Assign and distribute</button></form>
<p class="hint">${token.origin === 'imported' ? 'An imported token is active at once: its holder has it already.' : 'The token is distributed by its profile; you see what to hand over once.'}</p>`,
        ),
      );
    }
    if (assigned) {
      cards.push(
        actionCard(
          'Reissue',
          html`<form method="post" action="${base}/reissue" class="form">${csrf(viewer)}${checkboxField('confirm', token.state === 'active' ? `Replace the token ${token.username} uses now` : `Replace what waits for ${token.username}`, false)}<button type="submit" class="button button-danger">Reissue</button></form><p class="hint">A new distribution by the profile: the previous activation code, link and seed stop working at once.</p>`,
        ),
      );
    }
    if (details.waiting?.delivery === 'file' && !details.waiting.expired && may(viewer, 'tokens.seeds')) {
      cards.push(
        actionCard(
          'Token file',
          html`<p>The file waits for its holder. Downloading it here uses it up: the holder's link stops working, and the holder is mailed who downloaded it and when.</p>${actionButton(viewer, `${base}/download`, 'Download the file', { kind: 'primary' })}`,
        ),
      );
    }
    if (details.waiting && details.waiting.failedAttempts > 0) {
      cards.push(
        actionCard(
          'Activation attempts',
          html`<p>${details.waiting.failedAttempts} wrong activation code(s) so far.</p>${actionButton(viewer, `${base}/reset-activation`, 'Reset attempts')}`,
        ),
      );
    }
  }
  if (may(viewer, 'tokens.manage') && assigned) {
    if (token.state === 'active') {
      cards.push(
        actionCard(
          'Disable',
          html`<form method="post" action="${base}/disable" class="form">${csrf(viewer)}${checkboxField('confirm', `Stop ${token.username}'s token from authenticating`, false)}<button type="submit" class="button button-danger">Disable</button></form><p class="hint">The token stops authenticating until it is enabled again.</p>`,
        ),
      );
      cards.push(
        actionCard(
          'Resynchronise',
          html`<form method="post" action="${base}/resync" class="form">${csrf(viewer)}<div class="form-pair">${textField('code1', 'First code', undefined, { required: true, maxlength: 8 })}${textField('code2', 'Next code', undefined, { required: true, maxlength: 8 })}</div><button type="submit" class="button button-secondary">Resynchronise</button></form><p class="hint">Two codes in a row, as the token shows them.</p>`,
        ),
      );
    }
    if (token.state === 'disabled') {
      cards.push(
        actionCard(
          'Enable',
          html`<p>${token.disabledReason === 'lost' ? 'Ends emergency access: the token itself works again.' : 'The token authenticates again.'}</p>${actionButton(viewer, `${base}/enable`, 'Enable', { kind: 'primary' })}`,
        ),
      );
    }
    if (token.state === 'active' || token.state === 'disabled') {
      cards.push(
        actionCard(
          'Lost token',
          html`<form method="post" action="${base}/lost" class="form">${csrf(viewer)}
${
  data.emergencyCodes
    ? selectField(
        'emergency',
        'Emergency access',
        [
          { value: 'one-time', label: 'A one-time code' },
          { value: 'fixed', label: 'A code for some days' },
          { value: 'none', label: 'None' },
        ],
        'one-time',
        { hint: 'An 8-digit code that stands in for the tokencode, shown once.' },
      )
    : selectField('emergency', 'Emergency access', [{ value: 'none', label: 'None' }], 'none', {
        hint: 'Your role is not shown emergency access codes (--helpdesk-credentials); a super admin can give one.',
      })
}
${textField('days', 'Days', 7, { type: 'number', min: 1, max: 30, required: true })}
<button type="submit" class="button button-danger">Mark lost</button></form>`,
        ),
      );
    }
    if (details.failedCount > 0 || details.nextCodeRequired) {
      cards.push(
        actionCard(
          'Wrong passcodes',
          html`<p>${details.failedCount} wrong passcode(s) in a row${details.nextCodeRequired ? '; the next tokencode is asked for' : ''}.</p>${actionButton(viewer, `${base}/unlock`, 'Clear')}`,
        ),
      );
    }
    if (token.pinMode === 'required') {
      cards.push(
        actionCard(
          'PIN',
          html`<p>${details.newPinRequired ? 'The next authentication asks for a new PIN.' : 'Nobody sees the PIN. Reset it and the next authentication asks the user for a new one.'}</p>${details.newPinRequired ? '' : actionButton(viewer, `${base}/reset-pin`, 'Reset PIN')}`,
        ),
      );
    }
  }
  if (may(viewer, 'tokens.distribute') && assigned) {
    cards.push(
      actionCard(
        'Unassign',
        html`<form method="post" action="${base}/unassign" class="form">${csrf(viewer)}${checkboxField('confirm', `Take it from ${token.username}`, false)}<button type="submit" class="button button-danger">Unassign</button></form><p class="hint">${token.origin === 'generated' ? 'It goes back to the inventory without its seed, and gets a new one when next distributed.' : 'It goes back to the inventory with its seed, as a hardware token goes back on the shelf.'}</p>`,
      ),
    );
  }
  if (may(viewer, 'tokens.delete')) {
    cards.push(
      actionCard(
        'Delete',
        html`<form method="post" action="${base}/delete" class="form">${csrf(viewer)}${checkboxField('confirm', 'Delete this token for good', false)}<button type="submit" class="button button-danger">Delete</button></form><p class="hint">The audit trail keeps its history.</p>`,
      ),
    );
  }
  const waiting = details.waiting;
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: `Token ${token.serial}`,
      notice: data.notice,
      error: data.error,
      body: html`${backLink(link('tokens'), 'Tokens')}
${pageHead(html`<span class="mono">${token.serial}</span> ${stateBadge(token.state)}`)}
<div class="card">
  <dl class="facts facts-grid">
    <div><dt>User</dt><dd>${userLink(token.username)}</dd></div>
    <div><dt>Type</dt><dd>${TYPE_NAMES[token.tokenType]}, ${token.digits} digits${token.period ? `, ${token.period} s` : ''}, ${token.algorithm}</dd></div>
    <div><dt>Profile</dt><dd>${details.profile ? html`<a href="${link('profiles', details.profile)}">${details.profile}</a>` : token.origin === 'imported' ? 'Imported' : '—'}</dd></div>
    <div><dt>Name</dt><dd>${token.label ?? '—'}</dd></div>
    <div><dt>Created</dt><dd>${time(token.createdAt)}</dd></div>
    <div><dt>Activated</dt><dd>${time(token.activatedAt, 'Not yet')}</dd></div>
    <div><dt>Last used</dt><dd>${time(token.lastUsedAt)}</dd></div>
    <div><dt>Valid until</dt><dd>${day(token.expiresOn)}</dd></div>
    ${token.validFrom ? html`<div><dt>Usable from</dt><dd>${time(token.validFrom)}</dd></div>` : ''}
    ${token.validUntil ? html`<div><dt>Usable until</dt><dd>${time(token.validUntil)}</dd></div>` : ''}
    ${token.usesLeft !== null ? html`<div><dt>Uses left</dt><dd>${String(token.usesLeft)}</dd></div>` : ''}
    <div><dt>PIN</dt><dd>${token.pinMode === 'required' ? (details.newPinRequired ? 'New PIN at next use' : 'Set') : 'None'}</dd></div>
    ${waiting ? html`<div><dt>Waiting for the holder</dt><dd>${waiting.delivery}, ${waiting.expired ? 'expired' : html`until ${time(waiting.expiresAt)}`}</dd></div>` : ''}
    ${token.disabledReason ? html`<div><dt>Disabled</dt><dd>${token.disabledReason}</dd></div>` : ''}
    ${details.emergency ? html`<div><dt>Emergency access</dt><dd>${details.emergency.void ? 'Void after too many wrong codes: report the token lost again for a new one' : html`${details.emergency.oneTime ? 'One-time code' : 'Code'} until ${time(details.emergency.expiresAt)}`}</dd></div>` : ''}
  </dl>
</div>
${cards.length ? html`<h2>Actions</h2><div class="action-grid">${cards}</div>` : ''}
<section class="card" aria-labelledby="history-title">
  <h2 id="history-title">History</h2>
  <p class="hint">Who did what to this token, newest first.</p>
  ${table(`History of token ${token.serial}`, ['When', 'Who', 'Action', 'Result', 'Details'], auditRows(data.history, { target: false }), 'Nothing recorded yet.')}
  <p><a href="${link('audit')}${query({ serial: token.serial })}">Open in the audit trail</a></p>
</section>`,
    },
  );
}

/** What a distribution gives the admin to hand over: shown in this answer only. */
export function distributionPage(
  viewer: Viewer,
  data: { result: DistributionResult; username: string | null; heading: string; publicUrl: string; notice?: Notice },
): Html {
  const { result } = data;
  const base = link('tokens', result.serial);
  let body: Html;
  switch (result.delivery) {
    case 'ctkip':
      body =
        result.activationCode === undefined
          ? html`<p>${data.username ?? 'The user'} logs on to the Self-Service Console (<a href="${data.publicUrl}/">${data.publicUrl}/</a>) and opens <strong>Activate</strong>, where the activation code is shown. Your role is not shown activation codes (<code>--helpdesk-credentials</code>).</p>`
          : html`<p>Give the user the URL and the activation code by a channel you trust (RSA's advice: mail the URL, phone the code), or let them open <strong>Activate</strong> in the Self-Service Console, where the same code is shown.</p>
<dl class="facts facts-stacked">
  <div><dt>CT-KIP URL</dt><dd>${copyable('ctkip-url', 'CT-KIP URL', result.ctkipUrl ?? '', 'secret-wrap')}</dd></div>
  <div><dt>Activation code</dt><dd>${copyable('activation-code', 'activation code', result.activationCode, 'secret-large')}</dd></div>
  ${result.appLink ? html`<div><dt>App link</dt><dd>${copyable('app-link', 'app link', result.appLink, 'secret-wrap')}</dd></div>` : ''}
</dl>
<p class="hint" id="code-stops">The code works once${result.expiresAt ? html`, until ${time(result.expiresAt)}` : ''}. It stops working sooner if the token is reissued or the user asks for a <strong>New activation code</strong> in the Self-Service Console.</p>`;
      break;
    case 'file':
      body = result.downloadUrl
        ? html`<p>The link works once. Send it to the user, or download the file yourself (the link then stops working).</p>
<dl class="facts facts-stacked">
  <div><dt>Download link</dt><dd>${copyable('download-url', 'download link', result.downloadUrl, 'secret-wrap')}</dd></div>
  ${result.filePassword ? html`<div><dt>File password</dt><dd>${copyable('file-password', 'file password', result.filePassword, 'secret-large')}</dd></div>` : ''}
</dl>
${actionButton(viewer, `${base}/download`, 'Download the file', { kind: 'primary' })}`
        : html`<p>The user downloads the file in the Self-Service Console (<a href="${data.publicUrl}/">${data.publicUrl}/</a>) after logging on. Your role never sees a seed, so no link is shown here.</p>`;
      break;
    case 'ctf':
      body = html`<p>The token string is the token: import it into the SecurID app, or send the link to the user's phone. It is not kept, and is shown only now.</p>
<dl class="facts facts-stacked">
  <div><dt>Token string (CTF)</dt><dd>${copyable('ctf', 'token string', result.ctf ?? '', 'secret-wrap')}</dd></div>
  ${result.appLink ? html`<div><dt>App link</dt><dd>${copyable('app-link', 'app link', result.appLink, 'secret-wrap')}</dd></div>` : ''}
</dl>`;
      break;
    case 'qr':
      body = html`<p>Nothing to hand over: ${data.username ?? 'the user'} logs on to the Self-Service Console (<a href="${data.publicUrl}/">${data.publicUrl}/</a>), chooses <strong>Activate</strong> and scans the QR code there.</p>`;
      break;
    default:
      body = html`<p>The token is active at once: its holder has it already.</p>`;
  }
  const secret = result.activationCode !== undefined || result.downloadUrl !== undefined || result.ctf !== undefined;
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: data.heading,
      notice:
        data.notice ??
        (secret ? { kind: 'warning', text: 'This is shown only once. Hand it over now, before you leave this page.' } : undefined),
      body: html`${pageHead(data.heading)}
<div class="card">
  <dl class="facts facts-grid">
    <div><dt>Serial</dt><dd>${serialLink(result.serial)}</dd></div>
    <div><dt>User</dt><dd>${userLink(data.username)}</dd></div>
    <div><dt>Delivery</dt><dd>${result.delivery ? DELIVERY_NAMES[result.delivery] : 'None (imported token)'}</dd></div>
    <div><dt>State</dt><dd>${stateBadge(result.state)}</dd></div>
    ${result.expiresAt ? html`<div><dt>Activation open until</dt><dd>${time(result.expiresAt)}</dd></div>` : ''}
  </dl>
  ${body}
</div>
<p><a class="button button-secondary" href="${base}">Go to the token</a></p>`,
    },
  );
}

export function lostPage(viewer: Viewer, data: { token: TokenView; emergencyCode?: string; expiresAt?: string }): Html {
  const base = link('tokens', data.token.serial);
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Token marked lost',
      notice: data.emergencyCode
        ? { kind: 'warning', text: 'The emergency code is shown only once. Tell it to the user now, by a channel you trust.' }
        : { kind: 'success', text: 'The token is disabled.' },
      body: html`${pageHead(html`Token <span class="mono">${data.token.serial}</span> marked lost`)}
<div class="card">
  <p>The token stopped authenticating. ${data.token.username ? html`${userLink(data.token.username)} ` : ''}${data.emergencyCode ? 'types the emergency code instead of the tokencode (after the PIN, if the token has one).' : 'has no emergency access.'}</p>
  ${data.emergencyCode ? html`<dl class="facts facts-stacked"><div><dt>Emergency code</dt><dd>${copyable('emergency-code', 'emergency code', data.emergencyCode, 'secret-large')}</dd></div><div><dt>Works until</dt><dd>${time(data.expiresAt ?? null)}</dd></div></dl>` : ''}
</div>
<p><a class="button button-secondary" href="${base}">Go to the token</a></p>`,
    },
  );
}

export function generatePage(
  viewer: Viewer,
  profiles: ProfileView[],
  form: { profile?: string; count?: string } = {},
  error?: TallyError,
): Html {
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Generate tokens',
      error,
      body: html`${backLink(link('tokens'), 'Tokens')}
${pageHead('Generate unassigned tokens', undefined, 'Tokens of a profile, kept in the inventory until you assign them to users by serial. Each gets its seed when it is distributed.')}
<form method="post" action="${link('tokens', 'generate')}" class="card form form-grid">
  ${csrf(viewer)}
  ${selectField(
    'profile',
    'Profile',
    profiles.map((profile) => ({ value: profile.name, label: `${profile.name} (${TYPE_NAMES[profile.tokenType]}, ${profile.delivery})` })),
    form.profile,
    { required: true },
  )}
  ${textField('count', 'How many', form.count ?? '10', { type: 'number', min: 1, max: 1000, required: true })}
  <div class="form-actions"><button type="submit" class="button button-primary">Generate</button><a class="button button-secondary" href="${link('tokens')}">Cancel</a></div>
</form>`,
    },
  );
}

export function generatedPage(viewer: Viewer, tokens: TokenView[]): Html {
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Tokens generated',
      notice: { kind: 'success', text: `${tokens.length} token(s) generated. Assign each to a user from its page.` },
      body: html`${pageHead('Tokens generated', html`<a class="button button-secondary" href="${link('tokens')}?state=unassigned">All unassigned tokens</a>`)}
${table(
  'Generated tokens',
  ['Serial', 'Type', 'State'],
  tokens.map(
    (token) =>
      html`<tr><td>${serialLink(token.serial)}</td><td>${TYPE_NAMES[token.tokenType]}</td><td>${stateBadge(token.state)}</td></tr>`,
  ),
  'None.',
)}`,
    },
  );
}

export function importTokensPage(viewer: Viewer, error?: TallyError): Html {
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Import token file',
      error,
      body: html`${backLink(link('tokens'), 'Tokens')}
${pageHead('Import a token file', undefined, 'An sdtid or PSKC file: its tokens join the inventory unassigned. A file that fails its integrity check or password imports nothing.')}
<form method="post" action="${link('tokens', 'import')}" enctype="multipart/form-data" class="card form form-grid">
  ${csrf(viewer)}
  ${fileField('file', 'Token file', { required: true, accept: '.sdtid,.xml,.pskc' })}
  ${textField('password', 'File password', undefined, { type: 'password', maxlength: 256, hint: 'If the file is protected by one.' })}
  ${checkboxField('replace', 'Replace tokens whose serial exists already', false)}
  <div class="form-actions"><button type="submit" class="button button-primary">Import</button><a class="button button-secondary" href="${link('tokens')}">Cancel</a></div>
</form>`,
    },
  );
}

export function importReportPage(viewer: Viewer, report: ImportReport): Html {
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Import report',
      notice: {
        kind: report.refused ? 'warning' : 'success',
        text: `${report.format.toUpperCase()} file: ${report.imported} imported, ${report.replaced} replaced, ${report.refused} refused.`,
      },
      body: html`${pageHead('Import report', html`${may(viewer, 'tokens.distribute') ? html`<a class="button button-secondary" href="${link('tokens', 'assignments')}">Assign from CSV</a>` : ''}<a class="button button-primary" href="${link('tokens')}?state=unassigned">Unassigned tokens</a>`)}
${report.notes.map((note) => html`<div class="notice notice-warning" role="status">${note}</div>`)}
${table(
  'One row per token in the file',
  ['Serial', 'Type', 'Result', 'Reason'],
  report.tokens.map(
    (token) =>
      html`<tr><td>${token.result === 'refused' ? html`<span class="mono">${token.serial}</span>` : serialLink(token.serial)}${token.keyId === undefined ? '' : html` <span class="hint">(Key Id <span class="mono">${token.keyId}</span>)</span>`}</td><td>${token.tokenType ?? ''}</td><td>${token.result === 'refused' ? html`<span class="badge badge-failure">Refused</span>` : html`<span class="badge badge-active">${token.result === 'imported' ? 'Imported' : 'Replaced'}</span>`}</td><td>${token.reason ?? ''}</td></tr>`,
  ),
  'The file holds no tokens.',
)}`,
    },
  );
}
