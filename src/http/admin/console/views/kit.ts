import { type Actor, can, type Permission } from '../../../../domain/actor.js';
import type { TallyError } from '../../../../errors.js';
import type { Delivery, TokenState } from '../../../../model/vocabulary.js';
import type { TokenType } from '../../../../tokens/types.js';
import { path } from '../../../web/format.js';
import { type Html, html, type Renderable } from '../../../web/html.js';
import { csrfField, layout, type Notice, type PageFrame } from '../../../web/layout.js';

/** The building blocks every Security Console page shares: the frame, form fields, tables, badges. */

export const HOME = '/console';

export type Section = 'dashboard' | 'users' | 'tokens' | 'profiles' | 'requests' | 'audit' | 'mail' | 'sources' | 'settings';

export interface Viewer {
  /** The logged-on admin; absent on the log-on page. */
  actor?: Actor;
  csrfToken: string;
  section?: Section;
}

/** Whether to show a control; the domain decides whether the action is allowed. */
export function may(viewer: Viewer, permission: Permission): boolean {
  return viewer.actor !== undefined && can(viewer.actor, permission);
}

export const ROLE_NAMES: Record<string, string> = {
  superadmin: 'Super admin',
  helpdesk: 'Help desk',
  user: 'User',
  agent: 'Agent (API only)',
};

export function link(...segments: (string | number)[]): string {
  return path(HOME, ...segments);
}

function frame(viewer: Viewer): PageFrame {
  const actor = viewer.actor;
  const item = (section: Section, href: string, label: string) => ({ href, label, current: viewer.section === section });
  const nav = actor
    ? [
        item('dashboard', HOME, 'Dashboard'),
        item('users', link('users'), 'Users'),
        item('tokens', link('tokens'), 'Tokens'),
        ...(may(viewer, 'profiles.read') ? [item('profiles', link('profiles'), 'Profiles')] : []),
        item('requests', link('requests'), 'Requests'),
        item('audit', link('audit'), 'Audit'),
        ...(may(viewer, 'mailTemplates.manage') ? [item('mail', link('mail-templates'), 'Mail')] : []),
        ...(may(viewer, 'identitySources.manage') ? [item('sources', link('identity-sources'), 'Identity sources')] : []),
        ...(may(viewer, 'settings.change') || may(viewer, 'radius.manage') || may(viewer, 'apitokens.manage')
          ? [item('settings', link('settings'), 'Settings')]
          : []),
      ]
    : undefined;
  return {
    console: 'Security Console',
    home: HOME,
    wide: true,
    user: actor ? { name: actor.name, csrfToken: viewer.csrfToken, logOffAction: link('logoff') } : undefined,
    nav,
    footer: actor
      ? html`<p>Tally Security Console · logged on as ${actor.name} (${ROLE_NAMES[actor.role] ?? actor.role})</p>`
      : html`<p>Tally Security Console, for administrators.</p>`,
  };
}

export interface ConsolePage {
  title: string;
  body: Html;
  notice?: Notice;
  error?: TallyError;
  narrow?: boolean;
}

export function consolePage(viewer: Viewer, page: ConsolePage): Html {
  return layout(frame(viewer), {
    title: page.title,
    narrow: page.narrow,
    notice: page.error ? { kind: 'error', text: page.error.message } : page.notice,
    body: page.body,
  });
}

export function pageHead(title: Renderable, actions?: Html, lead?: Renderable): Html {
  return html`<div class="page-head"><h1>${title}</h1>${actions ? html`<div class="actions">${actions}</div>` : ''}</div>
${lead ? html`<p class="lead">${lead}</p>` : ''}`;
}

export function backLink(href: string, label: string): Html {
  return html`<p class="back"><a href="${href}">← ${label}</a></p>`;
}

// ---- Form fields ----

interface FieldOptions {
  hint?: Renderable;
  required?: boolean;
  autofocus?: boolean;
}

let fieldIds = 0;
/** Each field's id and its hint's id, unique in the page. */
function ids(name: string): { id: string; hint: string } {
  const id = `f-${name}-${++fieldIds}`;
  return { id, hint: `${id}-hint` };
}

function hintOf(id: string, hint: Renderable | undefined): Html {
  return hint ? html`<p class="field-hint" id="${id}">${hint}</p>` : html``;
}

export function textField(
  name: string,
  label: string,
  value: string | number | null | undefined,
  options: FieldOptions & {
    type?: 'text' | 'email' | 'password' | 'number' | 'date' | 'search';
    maxlength?: number;
    min?: number;
    max?: number;
    autocomplete?: string;
    placeholder?: string;
    list?: string;
  } = {},
): Html {
  const id = ids(name);
  const type = options.type ?? 'text';
  return html`<div class="field">
  <label for="${id.id}">${label}</label>
  <input id="${id.id}" name="${name}" type="${type}"${value === null || value === undefined ? '' : html` value="${String(value)}"`}${options.maxlength ? html` maxlength="${options.maxlength}"` : ''}${options.min !== undefined ? html` min="${options.min}"` : ''}${options.max !== undefined ? html` max="${options.max}"` : ''}${options.required ? html` required` : ''}${options.autofocus ? html` autofocus` : ''}${options.placeholder ? html` placeholder="${options.placeholder}"` : ''}${options.list ? html` list="${options.list}"` : ''} autocomplete="${options.autocomplete ?? 'off'}"${options.hint ? html` aria-describedby="${id.hint}"` : ''}>
  ${hintOf(id.hint, options.hint)}
</div>`;
}

export function textArea(
  name: string,
  label: string,
  value: string | null | undefined,
  options: FieldOptions & { rows?: number; maxlength?: number; placeholder?: string } = {},
): Html {
  const id = ids(name);
  return html`<div class="field">
  <label for="${id.id}">${label}</label>
  <textarea id="${id.id}" name="${name}" rows="${options.rows ?? 6}"${options.maxlength ? html` maxlength="${options.maxlength}"` : ''}${options.required ? html` required` : ''}${options.placeholder ? html` placeholder="${options.placeholder}"` : ''}${options.hint ? html` aria-describedby="${id.hint}"` : ''} spellcheck="false">${value ?? ''}</textarea>
  ${hintOf(id.hint, options.hint)}
</div>`;
}

export interface Option {
  value: string;
  label: string;
  disabled?: boolean;
}

export function selectField(
  name: string,
  label: string,
  options: Option[],
  selected: string | null | undefined,
  extra: FieldOptions = {},
): Html {
  const id = ids(name);
  return html`<div class="field">
  <label for="${id.id}">${label}</label>
  <select id="${id.id}" name="${name}"${extra.required ? html` required` : ''}${extra.hint ? html` aria-describedby="${id.hint}"` : ''}>
    ${options.map((option) => html`<option value="${option.value}"${option.value === (selected ?? '') ? html` selected` : ''}${option.disabled ? html` disabled` : ''}>${option.label}</option>`)}
  </select>
  ${hintOf(id.hint, extra.hint)}
</div>`;
}

export function checkboxField(name: string, label: Renderable, checked: boolean, hint?: Renderable, value = 'yes'): Html {
  const id = ids(name);
  return html`<div class="field field-check">
  <input id="${id.id}" name="${name}" type="checkbox" value="${value}"${checked ? html` checked` : ''}${hint ? html` aria-describedby="${id.hint}"` : ''}>
  <label for="${id.id}">${label}</label>
  ${hintOf(id.hint, hint)}
</div>`;
}

export function fileField(name: string, label: string, options: FieldOptions & { accept?: string } = {}): Html {
  const id = ids(name);
  return html`<div class="field">
  <label for="${id.id}">${label}</label>
  <input id="${id.id}" name="${name}" type="file"${options.accept ? html` accept="${options.accept}"` : ''}${options.required ? html` required` : ''}${options.hint ? html` aria-describedby="${id.hint}"` : ''}>
  ${hintOf(id.hint, options.hint)}
</div>`;
}

/** A form of one button (and hidden fields) that posts an action. */
export function actionButton(
  viewer: Viewer,
  action: string,
  label: string,
  options: {
    kind?: 'primary' | 'secondary' | 'danger' | 'quiet';
    small?: boolean;
    fields?: Record<string, string>;
    describedBy?: string;
  } = {},
): Html {
  const kind = options.kind ?? 'secondary';
  return html`<form method="post" action="${action}" class="inline-form">${csrfField(viewer.csrfToken)}${Object.entries(options.fields ?? {}).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}<button type="submit" class="button button-${kind}${options.small ? ' button-small' : ''}"${options.describedBy ? html` aria-describedby="${options.describedBy}"` : ''}>${label}</button></form>`;
}

// ---- Tables and badges ----

export function table(caption: string, headers: Renderable[], rows: Html[], empty: Renderable): Html {
  if (rows.length === 0) return html`<p class="empty-note">${empty}</p>`;
  return html`<div class="table-wrap"><table class="table">
  <caption class="visually-hidden">${caption}</caption>
  <thead><tr>${headers.map((header) => html`<th scope="col">${header}</th>`)}</tr></thead>
  <tbody>${rows}</tbody>
</table></div>`;
}

/**
 * Links to the page before (newer events) and after (older); a list paged by key (`'first'`) links
 * back to its first page and on to the next.
 */
export function pager(previous: string | undefined, next: string | undefined, kind: 'time' | 'first' = 'time'): Html {
  if (!previous && !next) return html``;
  const [back, on] = kind === 'time' ? ['← Newer', 'Older →'] : ['← First page', 'Next page →'];
  return html`<nav class="pager" aria-label="Pages">${previous ? html`<a class="button button-secondary button-small" href="${previous}">${back}</a>` : html`<span></span>`}${next ? html`<a class="button button-secondary button-small" href="${next}">${on}</a>` : ''}</nav>`;
}

export const DELIVERY_NAMES: Record<Delivery, string> = { qr: 'QR code', ctkip: 'CT-KIP', file: 'Token file', ctf: 'CTF string' };

/** Where an actor acted from, as the audit shows it beside the name. */
export const ACTOR_KINDS: Record<string, string> = {
  admin: 'console',
  apitoken: 'API token',
  user: 'self-service',
  system: 'system',
  anonymous: 'not logged on',
  'radius-client': 'RADIUS client',
  'authn-agent': 'RSA agent',
};

export const STATE_NAMES: Record<TokenState, string> = {
  unassigned: 'Unassigned',
  pending: 'Pending activation',
  active: 'Active',
  disabled: 'Disabled',
};
export const TYPE_NAMES: Record<TokenType, string> = { totp: 'TOTP', hotp: 'HOTP', securid: 'SecurID' };

export function stateBadge(state: TokenState): Html {
  return html`<span class="badge badge-${state}">${STATE_NAMES[state]}</span>`;
}

export function resultBadge(result: 'success' | 'failure'): Html {
  return result === 'success'
    ? html`<span class="badge badge-active">Success</span>`
    : html`<span class="badge badge-failure">Failure</span>`;
}

export function userLink(username: string | null): Html {
  return username === null ? html`<span class="muted">—</span>` : html`<a href="${link('users', username)}">${username}</a>`;
}

export function serialLink(serial: string): Html {
  return html`<a class="mono" href="${link('tokens', serial)}">${serial}</a>`;
}

/** A value an admin hands to a user: selectable text, with a copy button where scripts run. */
export function copyable(id: string, name: string, value: string, className = ''): Html {
  return html`<div class="copyable"><code id="${id}" class="secret${className ? ` ${className}` : ''}">${value}</code><button type="button" class="button button-small button-secondary" data-copy="${value}" aria-label="Copy the ${name}" hidden>Copy</button></div>`;
}

export function csrf(viewer: Viewer): Html {
  return csrfField(viewer.csrfToken);
}
