import { html, type Html } from './html.js';

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
