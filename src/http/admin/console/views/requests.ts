import type { TokenRequestView } from '../../../../domain/token-requests.js';
import type { TallyError } from '../../../../errors.js';
import type { TokenRequestState } from '../../../../model/vocabulary.js';
import { time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import { actionButton, consolePage, csrf, link, may, pageHead, serialLink, table, userLink, type Viewer } from './kit.js';

const STATES: { value: TokenRequestState | 'all'; label: string }[] = [
  { value: 'pending', label: 'Waiting' },
  { value: 'approved', label: 'Approved' },
  { value: 'rejected', label: 'Rejected' },
  { value: 'all', label: 'All' },
];

function stateBadge(state: TokenRequestState): Html {
  if (state === 'pending') return html`<span class="badge badge-pending">Waiting</span>`;
  if (state === 'approved') return html`<span class="badge badge-active">Approved</span>`;
  return html`<span class="badge badge-disabled">Rejected</span>`;
}

function decision(viewer: Viewer, request: TokenRequestView): Html {
  if (request.state !== 'pending') {
    return html`${request.decidedBy ? `${request.decidedBy}, ` : ''}${time(request.decidedAt)}${request.serial ? html` · ${serialLink(request.serial)}` : ''}${request.reason ? html`<div class="muted">Reason: ${request.reason}</div>` : ''}`;
  }
  if (!may(viewer, 'tokens.distribute')) return html`<span class="muted">—</span>`;
  return html`<div class="decide">
  ${actionButton(viewer, link('requests', request.id, 'approve'), 'Approve', { kind: 'primary', small: true, describedBy: `request-${request.id}` })}
  <form method="post" action="${link('requests', request.id, 'reject')}" class="inline-form reject-form">
    ${csrf(viewer)}
    <label class="visually-hidden" for="reason-${request.id}">Reason for rejecting request ${request.id}</label>
    <input id="reason-${request.id}" name="reason" type="text" maxlength="500" required placeholder="Reason (the user reads it)">
    <button type="submit" class="button button-secondary button-small">Reject</button>
  </form>
</div>`;
}

export function requestsPage(
  viewer: Viewer,
  data: { requests: TokenRequestView[]; state: TokenRequestState | 'all'; notice?: Notice; error?: TallyError },
): Html {
  return consolePage(
    { ...viewer, section: 'requests' },
    {
      title: 'Requests',
      notice: data.notice,
      error: data.error,
      body: html`${pageHead('Token requests', undefined, 'Users ask for tokens in the Self-Service Console; profiles that need approval wait here. Approving distributes the token; either way the user is mailed.')}
<nav class="segmented" aria-label="Filter requests">${STATES.map((state) => html`<a href="${link('requests')}?state=${state.value}"${state.value === data.state ? html` aria-current="page"` : ''}>${state.label}</a>`)}</nav>
${table(
  'Token requests',
  ['#', 'User', 'Profile', 'Requested', 'State', 'Decision'],
  data.requests.map(
    (request) =>
      html`<tr><td id="request-${request.id}">${request.id}</td><td>${userLink(request.username)}</td><td><a href="${link('profiles', request.profile)}">${request.profile}</a></td><td>${time(request.createdAt)}</td><td>${stateBadge(request.state)}</td><td>${decision(viewer, request)}</td></tr>`,
  ),
  data.state === 'pending' ? 'No request is waiting.' : 'No requests.',
)}`,
    },
  );
}
