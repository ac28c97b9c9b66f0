import type { BulkDistributionView, BulkItemView } from '../../../../domain/bulk-distribution.js';
import type { ProfileView } from '../../../../domain/profiles.js';
import type { TallyError } from '../../../../errors.js';
import type { BulkItemResult } from '../../../../model/vocabulary.js';
import { query, time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import {
  actionButton,
  consolePage,
  csrf,
  fileField,
  link,
  may,
  pageHead,
  pager,
  selectField,
  serialLink,
  TYPE_NAMES,
  table,
  textArea,
  textField,
  userLink,
  type Viewer,
} from './kit.js';

export const BULK_ITEMS_PAGE = 500;

function bulkState(bulk: BulkDistributionView): Html {
  if (bulk.state === 'finished')
    return bulk.failed
      ? html`<span class="badge badge-pending">Finished, ${bulk.failed} failed</span>`
      : html`<span class="badge badge-active">Finished</span>`;
  if (bulk.state === 'interrupted') return html`<span class="badge badge-failure">Interrupted</span>`;
  return html`<span class="badge badge-running">Running</span>`;
}

function progress(bulk: BulkDistributionView): Html {
  const done = bulk.distributed + bulk.failed;
  return html`<progress max="${bulk.total}" value="${done}" aria-label="Progress of bulk distribution ${bulk.id}">${done} of ${bulk.total}</progress>`;
}

export function bulkPage(
  viewer: Viewer,
  data: {
    profiles: ProfileView[];
    runs: BulkDistributionView[];
    form?: { profile?: string; usernames?: string; group?: string };
    error?: TallyError;
  },
): Html {
  const usable = data.profiles.filter((profile) => profile.delivery !== 'ctf');
  const left = data.profiles.filter((profile) => profile.delivery === 'ctf');
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: 'Bulk distribution',
      error: data.error,
      body: html`${pageHead('Bulk distribution', undefined, 'A new token of one profile for each user of a list. It runs in the background; each user is mailed and activates in the Self-Service Console. A CT-KIP profile also gives a credentials file (serial, CT-KIP URL and activation code per user) to download once.')}
${
  may(viewer, 'tokens.distribute')
    ? html`<form method="post" action="${link('bulk')}" enctype="multipart/form-data" class="card form form-narrow-selects">
  ${csrf(viewer)}
  ${selectField(
    'profile',
    'Profile',
    usable.map((profile) => ({ value: profile.name, label: `${profile.name} (${TYPE_NAMES[profile.tokenType]}, ${profile.delivery})` })),
    data.form?.profile,
    {
      required: true,
      hint: left.length
        ? `Not offered: ${left.map((p) => p.name).join(', ')} (CTF strings are shown only to whoever distributes them).`
        : undefined,
    },
  )}
  <div class="columns columns-form">
    ${textArea('usernames', 'Usernames', data.form?.usernames, { rows: 10, maxlength: 400_000, placeholder: 'alice\nbob\ncarol', hint: 'One per line (or the first column of a CSV).' })}
    ${fileField('file', 'Or a file of usernames', { accept: '.csv,.txt,text/csv,text/plain', hint: 'A text or CSV file; a “username” header is skipped. Users listed twice get one token.' })}
  </div>
  ${textField('group', 'Or a directory group', data.form?.group, { maxlength: 1100, placeholder: 'corp:cn=vpn-users,ou=groups,dc=example,dc=org', hint: 'Instead of usernames: SOURCE:DN, the identity source’s name, a colon and the group’s DN. Its members, nested groups included, are read from the directory now; each gets a Tally user as on their first log-on.' })}
  <div class="form-actions"><button type="submit" class="button button-primary">Start distribution</button></div>
</form>`
    : ''
}
<section aria-labelledby="runs-title" class="section">
  <h2 id="runs-title">Recent runs</h2>
  ${table(
    'Recent bulk distributions',
    ['#', 'Profile', 'For', 'Started', 'By', 'Progress', 'State'],
    data.runs.map(
      (run) =>
        html`<tr><td><a href="${link('bulk', run.id)}">${run.id}</a></td><td>${run.profile}</td><td>${run.group ? html`<code>${run.group.source}:${run.group.dn}</code>` : 'a list'}</td><td>${time(run.createdAt)}</td><td>${run.createdBy}</td><td>${progress(run)} <span class="muted">${run.distributed + run.failed} / ${run.total}</span></td><td>${bulkState(run)}</td></tr>`,
    ),
    'None yet.',
  )}
</section>`,
    },
  );
}

/** A CT-KIP run's credentials file: its one download, and afterwards who took it. */
function credentialsCard(viewer: Viewer, bulk: BulkDistributionView): Html {
  const { credentials } = bulk;
  if (credentials.state === 'none') return html``;
  const base = link('bulk', bulk.id);
  const body =
    credentials.state === 'pending'
      ? html`<p>When the run finishes, its credentials file (username, serial, CT-KIP URL, activation code, expiry for each user) can be downloaded here, once.</p>`
      : credentials.state === 'downloaded'
        ? html`<p>Downloaded by <strong>${credentials.downloadedBy}</strong> on ${time(credentials.downloadedAt)}. It is given once: reissue the tokens whose codes were lost.</p>`
        : credentials.state === 'expired'
          ? html`<p>Its activation codes expired on ${time(credentials.expiresAt)}; it is no longer given. Reissue the tokens still pending.</p>`
          : html`<p id="credentials-once">The file lists each user's serial, CT-KIP URL, activation code and expiry, for a mail merge. <strong>It can be downloaded once</strong>: keep it safe and delete it when the codes are sent. The codes stop working on ${time(credentials.expiresAt)}.</p>
${credentials.mayDownload ? actionButton(viewer, `${base}/credentials`, 'Download credentials file', { kind: 'primary', describedBy: 'credentials-once' }) : ''}`;
  return html`<section aria-labelledby="credentials-title" class="card section">
  <h2 id="credentials-title">Credentials file</h2>
  ${body}
</section>`;
}

const RESULT_FILTERS: { value: BulkItemResult | 'all'; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'failed', label: 'Failed' },
  { value: 'distributed', label: 'Distributed' },
  { value: 'waiting', label: 'Waiting' },
];

export function bulkRunPage(
  viewer: Viewer,
  data: {
    bulk: BulkDistributionView;
    items: BulkItemView[];
    result: BulkItemResult | 'all';
    offset: number;
    more: boolean;
    error?: TallyError;
  },
): Html {
  const { bulk } = data;
  const done = bulk.distributed + bulk.failed;
  const base = link('bulk', bulk.id);
  const at = (offset: number) =>
    `${base}${query({ result: data.result === 'all' ? undefined : data.result, offset: offset || undefined })}`;
  const summary =
    bulk.state === 'finished'
      ? `Finished: ${bulk.distributed} distributed, ${bulk.failed} failed, of ${bulk.total}.`
      : bulk.state === 'interrupted'
        ? `Interrupted after ${done} of ${bulk.total}: the server stopped while it ran. Resume it to go on.`
        : `Running: ${done} of ${bulk.total} done. This page refreshes itself.`;
  return consolePage(
    { ...viewer, section: 'tokens' },
    {
      title: `Bulk distribution ${bulk.id}`,
      error: data.error,
      notice: {
        kind: bulk.state === 'finished' ? (bulk.failed ? 'warning' : 'success') : bulk.state === 'interrupted' ? 'error' : 'info',
        text: summary,
      },
      body: html`<p class="back"><a href="${link('bulk')}">← Bulk distribution</a></p>
${pageHead(html`Bulk distribution ${bulk.id} ${bulkState(bulk)}`, bulk.state === 'interrupted' && may(viewer, 'tokens.distribute') ? actionButton(viewer, `${base}/resume`, 'Resume', { kind: 'primary' }) : bulk.state === 'running' ? html`<a class="button button-secondary" href="${base}">Refresh</a>` : undefined)}
<div class="card">
  <div class="progress-row">${progress(bulk)}<span class="progress-count"><strong>${done}</strong> of ${bulk.total}</span></div>
  <dl class="facts facts-grid">
    <div><dt>Profile</dt><dd><a href="${link('profiles', bulk.profile)}">${bulk.profile}</a></dd></div>
    <div><dt>Started by</dt><dd>${bulk.createdBy}</dd></div>
    <div><dt>Started</dt><dd>${time(bulk.createdAt)}</dd></div>
    <div><dt>Finished</dt><dd>${time(bulk.finishedAt, '—')}</dd></div>
    <div><dt>Distributed</dt><dd>${bulk.distributed}</dd></div>
    <div><dt>Failed</dt><dd>${bulk.failed}</dd></div>
    <div><dt>Waiting</dt><dd>${bulk.waiting}</dd></div>
  </dl>
</div>
${credentialsCard(viewer, bulk)}
<section aria-labelledby="report-title" class="section">
  <h2 id="report-title">Report</h2>
  <nav class="segmented" aria-label="Filter the report">${RESULT_FILTERS.map((filter) => html`<a href="${base}${filter.value === 'all' ? '' : `?result=${filter.value}`}"${filter.value === data.result ? html` aria-current="page"` : ''}>${filter.label}</a>`)}</nav>
  ${table(
    'One row per user',
    ['#', 'User', 'Result', 'Token', 'Reason'],
    data.items.map(
      (item) =>
        html`<tr><td>${item.position}</td><td>${userLink(item.username)}</td><td>${item.result === 'distributed' ? html`<span class="badge badge-active">Distributed</span>` : item.result === 'failed' ? html`<span class="badge badge-failure">Failed</span>` : html`<span class="badge badge-unassigned">Waiting</span>`}</td><td>${item.serial ? serialLink(item.serial) : ''}</td><td>${item.message ?? ''}</td></tr>`,
    ),
    'No users here.',
  )}
  ${pager(data.offset > 0 ? at(Math.max(0, data.offset - BULK_ITEMS_PAGE)) : undefined, data.more ? at(data.offset + BULK_ITEMS_PAGE) : undefined)}
</section>`,
    },
  );
}
