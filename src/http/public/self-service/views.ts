import type { HolderActivation, HolderToken, OfferGroup } from '../../../domain/self-service.js';
import type { TokenRequestView } from '../../../domain/token-requests.js';
import type { DistributionResult } from '../../../domain/distribution.js';
import type { TallyError } from '../../../errors.js';
import { html, type Html } from '../../web/html.js';
import { csrfField, layout, type Notice, type PageFrame } from '../../web/layout.js';

/** The pages of the Self-Service Console, as typed functions of what they show. */

export const HOME = '/';

export interface Viewer {
  /** The logged-on user; absent on the log-on page. */
  username?: string;
  csrfToken: string;
  section?: 'tokens' | 'request';
}

function frame(viewer: Viewer): PageFrame {
  return {
    console: 'Self-Service',
    home: HOME,
    user: viewer.username ? { name: viewer.username, csrfToken: viewer.csrfToken, logOffAction: '/logoff' } : undefined,
    nav: viewer.username
      ? [
          { href: HOME, label: 'My tokens', current: viewer.section === 'tokens' },
          { href: '/request', label: 'Request a token', current: viewer.section === 'request' },
        ]
      : undefined,
    footer: html`<p>Tally Self-Service Console. Lost your phone, or a token does not work? Contact your IT helpdesk.</p>`,
  };
}

const TYPE_NAMES: Record<HolderToken['tokenType'], string> = {
  totp: 'Time-based (TOTP)',
  hotp: 'Counter-based (HOTP)',
  securid: 'SecurID',
};

const STATE_NAMES: Record<HolderToken['state'], string> = {
  unassigned: 'Unassigned',
  pending: 'Waiting for activation',
  active: 'Active',
  disabled: 'Disabled',
};

/** A time as UTC text that the page script rewrites into the reader's own time zone. */
function time(iso: string | null, empty = 'Never'): Html {
  if (iso === null) return html`${empty}`;
  const date = new Date(iso);
  const text = `${date.toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC' })} UTC`;
  return html`<time datetime="${iso}" data-local>${text}</time>`;
}

function day(isoDay: string | null): Html {
  if (isoDay === null) return html`No end date`;
  return html`<time datetime="${isoDay}">${new Date(`${isoDay}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })}</time>`;
}

function tokenTitle(token: Pick<HolderToken, 'label' | 'profile' | 'tokenType'>): string {
  return token.label ?? token.profile ?? `${TYPE_NAMES[token.tokenType]} token`;
}

function badge(state: HolderToken['state'], activation: HolderToken['activation']): Html {
  if (state === 'pending' && activation === 'expired') return html`<span class="badge badge-disabled">Activation expired</span>`;
  return html`<span class="badge badge-${state}">${STATE_NAMES[state]}</span>`;
}

/** A value people copy into an app: selectable text (`shown`, perhaps grouped), and a copy button for the exact value where scripts run. */
function copyable(id: string, name: string, value: string, options: { className?: string; shown?: Html } = {}): Html {
  return html`<div class="copyable"><code id="${id}" class="secret${options.className ? ` ${options.className}` : ''}">${options.shown ?? value}</code><button type="button" class="button button-small button-secondary" data-copy="${value}" aria-label="Copy the ${name}" hidden>Copy</button></div>`;
}

/** A key in groups of four for the eye; the groups are spans, so the text itself (and a copy) has no spaces. */
function groupedKey(secret: string): Html {
  return html`${(secret.match(/.{1,4}/g) ?? []).map((group) => html`<span class="key-group">${group}</span>`)}`;
}

export function logOnPage(viewer: Viewer, form: { username?: string; error?: TallyError; notice?: Notice }): Html {
  const error = form.error;
  return layout(frame(viewer), {
    title: 'Log on',
    narrow: true,
    notice: error ? { kind: 'error', text: error.message } : form.notice,
    body: html`<section class="card card-logon" aria-labelledby="logon-title">
  <h1 id="logon-title">Log on</h1>
  <p class="lead">Manage the tokens you use to prove it is you: set up a new one, see what you have.</p>
  <form method="post" action="/logon" class="form">
    ${csrfField(viewer.csrfToken)}
    <div class="field">
      <label for="username">Username</label>
      <input id="username" name="username" type="text" value="${form.username ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="128" required${form.username ? '' : html` autofocus`}>
    </div>
    <div class="field">
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required${form.username ? html` autofocus` : ''}>
    </div>
    <button type="submit" class="button button-primary button-block">Log on</button>
  </form>
</section>`,
  });
}

function requestCard(request: TokenRequestView): Html {
  const waiting = request.state === 'pending';
  return html`<li class="item">
  <div class="item-main">
    <h3 class="item-title">${request.profile}</h3>
    <p class="item-meta">Requested ${time(request.createdAt)}</p>
    ${waiting
      ? html`<p>An administrator has to approve this request. You will get a mail when it is decided.</p>`
      : html`<p>Declined ${time(request.decidedAt)}. Reason: ${request.reason ?? 'none given'}</p>`}
  </div>
  <div class="item-side">${waiting ? html`<span class="badge badge-pending">Waiting for approval</span>` : html`<span class="badge badge-disabled">Declined</span>`}</div>
</li>`;
}

function tokenActions(token: HolderToken): Html {
  const manage = html`<a class="button button-secondary" href="/tokens/${token.serial}">Details</a>`;
  if (token.state === 'pending' && token.activation === 'open') {
    return html`<a class="button button-primary" href="/tokens/${token.serial}/activate" aria-describedby="token-${token.serial}">Activate</a>${manage}`;
  }
  return manage;
}

function tokenCard(token: HolderToken): Html {
  return html`<li class="item">
  <div class="item-main">
    <h3 class="item-title" id="token-${token.serial}">${tokenTitle(token)}</h3>
    <dl class="facts">
      <div><dt>Type</dt><dd>${TYPE_NAMES[token.tokenType]}</dd></div>
      <div class="fact-wide"><dt>Device</dt><dd>${token.device ?? 'Hardware or imported token'}</dd></div>
      <div><dt>Serial</dt><dd class="mono">${token.serial}</dd></div>
      <div><dt>Last used</dt><dd>${time(token.lastUsedAt)}</dd></div>
    </dl>
    ${token.state === 'pending' && token.activation === 'expired' ? html`<p class="hint">The time to activate this token has run out. Ask your IT helpdesk to issue it again.</p>` : ''}
    ${token.state === 'disabled' && token.disabledReason ? html`<p class="hint">Disabled: ${token.disabledReason}</p>` : ''}
  </div>
  <div class="item-side">
    ${badge(token.state, token.activation)}
    <div class="actions">${tokenActions(token)}</div>
  </div>
</li>`;
}

export function myTokensPage(viewer: Viewer, data: { tokens: HolderToken[]; requests: TokenRequestView[]; notice?: Notice }): Html {
  const { tokens, requests } = data;
  return layout(frame({ ...viewer, section: 'tokens' }), {
    title: 'My tokens',
    notice: data.notice,
    body: html`<div class="page-head">
  <h1>My tokens</h1>
  ${tokens.length ? html`<a class="button button-primary" href="/request">Request a token</a>` : ''}
</div>
${requests.length
  ? html`<section aria-labelledby="requests-title" class="section">
  <h2 id="requests-title">Requests</h2>
  <ul class="items">${requests.map(requestCard)}</ul>
</section>`
  : ''}
${tokens.length
  ? html`<section aria-labelledby="tokens-title" class="section">
  <h2 id="tokens-title" class="visually-hidden">Tokens</h2>
  <ul class="items">${tokens.map(tokenCard)}</ul>
</section>`
  : html`<section class="card empty">
  <h2>You have no tokens yet</h2>
  <p>A token is an app on your phone or computer that shows a new code every few seconds. You type that code when you log on to prove it is you.</p>
  <a class="button button-primary" href="/request">Request a token</a>
</section>`}`,
  });
}

export function requestPage(viewer: Viewer, groups: OfferGroup[], error?: TallyError): Html {
  const body = groups.length
    ? html`<form method="post" action="/request" class="form">
  ${csrfField(viewer.csrfToken)}
  ${groups.map(
    (group) => html`<fieldset class="choice-group">
    <legend>${group.device}${group.appVersion ? html` <span class="muted">· app version ${group.appVersion} or later</span>` : ''}</legend>
    ${group.profiles.map(
      (profile) => html`<label class="choice">
      <input type="radio" name="profile" value="${profile.name}" required>
      <span class="choice-body">
        <span class="choice-title">${profile.name}${profile.requiresApproval ? html` <span class="badge badge-pending">Needs approval</span>` : ''}</span>
        ${profile.description ? html`<span class="choice-text">${profile.description}</span>` : ''}
        <span class="choice-text">${profile.howItArrives}</span>
      </span>
    </label>`,
    )}
  </fieldset>`,
  )}
  <div class="form-actions"><button type="submit" class="button button-primary">Request token</button><a class="button button-secondary" href="${HOME}">Cancel</a></div>
</form>`
    : html`<section class="card empty"><h2>Nothing to request yet</h2><p>Your administrator has not opened any token to self-service. Ask your IT helpdesk for a token.</p></section>`;
  return layout(frame({ ...viewer, section: 'request' }), {
    title: 'Request a token',
    notice: error ? { kind: 'error', text: error.message } : undefined,
    body: html`<div class="page-head"><h1>Request a token</h1></div>
<p class="lead">Choose the app you will use. Some tokens need an administrator's approval first; the others are ready to set up at once.</p>
${body}`,
  });
}

function steps(items: Html[]): Html {
  return html`<ol class="steps">${items.map((item) => html`<li>${item}</li>`)}</ol>`;
}

function qrFigure(dataUri: string, alt: string, caption: string): Html {
  return html`<figure class="qr"><img src="${dataUri}" alt="${alt}" width="264" height="264"><figcaption>${caption}</figcaption></figure>`;
}

export interface ActivationView {
  token: HolderToken;
  activation: HolderActivation;
  /** The QR code as a data: URI, for the otpauth link or the app link. */
  qr?: string;
  error?: TallyError;
}

export function activatePage(viewer: Viewer, view: ActivationView): Html {
  const { token, activation } = view;
  const title = activation.kind === 'file' ? 'Download your token file' : 'Activate your token';
  return layout(frame({ ...viewer, section: 'tokens' }), {
    title,
    notice: view.error ? { kind: 'error', text: view.error.message } : undefined,
    body: html`<div class="page-head"><h1>${title}</h1></div>
<p class="lead">${tokenTitle(token)} · <span class="mono">${token.serial}</span> · ${token.device ?? TYPE_NAMES[token.tokenType]}</p>
${activation.kind === 'otpauth' ? otpauthBody(viewer, view, activation) : activation.kind === 'ctkip' ? ctkipBody(view, activation) : fileBody(activation)}`,
  });
}

function otpauthBody(viewer: Viewer, view: ActivationView, activation: Extract<HolderActivation, { kind: 'otpauth' }>): Html {
  const kind = activation.period === null ? `counter-based, ${activation.digits} digits` : `time-based, ${activation.digits} digits, a new code every ${activation.period} seconds`;
  return html`<div class="card">
${steps([
  html`<h2>Add an account in your authenticator app</h2><p>Open the app (Google Authenticator, Microsoft Authenticator, FreeOTP, Aegis, …) and choose to add an account by scanning a QR code.</p>`,
  html`<h2>Scan this QR code</h2>
  ${view.qr ? qrFigure(view.qr, 'QR code to scan with your authenticator app', 'Hold your phone so the whole code fits in the camera frame.') : ''}
  <p class="on-phone"><a class="button button-secondary" href="${activation.uri}">On this phone? Open in your authenticator app</a></p>
  <p><strong>Cannot scan it?</strong> Choose “Enter a setup key” (or similar) in the app and type this key:</p>
  ${copyable('secret-key', 'key', activation.secret, { shown: groupedKey(activation.secret) })}
  <details class="manual">
    <summary>More for typing by hand: the account, the kind of token, the link</summary>
    <dl class="facts facts-stacked">
      <div><dt>Account</dt><dd>${activation.issuer ? `${activation.issuer}: ` : ''}${activation.account}</dd></div>
      <div><dt>Kind</dt><dd>${kind}</dd></div>
    </dl>
    <p>On this phone, you can also <a href="${activation.uri}">open the link in your authenticator app</a>. The link, as text:</p>
    ${copyable('otpauth-link', 'link', activation.uri, { className: 'secret-wrap' })}
  </details>`,
  html`<h2>Type the code your app shows</h2>
  <p>This proves the app has the token. Until then the token cannot be used.</p>
  <form method="post" action="/tokens/${view.token.serial}/confirm" class="form form-inline">
    ${csrfField(viewer.csrfToken)}
    <div class="field">
      <label for="tokencode">Tokencode</label>
      <input id="tokencode" name="tokencode" type="text" inputmode="numeric" pattern="[0-9 ]*" autocomplete="one-time-code" maxlength="12" required class="input-code"${view.error ? html` autofocus aria-invalid="true"` : ''}>
    </div>
    <button type="submit" class="button button-primary">Confirm</button>
  </form>`,
])}
</div>`;
}

function ctkipBody(view: ActivationView, activation: Extract<HolderActivation, { kind: 'ctkip' }>): Html {
  const values = html`<dl class="facts facts-stacked">
    <div><dt>URL</dt><dd>${copyable('ctkip-url', 'URL', activation.ctkipUrl, { className: 'secret-wrap' })}</dd></div>
    <div><dt>Activation code</dt><dd>${copyable('activation-code', 'activation code', activation.activationCode, { className: 'secret-large' })}</dd></div>
  </dl>
  <p class="hint">The activation code works once. Each time you open this page you get a new one, and the previous one stops working.</p>`;
  const onPhone = html`<p class="on-phone"><a class="button button-secondary" href="${activation.appLink}">On this phone? Open in the SecurID app</a></p>`;
  const scan = activation.appCanScan && view.qr;
  return html`<div class="card">
${steps([
  html`<h2>Open the SecurID app</h2><p>Install the RSA SecurID Authenticate app from your app store if you do not have it, then choose to add a token.</p>`,
  ...(scan
    ? [
        html`<h2>Scan this QR code with the app</h2>${qrFigure(view.qr!, 'QR code for the SecurID app', 'The app reads the URL and the activation code from it.')}${onPhone}`,
        html`<h2>Or type what the app asks for</h2>${values}`,
      ]
    : [html`<h2>Type what the app asks for</h2>${onPhone}${values}`]),
  html`<h2>Wait for the first tokencode</h2><p>The app fetches the token over the internet. When it shows a tokencode, your token is active: <a href="${HOME}">see My tokens</a>.</p>`,
])}
</div>`;
}

function fileBody(activation: Extract<HolderActivation, { kind: 'file' }>): Html {
  return html`<div class="card">
${steps([
  html`<h2>Download the file</h2>
  <p><a class="button button-primary" href="${activation.downloadUrl}" download>Download token file</a></p>
  <p class="hint">The link works once, until ${time(activation.expiresAt)}. If the download fails, open this page again for a new link; the previous link then stops working.</p>`,
  activation.filePassword
    ? html`<h2>Note the file's password</h2><p>The app asks for it when you import the file.</p>${copyable('file-password', 'password', activation.filePassword, { className: 'secret-large' })}`
    : html`<h2>No password</h2><p>This file has no password: keep it safe and delete it once it is imported.</p>`,
  html`<h2>Import the file into your app</h2><p>Open the token app and import the file you downloaded. The token is active from the moment you download it.</p>`,
])}
</div>`;
}

export function tokenPage(viewer: Viewer, token: HolderToken, notice?: Notice, error?: TallyError): Html {
  return layout(frame({ ...viewer, section: 'tokens' }), {
    title: tokenTitle(token),
    notice: error ? { kind: 'error', text: error.message } : notice,
    body: html`<div class="page-head"><h1>${tokenTitle(token)}</h1>${badge(token.state, token.activation)}</div>
<div class="card">
  <dl class="facts facts-grid">
    <div><dt>Type</dt><dd>${TYPE_NAMES[token.tokenType]}</dd></div>
    <div><dt>Device</dt><dd>${token.device ?? 'Hardware or imported token'}</dd></div>
    <div><dt>Profile</dt><dd>${token.profile ?? '—'}</dd></div>
    <div><dt>Serial</dt><dd class="mono">${token.serial}</dd></div>
    <div><dt>Issued</dt><dd>${time(token.createdAt)}</dd></div>
    <div><dt>Activated</dt><dd>${time(token.activatedAt, 'Not yet')}</dd></div>
    <div><dt>Last used</dt><dd>${time(token.lastUsedAt)}</dd></div>
    <div><dt>Valid until</dt><dd>${day(token.expiresOn)}</dd></div>
  </dl>
  ${token.delivery === 'ctf' ? html`<p class="hint">This token was delivered as a CTF link or string, which Tally does not keep. If you need it again, ask your IT helpdesk to issue the token again.</p>` : ''}
  ${token.state === 'pending' && token.activation === 'open' ? html`<p><a class="button button-primary" href="/tokens/${token.serial}/activate">Activate</a></p>` : ''}
</div>
<section class="card" aria-labelledby="rename-title">
  <h2 id="rename-title">Rename</h2>
  <p>A name of your own helps you tell your tokens apart, for example “Work phone”.</p>
  <form method="post" action="/tokens/${token.serial}/rename" class="form form-inline">
    ${csrfField(viewer.csrfToken)}
    <div class="field">
      <label for="label">Name</label>
      <input id="label" name="label" type="text" value="${token.label ?? ''}" maxlength="64">
    </div>
    <button type="submit" class="button button-secondary">Save name</button>
  </form>
</section>
<p><a href="${HOME}">← Back to My tokens</a></p>`,
  });
}

/** A CTF token the user asked for: the only time its string is shown, because Tally keeps only the seed. */
export function ctfPage(viewer: Viewer, result: DistributionResult): Html {
  return layout(frame({ ...viewer, section: 'tokens' }), {
    title: 'Your new token',
    notice: { kind: 'warning', text: 'This is shown only once. Import the token now, before you leave this page.' },
    body: html`<div class="page-head"><h1>Your new token</h1></div>
<div class="card">
${steps([
  html`<h2>On the phone with the SecurID app</h2><p><a class="button button-primary" href="${result.appLink ?? ''}">Open in the SecurID app</a></p>`,
  html`<h2>Or import the token string</h2><p>In the app, choose to import a token and paste:</p>${copyable('ctf', 'token string', result.ctf ?? '', { className: 'secret-wrap' })}`,
])}
<p>Serial <span class="mono">${result.serial}</span>. The token is active. <a href="${HOME}">See My tokens</a>.</p>
</div>`,
  });
}

export function errorPage(viewer: Viewer, error: TallyError): Html {
  const headings: Record<number, string> = { 403: 'Not allowed', 404: 'Not found', 409: 'Not possible right now', 410: 'No longer available', 423: 'Locked', 429: 'Slow down' };
  const heading = headings[error.status] ?? (error.status >= 500 ? 'Something went wrong' : 'That did not work');
  return layout(frame(viewer), {
    title: heading,
    narrow: true,
    body: html`<section class="card">
  <h1>${heading}</h1>
  <p>${error.message}</p>
  <p class="muted">Error code: <span class="mono">${error.code}</span></p>
  <p><a class="button button-secondary" href="${HOME}">${viewer.username ? 'Back to My tokens' : 'Go to the log-on page'}</a></p>
</section>`,
  });
}
