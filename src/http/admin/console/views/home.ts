import type { Dashboard } from '../../../../domain/dashboard.js';
import type { TallyError } from '../../../../errors.js';
import { day } from '../../../web/format.js';
import { credentialFields, errorCard } from '../../../web/forms.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import { consolePage, csrf, HOME, link, may, pageHead, STATE_NAMES, serialLink, table, userLink, type Viewer } from './kit.js';

export function logOnPage(viewer: Viewer, form: { username?: string; error?: TallyError; notice?: Notice }): Html {
  return consolePage(viewer, {
    title: 'Log on',
    narrow: true,
    error: form.error,
    notice: form.notice,
    body: html`<section class="card card-logon" aria-labelledby="logon-title">
  <h1 id="logon-title">Log on</h1>
  <p class="lead">For administrators: users, tokens, profiles, requests and the audit trail.</p>
  <form method="post" action="${link('logon')}" class="form">
    ${csrf(viewer)}
    ${credentialFields(form.username)}
    <button type="submit" class="button button-primary button-block">Log on</button>
  </form>
</section>`,
  });
}

export function errorPage(viewer: Viewer, error: TallyError): Html {
  const { heading, body } = errorCard(error, { href: HOME, label: viewer.actor ? 'Back to the dashboard' : 'Go to the log-on page' });
  return consolePage(viewer, {
    title: heading,
    narrow: true,
    body,
  });
}

function stat(label: string, value: number, options: { href?: string; tone?: 'warning' | 'danger' | 'good'; note?: string } = {}): Html {
  const body = html`<span class="stat-value">${value.toLocaleString('en-GB')}</span><span class="stat-label">${label}</span>${options.note ? html`<span class="stat-note">${options.note}</span>` : ''}`;
  const tone = options.tone ? ` stat-${options.tone}` : '';
  return options.href ? html`<a class="stat${tone}" href="${options.href}">${body}</a>` : html`<div class="stat${tone}">${body}</div>`;
}

const CHART = { width: 720, height: 200, left: 36, bottom: 26, top: 10 };

/** A number at or above `n` that makes round gridlines. */
function niceCeiling(n: number): number {
  if (n <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  const step = [1, 2, 2.5, 5].find((f) => f * magnitude >= n) ?? 10;
  return step * magnitude;
}

/** Authentications per hour over the last 24 h as bars (succeeded below, failed on top), drawn in SVG: no script, no external file. */
function authenticationChart(data: Dashboard['authentications']): Html {
  const max = niceCeiling(Math.max(...data.hours.map((h) => h.succeeded + h.failed)));
  const plotWidth = CHART.width - CHART.left - 4;
  const plotHeight = CHART.height - CHART.bottom - CHART.top;
  const slot = plotWidth / data.hours.length;
  const barWidth = Math.max(2, slot - 6);
  const y = (value: number) => CHART.top + plotHeight - (value / max) * plotHeight;
  const grid = [0, max / 2, max].map(
    (value) =>
      html`<g class="chart-grid"><line x1="${CHART.left}" x2="${CHART.width - 4}" y1="${y(value)}" y2="${y(value)}"></line><text x="${CHART.left - 6}" y="${y(value) + 4}" text-anchor="end">${value}</text></g>`,
  );
  const bars = data.hours.map((hour, i) => {
    const x = CHART.left + i * slot + (slot - barWidth) / 2;
    const hourLabel = `${hour.start.slice(11, 16)} UTC`;
    const ok = hour.succeeded
      ? html`<rect class="chart-ok" x="${x.toFixed(1)}" y="${y(hour.succeeded).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(y(0) - y(hour.succeeded)).toFixed(1)}"></rect>`
      : '';
    const failed = hour.failed
      ? html`<rect class="chart-failed" x="${x.toFixed(1)}" y="${y(hour.succeeded + hour.failed).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(y(hour.succeeded) - y(hour.succeeded + hour.failed)).toFixed(1)}"></rect>`
      : '';
    const tick =
      i % 6 === 0
        ? html`<text class="chart-axis" x="${(x + barWidth / 2).toFixed(1)}" y="${CHART.height - 8}" text-anchor="middle">${hour.start.slice(11, 16)}</text>`
        : '';
    return html`<g><title>${hourLabel}: ${hour.succeeded} succeeded, ${hour.failed} failed</title><rect class="chart-hover" x="${(CHART.left + i * slot).toFixed(1)}" y="${CHART.top}" width="${slot.toFixed(1)}" height="${plotHeight}"></rect>${ok}${failed}</g>${tick}`;
  });
  return html`<figure class="chart">
  <svg viewBox="0 0 ${CHART.width} ${CHART.height}" role="img" aria-labelledby="chart-title chart-desc" focusable="false">
    <title id="chart-title">Authentications per hour, last 24 hours</title>
    <desc id="chart-desc">${data.succeeded} succeeded and ${data.failed} failed in the last 24 hours.</desc>
    ${grid}${bars}
  </svg>
  <figcaption class="chart-legend"><span class="legend legend-ok">Succeeded</span><span class="legend legend-failed">Failed</span><span class="muted">Hours in UTC</span></figcaption>
</figure>`;
}

function tokenStateBar(tokens: Dashboard['tokens']): Html {
  const states = (['active', 'pending', 'unassigned', 'disabled'] as const).filter((state) => tokens[state] > 0);
  if (tokens.total === 0) return html`<p class="empty-note">No tokens yet.</p>`;
  let offset = 0;
  const segments = states.map((state) => {
    const width = (tokens[state] / tokens.total) * 100;
    const segment = html`<rect class="bar-${state}" x="${offset.toFixed(2)}" y="0" width="${width.toFixed(2)}" height="10"><title>${STATE_NAMES[state]}: ${tokens[state]}</title></rect>`;
    offset += width;
    return segment;
  });
  return html`<svg class="state-bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="Tokens by state: ${states.map((state) => `${STATE_NAMES[state]} ${tokens[state]}`).join(', ')}" focusable="false">${segments}</svg>
<ul class="legend-list">${states.map((state) => html`<li><span class="legend legend-${state}">${STATE_NAMES[state]}</span> <a href="${link('tokens')}?state=${state}">${tokens[state]}</a></li>`)}</ul>`;
}

/** A step of the server's clock, said where an admin looks first: codes then match other steps than devices show. */
function clockStepNotice(step: { at: string; seconds: number }): Html {
  const direction = step.seconds > 0 ? 'forward' : 'back';
  return html`<div class="notice notice-warning" role="status">The system clock of this server moved ${direction} by ${String(Math.abs(step.seconds))} s (seen ${step.at}). Time-based codes follow the clock; no code already used is accepted again. Check the host's time synchronisation (NTP).</div>`;
}

export function dashboardPage(viewer: Viewer, data: Dashboard, notice?: Notice): Html {
  const auth = data.authentications;
  const actions = html`${may(viewer, 'tokens.distribute') ? html`<a class="button button-primary" href="${link('bulk')}">Hand out tokens to a team</a>` : ''}<a class="button button-secondary" href="${link('users', 'new')}">Create user</a>`;
  return consolePage(
    { ...viewer, section: 'dashboard' },
    {
      title: 'Dashboard',
      notice,
      body: html`${pageHead('Dashboard', actions)}
${data.clockStep ? clockStepNotice(data.clockStep) : ''}
<section aria-labelledby="counts-title" class="section">
  <h2 id="counts-title" class="visually-hidden">Counts</h2>
  <div class="stats">
    ${stat('Users', data.users.total, { href: link('users'), note: data.users.locked || data.users.disabled ? `${data.users.locked} locked · ${data.users.disabled} disabled` : undefined })}
    ${stat('Active tokens', data.tokens.active, { href: `${link('tokens')}?state=active`, tone: 'good' })}
    ${stat('Pending activation', data.tokens.pending, { href: `${link('tokens')}?state=pending` })}
    ${stat('Requests waiting', data.pendingRequests, { href: link('requests'), tone: data.pendingRequests ? 'warning' : undefined })}
    ${stat('Authentications, 24 h', auth.succeeded + auth.failed, { href: `${link('audit')}?action=auth.*`, note: `${auth.succeeded} succeeded` })}
    ${stat('Failures, 24 h', auth.failed, { href: `${link('audit')}?action=auth.*&result=failure`, tone: auth.failed ? 'danger' : undefined })}
    ${stat('Expiring within 30 days', data.expiring.count, { tone: data.expiring.count ? 'warning' : undefined })}
    ${stat('Unassigned tokens', data.tokens.unassigned, { href: `${link('tokens')}?state=unassigned` })}
    ${stat('Mails given up', data.mailOutbox.failed, { href: `${link('audit')}?action=mail.*`, note: `${data.mailOutbox.queued} waiting to be sent`, tone: data.mailOutbox.failed ? 'danger' : undefined })}
  </div>
</section>
<div class="columns">
  <section class="card" aria-labelledby="auth-title">
    <h2 id="auth-title">Authentications in the last 24 hours</h2>
    ${authenticationChart(auth)}
  </section>
  <div>
    <section class="card" aria-labelledby="states-title">
      <h2 id="states-title">Tokens by state</h2>
      ${tokenStateBar(data.tokens)}
    </section>
    <section class="card" aria-labelledby="expiring-title">
      <h2 id="expiring-title">Expiring soonest</h2>
      ${table(
        'Tokens expiring within 30 days',
        ['Serial', 'User', 'Last day'],
        data.expiring.first.map(
          (token) =>
            html`<tr><td>${serialLink(token.serial)}</td><td>${userLink(token.username)}</td><td>${day(token.expiresOn)}</td></tr>`,
        ),
        'No token expires within 30 days.',
      )}
    </section>
  </div>
</div>`,
    },
  );
}
