import { assetUrl } from './assets.js';
import { type Html, html, type Renderable } from './html.js';

export interface Notice {
  kind: 'success' | 'info' | 'warning' | 'error';
  text: Renderable;
}

export interface NavItem {
  href: string;
  label: string;
  current: boolean;
}

export interface PageFrame {
  /** The console's name under the brand, e.g. "Self-Service". */
  console: string;
  /** Where the brand links to. */
  home: string;
  /** The logged-on user, with what the log-off form needs. */
  user?: { name: string; csrfToken: string; logOffAction: string };
  nav?: NavItem[];
  footer?: Renderable;
  /** Room for tables: the Security Console's pages are wider than the self-service column. */
  wide?: boolean;
}

export interface Page {
  title: string;
  notice?: Notice;
  body: Html;
  /** A narrow, centred column (log-on). */
  narrow?: boolean;
}

const LOGO = html`<svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="8" fill="#1d4ed8"/><path d="M16 6.5 8 9.6v6.1c0 5 3.4 8.9 8 10.3 4.6-1.4 8-5.3 8-10.3V9.6z" fill="#fff"/><path d="m12.4 16.2 2.5 2.5 4.9-5" fill="none" stroke="#1d4ed8" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

export function notice(value: Notice | undefined): Html {
  if (!value) return html``;
  const role = value.kind === 'error' ? 'alert' : 'status';
  return html`<div class="notice notice-${value.kind}" role="${role}">${value.text}</div>`;
}

/** A whole document: one stylesheet, one deferred script, no inline script or style (the CSP forbids them). */
export function layout(frame: PageFrame, page: Page): Html {
  const user = frame.user;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${page.title} · Tally ${frame.console}</title>
<link rel="stylesheet" href="${assetUrl('tally.css')}">
<link rel="icon" type="image/svg+xml" href="${assetUrl('favicon.svg')}">
<script src="${assetUrl('tally.js')}" defer></script>
</head>
<body${frame.wide ? html` class="wide"` : ''}>
<a class="skip-link" href="#main">Skip to the content</a>
<header class="topbar">
  <div class="topbar-inner">
    <a class="brand" href="${frame.home}">${LOGO}<span class="brand-name">Tally</span><span class="brand-console">${frame.console}</span></a>
    ${
      user
        ? html`<div class="account">
      <span class="account-name" title="Logged on as ${user.name}"><span class="visually-hidden">Logged on as </span>${user.name}</span>
      <form method="post" action="${user.logOffAction}">${csrfField(user.csrfToken)}<button type="submit" class="button button-quiet">Log off</button></form>
    </div>`
        : ''
    }
  </div>
  ${
    frame.nav?.length
      ? html`<nav class="tabs" aria-label="Sections"><div class="tabs-inner">${frame.nav.map((item) => html`<a href="${item.href}"${item.current ? html` aria-current="page"` : ''}>${item.label}</a>`)}</div></nav>`
      : ''
  }
</header>
<main id="main" class="container${page.narrow ? ' container-narrow' : ''}">
${notice(page.notice)}
${page.body}
</main>
<footer class="footer"><div class="container">${frame.footer ?? ''}</div></footer>
</body>
</html>
`;
}
