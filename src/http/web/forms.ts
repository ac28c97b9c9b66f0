import type { TallyError } from '../../errors.js';
import { type Html, html } from './html.js';

/**
 * The `Username` and `Password` fields of both consoles' log-on forms (their labels are an outside
 * contract). Focus goes to the password when the username is already filled in.
 */
export function credentialFields(username: string | undefined): Html {
  return html`<div class="field">
      <label for="username">Username</label>
      <input id="username" name="username" type="text" value="${username ?? ''}" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="128" required${username ? '' : html` autofocus`}>
    </div>
    <div class="field">
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required${username ? html` autofocus` : ''}>
    </div>`;
}

const ERROR_HEADINGS: Record<number, string> = {
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible right now',
  410: 'No longer available',
  423: 'Locked',
  429: 'Slow down',
};

/** Both consoles' error page body: a heading for the status, the message, the stable code, a way back. */
export function errorCard(error: TallyError, back: { href: string; label: string }): { heading: string; body: Html } {
  const heading = ERROR_HEADINGS[error.status] ?? (error.status >= 500 ? 'Something went wrong' : 'That did not work');
  return {
    heading,
    body: html`<section class="card">
  <h1>${heading}</h1>
  <p>${error.message}</p>
  <p class="muted">Error code: <span class="mono">${error.code}</span></p>
  <p><a class="button button-secondary" href="${back.href}">${back.label}</a></p>
</section>`,
  };
}
