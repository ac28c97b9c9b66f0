import type { ApiTokenView } from '../../../../domain/api-tokens.js';
import type { RadiusClientView } from '../../../../domain/radius-clients.js';
import { SETTINGS, type SettingName, type SettingView } from '../../../../domain/settings.js';
import type { TallyError } from '../../../../errors.js';
import { time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import {
  actionButton,
  checkboxField,
  consolePage,
  copyable,
  csrf,
  link,
  may,
  pageHead,
  ROLE_NAMES,
  selectField,
  table,
  textField,
  type Viewer,
} from './kit.js';

export interface SettingsData {
  settings: SettingView[];
  radiusClients: RadiusClientView[];
  apiTokens: ApiTokenView[];
  notice?: Notice;
  error?: TallyError;
  /** What the failed form held, to show it again (never a secret). */
  radiusForm?: { name?: string; address?: string };
  apiTokenForm?: { name?: string; role?: string };
  /** The settings form as it was sent, when it was refused. */
  valuesForm?: Record<string, string>;
}

const SETTING_LABELS: Record<SettingName, string> = {
  tokensPerUser: 'Tokens per user',
  selfServiceRequest: 'Users may request tokens',
  selfServiceReissue: 'Users may get a new activation code or download link',
  selfServiceReportLost: 'Users may report a token lost',
  selfServiceCtkipUrl: 'Users see the CT-KIP URL as text',
};

/** The token limit and the self-service switches, with each one's default and last change. */
function valuesSection(viewer: Viewer, data: SettingsData): Html {
  const sent = data.valuesForm;
  const field = (setting: SettingView): Html => {
    const label = SETTING_LABELS[setting.name];
    const hint = html`${SETTINGS[setting.name].doc} Default: ${typeof setting.default === 'number' ? setting.default : setting.default ? 'on' : 'off'}. ${setting.updatedAt ? html`Last changed by ${setting.updatedBy}, ${time(setting.updatedAt)}.` : ''}`;
    const definition = SETTINGS[setting.name];
    if (definition.kind === 'integer')
      return textField(setting.name, label, sent?.[setting.name] ?? String(setting.value), {
        type: 'number',
        min: definition.min,
        max: definition.max,
        required: true,
        hint,
      });
    return checkboxField(setting.name, label, sent ? sent[setting.name] === 'yes' : setting.value === true, hint);
  };
  return html`<section class="card" aria-labelledby="values-title">
  <h2 id="values-title">Tokens and self-service</h2>
  <p class="hint">Every node applies these at once. A switch turned off hides its control in the Self-Service Console and refuses the request if it is made anyway.</p>
  <form method="post" action="${link('settings', 'values')}" class="form">
    ${csrf(viewer)}
    ${data.settings.map(field)}
    <div class="form-actions"><button type="submit" class="button button-primary">Save settings</button></div>
  </form>
</section>`;
}

export function settingsPage(viewer: Viewer, data: SettingsData): Html {
  return consolePage(
    { ...viewer, section: 'settings' },
    {
      title: 'Settings',
      notice: data.notice,
      error: data.error,
      body: html`${pageHead('Settings')}
${may(viewer, 'settings.change') ? valuesSection(viewer, data) : ''}
${
  may(viewer, 'radius.manage')
    ? html`<section class="card" aria-labelledby="radius-title">
  <h2 id="radius-title">RADIUS clients</h2>
  <p class="hint">VPN concentrators and other NAS that send Access-Requests. Packets from any other address are dropped.</p>
  ${table(
    'RADIUS clients',
    ['Name', 'Address', 'Message-Authenticator', 'Added', ''],
    data.radiusClients.map(
      (client) =>
        html`<tr><td>${client.name}</td><td class="mono">${client.address}</td><td>${client.requireMessageAuthenticator ? 'Required' : 'Optional'}</td><td>${time(client.createdAt)}</td><td>${actionButton(viewer, link('settings', 'radius-clients', 'remove'), 'Remove', { kind: 'danger', small: true, fields: { name: client.name } })}</td></tr>`,
    ),
    'No RADIUS clients.',
  )}
  <h3 class="form-title">Add a RADIUS client</h3>
  <form method="post" action="${link('settings', 'radius-clients')}" class="form form-grid">
    ${csrf(viewer)}
    ${textField('name', 'Name', data.radiusForm?.name, { required: true, maxlength: 128 })}
    ${textField('address', 'Address', data.radiusForm?.address, { required: true, maxlength: 64, hint: 'An IP address, or a range like 10.0.0.0/24.' })}
    ${textField('secret', 'Shared secret', undefined, { type: 'password', required: true, maxlength: 128, autocomplete: 'new-password', hint: 'At least 16 characters is wise.' })}
    ${checkboxField('requireMessageAuthenticator', 'Require Message-Authenticator', true, 'Keep it on unless the client cannot send one (BlastRADIUS).')}
    <div class="form-actions"><button type="submit" class="button button-primary">Add RADIUS client</button></div>
  </form>
</section>`
    : ''
}
${
  may(viewer, 'apitokens.manage')
    ? html`<section class="card" aria-labelledby="api-title">
  <h2 id="api-title">API tokens</h2>
  <p class="hint">Bearer tokens for the REST API. An agent token may only check passcodes.</p>
  ${table(
    'API tokens',
    ['Name', 'Role', 'Created', 'Last used', 'State', ''],
    data.apiTokens.map(
      (token) =>
        html`<tr><td>${token.name}</td><td>${ROLE_NAMES[token.role]}</td><td>${time(token.createdAt)}</td><td>${time(token.lastUsedAt)}</td><td>${token.revokedAt ? html`<span class="badge badge-disabled">Revoked</span>` : html`<span class="badge badge-active">Active</span>`}</td><td>${token.revokedAt ? '' : actionButton(viewer, link('settings', 'api-tokens', token.id, 'revoke'), 'Revoke', { kind: 'danger', small: true })}</td></tr>`,
    ),
    'No API tokens.',
  )}
  <h3 class="form-title">Create an API token</h3>
  <form method="post" action="${link('settings', 'api-tokens')}" class="form form-grid">
    ${csrf(viewer)}
    ${textField('name', 'Name', data.apiTokenForm?.name, { required: true, maxlength: 128, hint: 'Who uses it, e.g. “vpn-agent”.' })}
    ${selectField(
      'role',
      'Role',
      ['agent', 'helpdesk', 'superadmin'].map((role) => ({ value: role, label: ROLE_NAMES[role] ?? role })),
      data.apiTokenForm?.role ?? 'agent',
    )}
    <div class="form-actions"><button type="submit" class="button button-primary">Create API token</button></div>
  </form>
</section>`
    : ''
}
${
  may(viewer, 'ctkip.manage')
    ? html`<section class="card" aria-labelledby="ctkip-title">
  <h2 id="ctkip-title">CT-KIP server key</h2>
  <p class="hint">Token apps encrypt their part of the key exchange to this key. A new one is used from now on; exchanges under way finish with the old one.</p>
  ${actionButton(viewer, link('settings', 'ctkip-key'), 'Make a new server key')}
</section>`
    : ''
}`,
    },
  );
}

export function apiTokenCreatedPage(viewer: Viewer, created: { token: string; name: string; role: string }): Html {
  return consolePage(
    { ...viewer, section: 'settings' },
    {
      title: 'API token created',
      notice: { kind: 'warning', text: 'The token is shown only once. Copy it into the program that uses it now.' },
      body: html`${pageHead('API token created')}
<div class="card">
  <dl class="facts facts-stacked">
    <div><dt>Name</dt><dd>${created.name}</dd></div>
    <div><dt>Role</dt><dd>${ROLE_NAMES[created.role] ?? created.role}</dd></div>
    <div><dt>Token</dt><dd>${copyable('api-token', 'API token', created.token, 'secret-wrap')}</dd></div>
  </dl>
  <p class="hint">Send it as <code>Authorization: Bearer …</code>. Tally keeps only its hash.</p>
</div>
<p><a class="button button-secondary" href="${link('settings')}">Back to settings</a></p>`,
    },
  );
}
