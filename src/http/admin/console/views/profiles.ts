import { pinPolicyText } from '../../../../domain/authentication.js';
import { DELIVERY_LABELS, type DeviceDefinition } from '../../../../domain/devices.js';
import type { ProfileEditor, ProfileView } from '../../../../domain/profiles.js';
import type { TallyError } from '../../../../errors.js';
import { DELIVERIES, type Delivery, PROFILE_PIN_MODES, type ProfilePinMode } from '../../../../model/vocabulary.js';
import { TOKEN_TYPES, tokenType as tokenTypeModule } from '../../../../tokens/registry.js';
import type { TokenType } from '../../../../tokens/types.js';
import { query } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import {
  backLink,
  checkboxField,
  consolePage,
  csrf,
  DELIVERY_NAMES,
  link,
  may,
  type Option,
  pageHead,
  selectField,
  TYPE_NAMES,
  table,
  textArea,
  textField,
  type Viewer,
} from './kit.js';

function yes(value: boolean): string {
  return value ? 'Yes' : 'No';
}

export function profilesPage(viewer: Viewer, profiles: ProfileView[], devices: DeviceDefinition[], notice?: Notice): Html {
  const deviceLabel = (type: string) => devices.find((d) => d.deviceType === type)?.label ?? type;
  const actions = html`<a class="button button-secondary" href="${link('devices')}">Capability table</a>${may(viewer, 'profiles.manage') ? html`<a class="button button-primary" href="${link('profiles', 'new')}">New profile</a>` : ''}`;
  return consolePage(
    { ...viewer, section: 'profiles' },
    {
      title: 'Profiles',
      notice,
      body: html`${pageHead('Token profiles', actions, 'A profile says what a token is (type and settings), which app it is for, and how it reaches its holder.')}
${table(
  'Token profiles',
  ['Name', 'Type', 'Device', 'Delivery', 'Self-service', 'Approval'],
  profiles.map(
    (profile) =>
      html`<tr><td><a href="${link('profiles', profile.name)}">${profile.name}</a></td><td>${TYPE_NAMES[profile.tokenType]}</td><td>${deviceLabel(profile.deviceType)}${profile.appVersion ? html` <span class="muted">${profile.appVersion}</span>` : ''}</td><td>${DELIVERY_NAMES[profile.delivery]}</td><td>${yes(profile.selfService)}</td><td>${profile.requiresApproval ? 'Needed' : '—'}</td></tr>`,
  ),
  may(viewer, 'profiles.manage')
    ? html`No profiles yet: <a href="${link('profiles', 'new')}">create the first one</a>, say one for phones and one for desktops.`
    : 'No profiles yet.',
)}`,
    },
  );
}

export function profilePage(viewer: Viewer, profile: ProfileView, device: DeviceDefinition | undefined, notice?: Notice): Html {
  return consolePage(
    { ...viewer, section: 'profiles' },
    {
      title: profile.name,
      notice,
      body: html`${backLink(link('profiles'), 'Profiles')}
${pageHead(profile.name, may(viewer, 'profiles.manage') ? html`<a class="button button-primary" href="${link('profiles', profile.name, 'edit')}">Edit</a>` : undefined, profile.description ?? undefined)}
${profile.warnings.map((warning) => html`<div class="notice notice-warning" role="status">${warning}</div>`)}
<div class="card">
  <dl class="facts facts-grid">
    <div><dt>Token type</dt><dd>${TYPE_NAMES[profile.tokenType]}, ${profile.digits} digits${profile.period ? `, ${profile.period} s` : ''}, ${profile.algorithm}</dd></div>
    <div><dt>Device</dt><dd>${device?.label ?? profile.deviceType}${profile.appVersion ? ` ${profile.appVersion}` : ''}</dd></div>
    <div class="fact-wide"><dt>Delivery</dt><dd>${DELIVERY_NAMES[profile.delivery]}: ${DELIVERY_LABELS[profile.delivery]}</dd></div>
    <div><dt>PIN</dt><dd>${PIN_MODE_NAMES[profile.pinMode]}</dd></div>
    ${profile.pinMode === 'none' ? '' : html`<div><dt>PIN policy</dt><dd>${pinPolicyText({ pin_min_length: profile.pinMinLength, pin_max_length: profile.pinMaxLength, pin_charset: profile.pinCharset })}; ${profile.pinReuse ? 'earlier PINs may be chosen again' : 'not one of the last two'}</dd></div>`}
    <div><dt>Token lifetime</dt><dd>${profile.tokenLifetimeDays ? `${profile.tokenLifetimeDays} days` : 'No end date'}</dd></div>
    <div><dt>Activation open for</dt><dd>${profile.activationLifetimeDays} days</dd></div>
    ${profile.delivery === 'file' ? html`<div><dt>File password</dt><dd>${{ none: 'None', generated: 'Generated per file', admin: 'Set by an admin' }[profile.filePasswordPolicy]}</dd></div>` : ''}
    <div><dt>Self-service</dt><dd>${profile.selfService ? (profile.requiresApproval ? 'Yes, after approval' : 'Yes') : 'No'}</dd></div>
    ${profile.ctkipUrl ? html`<div class="fact-wide"><dt>CT-KIP URL</dt><dd class="mono">${profile.ctkipUrl}</dd></div>` : ''}
    <div class="fact-wide"><dt>The device could also take</dt><dd>${
      profile.possibleDeliveries
        .filter((d) => d !== profile.delivery)
        .map((d) => DELIVERY_NAMES[d])
        .join(', ') || 'nothing else'
    }</dd></div>
  </dl>
</div>
<p><a href="${link('tokens')}">Tokens</a> · <a href="${link('audit')}${query({ action: 'profile.*' })}">Profile changes in the audit trail</a></p>`,
    },
  );
}

const PIN_MODE_NAMES: Record<ProfilePinMode, string> = {
  none: 'None',
  required: 'Required (PIN + tokencode)',
  pinpad: 'PINPad (PIN typed into the app, which mixes it into the code)',
};

export interface ProfileForm {
  name?: string;
  description?: string;
  delivery?: string;
  digits?: string;
  period?: string;
  algorithm?: string;
  pinMode?: string;
  pinMinLength?: string;
  pinMaxLength?: string;
  pinCharset?: string;
  pinReuse?: boolean;
  tokenLifetimeDays?: string;
  activationLifetimeDays?: string;
  filePasswordPolicy?: string;
  ctkipUrl?: string;
  selfService?: boolean;
  requiresApproval?: boolean;
  mailCtkipUrl?: boolean;
}

export function formOfProfile(profile: ProfileView): ProfileForm {
  return {
    name: profile.name,
    description: profile.description ?? '',
    delivery: profile.delivery,
    digits: String(profile.digits),
    period: profile.period === null ? '' : String(profile.period),
    algorithm: profile.algorithm,
    pinMode: profile.pinMode,
    pinMinLength: String(profile.pinMinLength),
    pinMaxLength: String(profile.pinMaxLength),
    pinCharset: profile.pinCharset,
    pinReuse: profile.pinReuse,
    tokenLifetimeDays: profile.tokenLifetimeDays === null ? '' : String(profile.tokenLifetimeDays),
    activationLifetimeDays: String(profile.activationLifetimeDays),
    filePasswordPolicy: profile.filePasswordPolicy,
    ctkipUrl: profile.ctkipUrl ?? '',
    selfService: profile.selfService,
    requiresApproval: profile.requiresApproval,
    mailCtkipUrl: profile.mailCtkipUrl,
  };
}

/** Where the editor is: a new profile, or a change to one. */
export type EditorMode = { kind: 'new' } | { kind: 'edit'; name: string };

export interface EditorSelection {
  deviceType?: string;
  tokenType?: TokenType;
  appVersion?: string;
}

function editorUrl(mode: EditorMode): string {
  return mode.kind === 'new' ? link('profiles', 'new') : link('profiles', mode.name, 'edit');
}

function editorTitle(mode: EditorMode): string {
  return mode.kind === 'new' ? 'New profile' : `Edit ${mode.name}`;
}

const DIGITS: Record<TokenType, string[]> = { totp: ['6', '7', '8'], hotp: ['6', '7', '8'], securid: ['8', '6'] };

/** Step one: what the token will live on. The deliveries on offer follow from it. */
export function deviceStepPage(
  viewer: Viewer,
  mode: EditorMode,
  editor: ProfileEditor,
  selection: EditorSelection,
  error?: TallyError,
): Html {
  const chosen = editor.device?.deviceType ?? selection.deviceType ?? editor.devices[0]?.deviceType;
  return consolePage(
    { ...viewer, section: 'profiles' },
    {
      title: editorTitle(mode),
      error,
      body: html`${backLink(mode.kind === 'new' ? link('profiles') : link('profiles', mode.name), mode.kind === 'new' ? 'Profiles' : mode.name)}
${pageHead(editorTitle(mode), undefined, 'First: which app will hold the token? What it can take decides how the token can reach its holder.')}
<form method="get" action="${editorUrl(mode)}" class="card form">
  <fieldset class="choice-group choice-grid">
    <legend>Device and app</legend>
    ${editor.devices.map(
      (device) => html`<label class="choice">
      <input type="radio" name="deviceType" value="${device.deviceType}" required${device.deviceType === chosen ? html` checked` : ''}>
      <span class="choice-body"><span class="choice-title">${device.label}</span><span class="choice-text">Takes ${device.tokenTypes.map((type) => TYPE_NAMES[type]).join(', ')} tokens.</span></span>
    </label>`,
    )}
  </fieldset>
  <div class="form-grid">
    ${selectField('tokenType', 'Token type', [{ value: '', label: 'What the app takes first' }, ...TOKEN_TYPES.map((type) => ({ value: type, label: TYPE_NAMES[type] }))], selection.tokenType)}
    ${textField('appVersion', 'App version', selection.appVersion, { maxlength: 32, hint: 'Optional. It matters for SecurID apps: 1.x on phones cannot scan QR codes, 2.x can.' })}
  </div>
  <div class="form-actions"><button type="submit" class="button button-primary">Continue</button></div>
</form>`,
    },
  );
}

/** Step two: the profile itself, with only the deliveries the device can take on offer and the reason for each one left out. */
export function profileFormPage(
  viewer: Viewer,
  mode: EditorMode,
  editor: ProfileEditor & { device: DeviceDefinition; tokenType: TokenType },
  selection: EditorSelection,
  form: ProfileForm,
  error?: TallyError,
): Html {
  const type = editor.tokenType;
  const module = tokenTypeModule(type);
  const possible = editor.choices.filter((choice) => choice.possible);
  const offered = (delivery: Delivery) => possible.some((choice) => choice.delivery === delivery);
  const delivery = form.delivery && offered(form.delivery as Delivery) ? form.delivery : possible[0]?.delivery;
  const change = `${editorUrl(mode)}${query({ step: 'device', deviceType: editor.device.deviceType, tokenType: type, appVersion: selection.appVersion })}`;
  const options = (values: readonly string[]): Option[] => values.map((value) => ({ value, label: value }));
  const typeNote =
    selection.tokenType && selection.tokenType !== type
      ? html`<p class="hint">The ${editor.device.label} does not take ${TYPE_NAMES[selection.tokenType]} tokens, so this is a ${TYPE_NAMES[type]} profile.</p>`
      : '';
  return consolePage(
    { ...viewer, section: 'profiles' },
    {
      title: editorTitle(mode),
      error,
      body: html`${backLink(mode.kind === 'new' ? link('profiles') : link('profiles', mode.name), mode.kind === 'new' ? 'Profiles' : mode.name)}
${pageHead(editorTitle(mode))}
<div class="card summary-card">
  <div><span class="muted">For</span> <strong>${editor.device.label}</strong>${selection.appVersion ? html` <span class="muted">version</span> <strong>${selection.appVersion}</strong>` : ''} · <strong>${TYPE_NAMES[type]}</strong> tokens</div>
  <a class="button button-secondary button-small" href="${change}">Change</a>
  ${typeNote}
</div>
<form method="post" action="${editorUrl(mode)}" class="form">
  ${csrf(viewer)}
  <input type="hidden" name="deviceType" value="${editor.device.deviceType}">
  <input type="hidden" name="tokenType" value="${type}">
  <input type="hidden" name="appVersion" value="${selection.appVersion ?? ''}">
  <section class="card">
    <h2>Profile</h2>
    <div class="form-grid">
      ${mode.kind === 'new' ? textField('name', 'Name', form.name, { required: true, maxlength: 128, hint: 'What admins and users see, e.g. “Phone app” or “Desktop token file”.' }) : ''}
      ${textField('description', 'Description', form.description, { maxlength: 512, hint: 'Optional; users see it when they request a token.' })}
    </div>
  </section>
  <section class="card">
    <fieldset class="choice-group">
      <legend>How the token reaches its holder</legend>
      ${editor.choices.map((choice) =>
        choice.possible
          ? html`<label class="choice">
        <input type="radio" name="delivery" value="${choice.delivery}" required${choice.delivery === delivery ? html` checked` : ''}>
        <span class="choice-body"><span class="choice-title">${DELIVERY_NAMES[choice.delivery]}</span><span class="choice-text">${DELIVERY_LABELS[choice.delivery]}</span></span>
      </label>`
          : html`<label class="choice choice-unavailable">
        <input type="radio" name="delivery" value="${choice.delivery}" disabled>
        <span class="choice-body"><span class="choice-title">${DELIVERY_NAMES[choice.delivery]} <span class="badge badge-disabled">Not offered</span></span><span class="choice-text">Not possible: ${choice.reason}.</span></span>
      </label>`,
      )}
    </fieldset>
  </section>
  <section class="card">
    <h2>Token</h2>
    <div class="form-grid">
      ${selectField('digits', 'Digits', options(DIGITS[type]), form.digits ?? DIGITS[type][0])}
      ${
        module.movingFactor === 'counter'
          ? ''
          : selectField(
              'period',
              'Code period',
              [
                { value: '30', label: '30 seconds' },
                { value: '60', label: '60 seconds' },
              ],
              form.period || String(module.defaults.period),
            )
      }
      ${module.algorithms.length < 2 ? '' : selectField('algorithm', 'Algorithm', options(module.algorithms), form.algorithm ?? module.defaults.algorithm, { hint: 'Google Authenticator knows SHA1, 6 digits and 30 seconds only.' })}
      ${selectField(
        'pinMode',
        'PIN',
        PROFILE_PIN_MODES.filter((pinMode) => pinMode !== 'pinpad' || type === 'securid').map((pinMode) => ({
          value: pinMode,
          label: PIN_MODE_NAMES[pinMode],
        })),
        form.pinMode ?? 'none',
      )}
      ${textField('tokenLifetimeDays', 'Token lifetime (days)', form.tokenLifetimeDays, { type: 'number', min: 1, max: 10950, hint: module.defaultLifetimeDays === null ? 'Empty: no end date.' : `Empty: ${module.defaultLifetimeDays} days (${TYPE_NAMES[type]} tokens need a last day).` })}
      ${textField('activationLifetimeDays', 'Activation open for (days)', form.activationLifetimeDays ?? '14', { type: 'number', min: 1, max: 365, required: true })}
    </div>
  </section>
  <section class="card">
    <h2>PIN policy</h2>
    <p class="hint">When the profile's tokens take a PIN: what a new PIN may be, wherever it is set.</p>
    <div class="form-grid">
      ${textField('pinMinLength', 'Shortest PIN', form.pinMinLength ?? '4', { type: 'number', min: 4, max: 8, required: true })}
      ${textField('pinMaxLength', 'Longest PIN', form.pinMaxLength ?? '', { type: 'number', min: 4, max: 8, hint: 'Empty: 8 (PINPad: at most the digits).' })}
      ${selectField(
        'pinCharset',
        'PIN characters',
        [
          { value: 'digits', label: 'Digits only' },
          { value: 'alphanumeric', label: 'Letters and digits (not PINPad)' },
        ],
        form.pinCharset ?? 'digits',
      )}
      ${checkboxField('pinReuse', 'A new PIN may repeat one of the last two', form.pinReuse ?? false)}
    </div>
  </section>
  ${
    offered('file')
      ? html`<section class="card">
    <h2>Token file</h2>
    <p class="hint">For file delivery only.</p>
    <div class="form-grid">
      ${selectField(
        'filePasswordPolicy',
        'File password',
        [
          { value: 'none', label: 'None' },
          { value: 'generated', label: 'A new one for each file' },
          { value: 'admin', label: 'One I set for every file' },
        ],
        form.filePasswordPolicy ?? 'none',
      )}
      ${textField('filePassword', 'Password for every file', undefined, { type: 'password', maxlength: 40, autocomplete: 'new-password', hint: mode.kind === 'edit' ? 'Only with “One I set”: 8 to 40 characters; leave empty to keep the current one.' : 'Only with “One I set”: 8 to 40 characters.' })}
    </div>
  </section>`
      : ''
  }
  ${
    DELIVERIES.some((delivery) => offered(delivery) && module.seedDerivedByCtkip(delivery))
      ? html`<section class="card">
    <h2>CT-KIP</h2>
    <p class="hint">For CT-KIP provisioning only.</p>
    ${textField('ctkipUrl', 'CT-KIP URL', form.ctkipUrl, { maxlength: 512, hint: 'Empty: this server’s own (the public URL + /ctkip/services/CtkipService).' })}
    ${offered('ctkip') ? checkboxField('mailCtkipUrl', 'Name the CT-KIP URL in the mail to the holder', form.mailCtkipUrl ?? false, 'Never the activation code: that is shown only in the Self-Service Console.') : ''}
  </section>`
      : ''
  }
  <section class="card">
    <h2>Self-service</h2>
    ${checkboxField('selfService', 'Users may request this token in the Self-Service Console', form.selfService ?? false)}
    ${checkboxField('requiresApproval', 'Requests wait for an administrator’s approval', form.requiresApproval ?? false)}
  </section>
  <div class="form-actions"><button type="submit" class="button button-primary">${mode.kind === 'new' ? 'Create profile' : 'Save profile'}</button><a class="button button-secondary" href="${mode.kind === 'new' ? link('profiles') : link('profiles', mode.name)}">Cancel</a></div>
</form>`,
    },
  );
}

function versionsText(device: DeviceDefinition): string {
  return Object.entries(device.versions)
    .map(
      ([version, deliveries]) =>
        `${version === '*' ? 'any version' : `version ${version}`}: ${deliveries.map((d) => DELIVERY_NAMES[d]).join(', ') || 'nothing'}`,
    )
    .join('; ');
}

export interface DeviceForm {
  deviceType?: string;
  label?: string;
  tokenTypes?: string[];
  versions?: string;
  notes?: string;
}

export function devicesPage(viewer: Viewer, devices: DeviceDefinition[], form: DeviceForm = {}, error?: TallyError, notice?: Notice): Html {
  return consolePage(
    { ...viewer, section: 'profiles' },
    {
      title: 'Capability table',
      error,
      notice,
      body: html`${backLink(link('profiles'), 'Profiles')}
${pageHead('Capability table', undefined, 'What each app can take. Profile editors offer only these deliveries, and say why the others are left out.')}
${table(
  'Devices and what they take',
  ['Device', 'Tokens', 'Deliveries', 'Why not'],
  devices.map(
    (device) =>
      html`<tr><td><strong>${device.label}</strong><br><span class="mono muted">${device.deviceType}</span>${device.builtIn ? '' : html` <span class="badge badge-pending">Added</span>`}</td><td>${device.tokenTypes.map((t) => TYPE_NAMES[t]).join(', ')}</td><td>${versionsText(device)}</td><td>${Object.entries(device.notes ?? {}).map(([delivery, note]) => html`<div><strong>${DELIVERY_NAMES[delivery as Delivery]}</strong>: ${note}</div>`)}</td></tr>`,
  ),
  'No devices.',
)}
${
  may(viewer, 'profiles.manage')
    ? html`<section class="card" aria-labelledby="device-title">
  <h2 id="device-title">Add or change a device</h2>
  <p class="hint">A device type that exists is replaced (a built-in one is overridden).</p>
  <form method="post" action="${link('devices')}" class="form">
    ${csrf(viewer)}
    <div class="form-grid">
      ${textField('deviceType', 'Device type', form.deviceType, { required: true, maxlength: 32, hint: 'Lower-case letters, digits and -, e.g. “yubico-authenticator”.' })}
      ${textField('label', 'Label', form.label, { required: true, maxlength: 128 })}
    </div>
    <fieldset class="checks"><legend>Token types</legend>${TOKEN_TYPES.map((type) => checkboxField('tokenTypes', TYPE_NAMES[type], form.tokenTypes?.includes(type) ?? false, undefined, type))}</fieldset>
    ${textArea('versions', 'Deliveries by app version', form.versions, { rows: 3, required: true, placeholder: '*: qr, file', hint: 'A line per major version (or * for any): “1: ctkip, ctf” then “*: ctkip, ctf, qr”. Deliveries: qr, ctkip, file, ctf.' })}
    ${textArea('notes', 'Why a delivery is left out', form.notes, { rows: 3, placeholder: 'qr: a desktop cannot scan a QR code', hint: 'Optional: a line per delivery, shown to whoever edits a profile.' })}
    <div class="form-actions"><button type="submit" class="button button-primary">Save device</button></div>
  </form>
</section>`
    : ''
}`,
    },
  );
}
