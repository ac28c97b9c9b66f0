import type { DistributionResult } from '../../../domain/distribution.js';
import type {
  HolderActivation,
  HolderToken,
  OfferGroup,
  SelfServiceFeatures,
  SelfServiceLogOn,
  SelfServiceSettings,
} from '../../../domain/self-service.js';
import type { TokenRequestView } from '../../../domain/token-requests.js';
import type { TallyError } from '../../../errors.js';
import { tokenType as tokenTypeModule } from '../../../tokens/registry.js';
import { credentialFields, errorCard } from '../../web/forms.js';
import { type Html, html } from '../../web/html.js';
import { csrfField, layout, type Notice, type PageFrame } from '../../web/layout.js';

/** The pages of the Self-Service Console, as typed functions of what they show. */

export const HOME = '/';

export interface Viewer {
  /** The logged-on user; absent on the log-on page. */
  username?: string;
  csrfToken: string;
  section?: 'tokens' | 'request';
  /** What the console offers now; a switched-off feature's control is not shown (absent: all on). */
  features?: SelfServiceFeatures;
}

/** Whether the console offers this feature to the viewer (the service refuses it anyway when off). */
function offers(viewer: Viewer, feature: keyof SelfServiceFeatures): boolean {
  return viewer.features?.[feature] !== false;
}

function frame(viewer: Viewer): PageFrame {
  return {
    console: 'Self-Service',
    home: HOME,
    user: viewer.username ? { name: viewer.username, csrfToken: viewer.csrfToken, logOffAction: '/logoff' } : undefined,
    nav: viewer.username
      ? [
          { href: HOME, label: 'My tokens', current: viewer.section === 'tokens' },
          ...(offers(viewer, 'selfServiceRequest')
            ? [{ href: '/request', label: 'Request a token', current: viewer.section === 'request' }]
            : []),
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

function badge({ state, activation, disabledReason }: Pick<HolderToken, 'state' | 'activation' | 'disabledReason'>): Html {
  if (state === 'pending' && activation === 'expired') return html`<span class="badge badge-disabled">Activation expired</span>`;
  if (state === 'disabled' && disabledReason === 'lost') return html`<span class="badge badge-disabled">Reported lost</span>`;
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

/** The log-on form; with `passcode`, the console's policy asks users who have an active token for a passcode too. */
export function logOnPage(viewer: Viewer, form: { username?: string; passcode: boolean; error?: TallyError; notice?: Notice }): Html {
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
    ${credentialFields(form.username)}
    ${
      form.passcode
        ? html`<div class="field">
      <label for="passcode">Passcode</label>
      <input id="passcode" name="passcode" type="password" inputmode="numeric" autocomplete="one-time-code" maxlength="72" aria-describedby="passcode-hint">
      <p class="hint" id="passcode-hint">If you have an active token: your PIN, if it has one, then the code the token shows. Without an active token, leave it empty.</p>
    </div>`
        : ''
    }
    <button type="submit" class="button button-primary button-block">Log on</button>
  </form>
</section>`,
  });
}

const CHALLENGE_FIELDS: Record<Extract<SelfServiceLogOn, { outcome: 'challenge' }>['prompt'], { label: string; secret: boolean }> = {
  'next-code': { label: 'Next tokencode', secret: false },
  'new-pin': { label: 'New PIN', secret: true },
  'confirm-pin': { label: 'New PIN again', secret: true },
};

/** The step after a right password and passcode: the next tokencode, or a new PIN (twice). */
export function logOnChallengePage(viewer: Viewer, challenge: Extract<SelfServiceLogOn, { outcome: 'challenge' }>): Html {
  const field = CHALLENGE_FIELDS[challenge.prompt];
  return layout(frame(viewer), {
    title: 'Log on',
    narrow: true,
    body: html`<section class="card card-logon" aria-labelledby="logon-title">
  <h1 id="logon-title">One more step</h1>
  <p class="lead">Logging on as <strong>${challenge.username}</strong>. ${challenge.message}</p>
  <form method="post" action="/logon/challenge" class="form">
    ${csrfField(viewer.csrfToken)}
    <input type="hidden" name="username" value="${challenge.username}">
    <input type="hidden" name="state" value="${challenge.state}">
    <div class="field">
      <label for="answer">${field.label}</label>
      <input id="answer" name="answer" type="${field.secret ? 'password' : 'text'}" inputmode="numeric" autocomplete="${field.secret ? 'off' : 'one-time-code'}" maxlength="72" required autofocus class="input-code">
    </div>
    <button type="submit" class="button button-primary button-block">Continue</button>
  </form>
  <p class="hint">Not you? <a href="${HOME}">Start again</a>.</p>
</section>`,
  });
}

function requestCard(request: TokenRequestView): Html {
  const waiting = request.state === 'pending';
  return html`<li class="item">
  <div class="item-main">
    <h3 class="item-title">${request.profile}</h3>
    <p class="item-meta">Requested ${time(request.createdAt)}</p>
    ${
      waiting
        ? html`<p>An administrator has to approve this request. You will get a mail when it is decided.</p>`
        : html`<p>Declined ${time(request.decidedAt)}. Reason: ${request.reason ?? 'none given'}</p>`
    }
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
    ${badge(token)}
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
  ${tokens.length && offers(viewer, 'selfServiceRequest') ? html`<a class="button button-primary" href="/request">Request a token</a>` : ''}
</div>
${
  requests.length
    ? html`<section aria-labelledby="requests-title" class="section">
  <h2 id="requests-title">Requests</h2>
  <ul class="items">${requests.map(requestCard)}</ul>
</section>`
    : ''
}
${
  tokens.length
    ? html`<section aria-labelledby="tokens-title" class="section">
  <h2 id="tokens-title" class="visually-hidden">Tokens</h2>
  <ul class="items">${tokens.map(tokenCard)}</ul>
</section>`
    : html`<section class="card empty">
  <h2>You have no tokens yet</h2>
  <p>A token is an app on your phone or computer that shows a new code every few seconds. You type that code when you log on to prove it is you.</p>
  ${offers(viewer, 'selfServiceRequest') ? html`<a class="button button-primary" href="/request">Request a token</a>` : html`<p>Ask your IT helpdesk for one.</p>`}
</section>`
}`,
  });
}

/**
 * A group's app versions, as the user reads them: the newest group of a device covers its version
 * and every later one; an older group only its own major version, since the next group takes the
 * later apps (a profile for 1.3 beside one for 2.1 is for the 1.x apps).
 */
function appVersionHeading(group: OfferGroup, groups: readonly OfferGroup[]): string {
  const version = group.appVersion ?? '';
  const major = majorOf(version) ?? 0;
  const laterGroup = groups.some((other) => other.device === group.device && (majorOf(other.appVersion ?? '') ?? 0) > major);
  if (laterGroup) return `app version ${major}.x`;
  return `app version ${/^\d+$/.test(version) ? `${version}.x` : version} or later`;
}

function majorOf(version: string): number | undefined {
  const match = /^(\d+)/.exec(version.trim());
  return match ? Number(match[1]) : undefined;
}

export function requestPage(viewer: Viewer, groups: OfferGroup[], error?: TallyError): Html {
  const body = !offers(viewer, 'selfServiceRequest')
    ? html`<section class="card empty"><h2>Requests are switched off</h2><p>Tokens are not requested here. Ask your IT helpdesk for a token.</p></section>`
    : groups.length
      ? html`<form method="post" action="/request" class="form">
  ${csrfField(viewer.csrfToken)}
  ${groups.map(
    (group) => html`<fieldset class="choice-group">
    <legend>${group.device}${group.appVersion ? html` <span class="muted">· ${appVersionHeading(group, groups)}</span>` : ''}</legend>
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
  notice?: Notice;
}

export function activatePage(viewer: Viewer, view: ActivationView): Html {
  const { token, activation } = view;
  const title = activation.kind === 'file' ? 'Download your token file' : 'Activate your token';
  return layout(frame({ ...viewer, section: 'tokens' }), {
    title,
    notice: view.error ? { kind: 'error', text: view.error.message } : view.notice,
    body: html`<div class="page-head"><h1>${title}</h1></div>
<p class="lead">${tokenTitle(token)} · <span class="mono">${token.serial}</span> · ${token.device ?? TYPE_NAMES[token.tokenType]}</p>
${activation.kind === 'otpauth' ? otpauthBody(viewer, view, activation) : activation.kind === 'ctkip' ? ctkipBody(viewer, view, activation) : fileBody(viewer, view, activation)}`,
  });
}

function otpauthBody(viewer: Viewer, view: ActivationView, activation: Extract<HolderActivation, { kind: 'otpauth' }>): Html {
  const kind =
    activation.period === null
      ? `counter-based, ${activation.digits} digits`
      : `time-based, ${activation.digits} digits, a new code every ${activation.period} seconds`;
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

/**
 * The button that replaces the outstanding code or link (a POST: opening the page never does);
 * where that is switched off, where to ask instead.
 */
function renewForm(viewer: Viewer, view: ActivationView, label: string, consequence: string): Html {
  if (!offers(viewer, 'selfServiceReissue')) return html`<p class="hint">For a new one, ask your IT helpdesk.</p>`;
  return html`<form method="post" action="/tokens/${view.token.serial}/activate/renew" class="form form-inline">
    ${csrfField(viewer.csrfToken)}
    <button type="submit" class="button button-secondary" aria-describedby="renew-consequence">${label}</button>
    <p class="hint" id="renew-consequence">${consequence}</p>
  </form>`;
}

function ctkipBody(viewer: Viewer, view: ActivationView, activation: Extract<HolderActivation, { kind: 'ctkip' }>): Html {
  const renew = renewForm(
    viewer,
    view,
    'New activation code',
    'The code shown now, or the one your IT helpdesk gave you, then stops working.',
  );
  if (activation.activationCode === undefined || activation.appLink === undefined) {
    return html`<div class="card">
  <h2>No activation code to show</h2>
  <p>This token's activation code was given out before codes could be shown again. Get a new one here, or use the one your IT helpdesk gave you.</p>
  ${renew}
</div>`;
  }
  const values = html`<dl class="facts facts-stacked">
    ${
      activation.ctkipUrl === undefined
        ? html`<div><dt>URL</dt><dd>The URL to type comes from your IT helpdesk, by mail.</dd></div>`
        : html`<div><dt>URL</dt><dd>${copyable('ctkip-url', 'URL', activation.ctkipUrl, { className: 'secret-wrap' })}</dd></div>`
    }
    <div><dt>Activation code</dt><dd>${copyable('activation-code', 'activation code', activation.activationCode, { className: 'secret-large' })}</dd></div>
  </dl>
  <p class="hint">The activation code works once. It is the same code each time you open this page, and the same one your IT helpdesk may have given you. Lost it, or did the app refuse it?</p>
  ${renew}`;
  const onPhone = html`<p class="on-phone"><a class="button button-secondary" href="${activation.appLink}">On this phone? Open in the SecurID app</a></p>`;
  const qr = activation.appCanScan ? view.qr : undefined;
  return html`<div class="card">
${steps([
  html`<h2>Open the SecurID app</h2><p>Install the RSA SecurID Software Token app (SecurID Authenticator in its later versions) from your app store if you do not have it, then choose to add a token.</p>`,
  ...(qr
    ? [
        html`<h2>Scan this QR code with the app</h2>${qrFigure(qr, 'QR code for the SecurID app', 'The app reads the URL and the activation code from it.')}${onPhone}`,
        html`<h2>Or type what the app asks for</h2>${values}`,
      ]
    : [html`<h2>Type what the app asks for</h2>${onPhone}${values}`]),
  html`<h2>Wait for the first tokencode</h2><p>The app fetches the token over the internet. When it shows a tokencode, your token is active: <a href="${HOME}">see My tokens</a>.</p>`,
])}
</div>`;
}

function fileBody(viewer: Viewer, view: ActivationView, activation: Extract<HolderActivation, { kind: 'file' }>): Html {
  const renew = renewForm(viewer, view, 'New download link', 'The link shown now then stops working.');
  const download = activation.downloadUrl
    ? html`<form method="post" action="${new URL(activation.downloadUrl).pathname}"><button type="submit" class="button button-primary">Download token file</button></form>
  <p class="hint">The link works once, until ${time(activation.expiresAt)}. If the download failed:</p>
  ${renew}`
    : html`<p>This token's download link was given out before links could be shown again. Get a new one:</p>
  ${renew}`;
  return html`<div class="card">
${steps([
  html`<h2>Download the file</h2>
  ${download}`,
  activation.filePassword
    ? html`<h2>Note the file's password</h2><p>The app asks for it when you import the file.</p>${copyable('file-password', 'password', activation.filePassword, { className: 'secret-large' })}`
    : html`<h2>No password</h2><p>This file has no password: keep it safe and delete it once it is imported.</p>`,
  html`<h2>Import the file into your app</h2><p>Open the token app and import the file you downloaded. The token is active from the moment you download it.</p>`,
])}
</div>`;
}

/**
 * What a one-time download link opens: a page, never the file. Only its button (a POST to the
 * same address) uses the link, so a mail scanner or a preview that follows the link leaves it
 * working for its holder.
 */
export function downloadPage(viewer: Viewer, link: { action: string; expiresAt: string }): Html {
  return layout(frame(viewer), {
    title: 'Download your token file',
    narrow: true,
    body: html`<section class="card">
  <h1>Download your token file</h1>
  <p>This link gives the file once. Press <strong>Download</strong> on the computer or phone where you import it into the token app; the token is active from that moment.</p>
  <form method="post" action="${link.action}">
    <button type="submit" class="button button-primary button-block">Download</button>
  </form>
  <p class="hint">The link works until ${time(link.expiresAt)}. If the download fails, ask for a new link in the Self-Service Console or at your IT helpdesk.</p>
</section>`,
  });
}

/** The forms of a token's page, to mark the one a refusal is about. */
export type TokenForm = 'rename' | 'test' | 'resync' | 'pin' | 'lost' | 'replace';

export interface TokenPageView {
  token: HolderToken;
  notice?: Notice;
  /** A refusal of one of the page's forms: shown at the top, and that form's first field marked. */
  refused?: { form: TokenForm; error: TallyError };
  /** The emergency access code, on the page right after the token was reported lost: this once only. */
  emergency?: { code: string; until: string; oneTime: boolean };
  /** A PIN Tally just generated, on the page right after: this once only. */
  generatedPin?: string;
  /** What reporting a token lost gives, by the console's policy. */
  emergencyPolicy: SelfServiceSettings['emergencyAccess'];
  emergencyDays: number;
}

/** ` aria-invalid` and focus on the first field of the form a refusal is about. */
function invalidIf(view: TokenPageView, form: TokenForm): Html {
  return view.refused?.form === form ? html` aria-invalid="true" autofocus` : html``;
}

function codeField(
  id: string,
  name: string,
  label: string,
  options: { secret?: boolean; invalid?: Html; describedBy?: string; hint?: string } = {},
): Html {
  const describedBy = options.describedBy ?? (options.hint ? `${id}-hint` : undefined);
  return html`<div class="field">
      <label for="${id}">${label}</label>
      <input id="${id}" name="${name}" type="${options.secret ? 'password' : 'text'}" inputmode="numeric" autocomplete="off" maxlength="72" required class="input-code"${describedBy ? html` aria-describedby="${describedBy}"` : ''}${options.invalid ?? ''}>
      ${options.hint ? html`<p class="hint" id="${id}-hint">${options.hint}</p>` : ''}
    </div>`;
}

function emergencyCard(token: HolderToken, emergency: NonNullable<TokenPageView['emergency']>): Html {
  const withPin = token.pin === 'set' && !token.pinInApp;
  return html`<section class="card card-alert" aria-labelledby="emergency-title">
  <h2 id="emergency-title">Your emergency access code</h2>
  <p>Until a new token works, log on with this code in place of the token's code${withPin ? ', after your PIN' : ''}:</p>
  <p><code id="emergency-code" class="secret secret-large">${emergency.code}</code></p>
  <p>It works ${emergency.oneTime ? 'once' : 'as often as you need it'}, until ${time(emergency.until)}.</p>
  <p class="warning-text"><strong>Note it now: it is shown only this once.</strong> Keep it apart from your password.</p>
</section>`;
}

function lostNote(viewer: Viewer, token: HolderToken): Html {
  const access = token.emergencyAccess;
  return html`<section class="card" aria-labelledby="lost-title">
  <h2 id="lost-title">Reported lost</h2>
  <p>This token no longer works.${
    access
      ? html` The emergency access code you were shown when you reported it works ${access.oneTime ? 'once' : 'as often as you need it'}, until ${time(access.until)}.`
      : ' No emergency access code works for it now.'
  }</p>
  <p>Need a new token? ${offers(viewer, 'selfServiceRequest') ? html`<a href="/request">Request a token</a>.` : 'Ask your IT helpdesk.'} Found this one again? Your IT helpdesk can enable it.</p>
</section>`;
}

function renewalCard(viewer: Viewer, token: HolderToken, renewal: NonNullable<HolderToken['renewal']>, view: TokenPageView): Html {
  const action = renewal.replacement
    ? html`<p>Token <a href="/tokens/${renewal.replacement}" class="mono">${renewal.replacement}</a> replaces it.</p>`
    : renewal.requested
      ? html`<p>Your request for a replacement waits for an administrator's approval. You will get a mail when it is decided.</p>`
      : !offers(viewer, 'selfServiceRequest')
        ? html`<p>Ask your IT helpdesk for a replacement.</p>`
        : html`<form method="post" action="/tokens/${token.serial}/replace" class="form">
    ${csrfField(viewer.csrfToken)}
    <button type="submit" class="button button-primary"${invalidIf(view, 'replace')}>Request a replacement</button>
  </form>
  <p class="hint">You get a new token of the same kind${token.profile ? ` (${token.profile})` : ''}. Some need an administrator's approval first.</p>`;
  return html`<section class="card card-attention" aria-labelledby="replace-title">
  <h2 id="replace-title">${renewal.expired ? 'This token has expired' : 'This token expires soon'}</h2>
  <p>Its last day ${renewal.expired ? 'was' : 'is'} ${day(token.expiresOn)}.</p>
  ${action}
</section>`;
}

function testCard(viewer: Viewer, token: HolderToken, view: TokenPageView): Html {
  const withPin = token.pin === 'set';
  const hint = withPin
    ? token.pinInApp
      ? 'Enter your PIN in the token app, then type the passcode it shows.'
      : 'Your PIN, then the code your token shows now, with nothing in between.'
    : token.pin === 'to-set'
      ? 'The code your token shows now. It has no PIN yet: set one below before you log on with it.'
      : 'The code your token shows now.';
  return html`<section class="card" aria-labelledby="test-title">
  <h2 id="test-title">Test a code</h2>
  <p>Check that the token works, without logging on anywhere. The code is then used up, as at a log-on.</p>
  <form method="post" action="/tokens/${token.serial}/test" class="form form-inline">
    ${csrfField(viewer.csrfToken)}
    ${codeField('test-passcode', 'passcode', withPin ? 'Passcode' : 'Tokencode', { secret: withPin, invalid: invalidIf(view, 'test'), describedBy: 'test-hint' })}
    <button type="submit" class="button button-primary">Test code</button>
  </form>
  <p class="hint" id="test-hint">${hint}</p>
</section>`;
}

function pinCard(viewer: Viewer, token: HolderToken, view: TokenPageView): Html {
  if (token.pinGenerated) return generatedPinCard(viewer, token, view);
  const change = token.pin === 'set';
  const invalid = invalidIf(view, 'pin');
  return html`<section class="card" aria-labelledby="pin-title">
  <h2 id="pin-title">${change ? 'Change PIN' : 'Set a PIN'}</h2>
  <p>${change ? 'Type your current PIN, then the new one twice.' : `This token needs a PIN: ${token.pinInApp ? 'you enter it in the token app' : 'you type it before the code'} each time you log on.`}</p>
  <form method="post" action="/tokens/${token.serial}/pin" class="form">
    ${csrfField(viewer.csrfToken)}
    ${change ? codeField('pin-current', 'current', 'Current PIN', { secret: true, invalid }) : ''}
    ${codeField('pin-new', 'pin', 'New PIN', { secret: true, hint: `${token.pinPolicy}; not one character over and over, nor a run such as 1234.`, invalid: change ? undefined : invalid })}
    ${codeField('pin-again', 'again', 'New PIN again', { secret: true })}
    <button type="submit" class="button button-primary">${change ? 'Change PIN' : 'Set PIN'}</button>
  </form>
</section>`;
}

/** Where the token's policy has Tally generate PINs, the holder asks for one: no field to choose it. */
function generatedPinCard(viewer: Viewer, token: HolderToken, view: TokenPageView): Html {
  const change = token.pin === 'set';
  const use = token.pinInApp ? 'you enter it in the token app' : 'you type it before the code';
  return html`<section class="card" aria-labelledby="pin-title">
  <h2 id="pin-title">${change ? 'Change PIN' : 'Get a PIN'}</h2>
  ${
    view.generatedPin
      ? html`<p>Your new PIN (${use} each time you log on):</p>
  <p><code id="generated-pin" class="secret secret-large">${view.generatedPin}</code></p>
  <p class="warning-text"><strong>Note it now: it is shown only this once.</strong></p>`
      : html`<p>Tally chooses this token's PIN (${token.pinPolicy}); ${use} each time you log on.${change ? ' Type your current PIN to get a new one.' : ''}</p>`
  }
  <form method="post" action="/tokens/${token.serial}/pin/generate" class="form">
    ${csrfField(viewer.csrfToken)}
    ${change ? codeField('pin-current', 'current', 'Current PIN', { secret: true, invalid: invalidIf(view, 'pin') }) : ''}
    <button type="submit" class="button button-primary">Generate a new PIN</button>
  </form>
</section>`;
}

function resyncCard(viewer: Viewer, token: HolderToken, view: TokenPageView): Html {
  const pair =
    tokenTypeModule(token.tokenType).movingFactor === 'counter'
      ? 'the code your token shows, then the one it shows next'
      : 'the code shown now and, once it changes, the next one';
  return html`<section class="card" aria-labelledby="resync-title">
  <h2 id="resync-title">Resync</h2>
  <p>Codes refused although you type them right? The token may be out of step. Type two codes in a row: ${pair}${token.pin === 'set' && !token.pinInApp ? ', without your PIN' : ''}.</p>
  <form method="post" action="/tokens/${token.serial}/resync" class="form form-inline">
    ${csrfField(viewer.csrfToken)}
    ${codeField('resync-first', 'first', 'First code', { invalid: invalidIf(view, 'resync') })}
    ${codeField('resync-second', 'second', 'Next code')}
    <button type="submit" class="button button-secondary">Resync</button>
  </form>
</section>`;
}

function reportLostCard(viewer: Viewer, token: HolderToken, view: TokenPageView): Html {
  const instead: Record<TokenPageView['emergencyPolicy'], string> = {
    none: 'If you need to log on before a new token works, ask your IT helpdesk.',
    'one-time': `You then get an emergency access code, to log on once in its place within ${view.emergencyDays} days.`,
    fixed: `You then get an emergency access code, to log on in its place for ${view.emergencyDays} days.`,
  };
  return html`<section class="card card-danger" aria-labelledby="lost-title">
  <h2 id="lost-title">Report lost</h2>
  <p>Lost the phone or computer with this token, or think someone else has it? Report it lost: it stops working at once, everywhere. ${instead[view.emergencyPolicy]}</p>
  <form method="post" action="/tokens/${token.serial}/lost" class="form">
    ${csrfField(viewer.csrfToken)}
    <div class="field"><label class="check"><input type="checkbox" name="confirm" value="yes" required${invalidIf(view, 'lost')}> This token is lost: stop it working now</label></div>
    <button type="submit" class="button button-danger">Report lost</button>
  </form>
</section>`;
}

export function tokenPage(viewer: Viewer, view: TokenPageView): Html {
  const { token } = view;
  const lost = token.state === 'disabled' && token.disabledReason === 'lost';
  return layout(frame({ ...viewer, section: 'tokens' }), {
    title: tokenTitle(token),
    notice: view.refused ? { kind: 'error', text: view.refused.error.message } : view.notice,
    body: html`<div class="page-head"><h1>${tokenTitle(token)}</h1>${badge(token)}</div>
${view.emergency ? emergencyCard(token, view.emergency) : ''}
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
  ${token.state === 'pending' && token.pin === 'to-set' ? html`<p class="hint">This token will need a PIN: you can set it below now, or at your first log-on with it.</p>` : ''}
</div>
${lost && !view.emergency ? lostNote(viewer, token) : ''}
<div class="manage">
${token.renewal ? renewalCard(viewer, token, token.renewal, view) : ''}
${token.state === 'active' ? testCard(viewer, token, view) : ''}
${(token.state === 'active' || token.state === 'pending') && token.pin !== 'none' ? pinCard(viewer, token, view) : ''}
${token.state === 'active' ? resyncCard(viewer, token, view) : ''}
<section class="card" aria-labelledby="rename-title">
  <h2 id="rename-title">Rename</h2>
  <p>A name of your own helps you tell your tokens apart, for example “Work phone”.</p>
  <form method="post" action="/tokens/${token.serial}/rename" class="form form-inline">
    ${csrfField(viewer.csrfToken)}
    <div class="field">
      <label for="label">Name</label>
      <input id="label" name="label" type="text" value="${token.label ?? ''}" maxlength="64"${invalidIf(view, 'rename')}>
    </div>
    <button type="submit" class="button button-secondary">Save name</button>
  </form>
</section>
${token.state === 'active' && offers(viewer, 'selfServiceReportLost') ? reportLostCard(viewer, token, view) : ''}
</div>
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
  const { heading, body } = errorCard(error, { href: HOME, label: viewer.username ? 'Back to My tokens' : 'Go to the log-on page' });
  return layout(frame(viewer), {
    title: heading,
    narrow: true,
    body,
  });
}
