import type { MailTemplateView } from '../../../../domain/mail-templates.js';
import type { TallyError } from '../../../../errors.js';
import { time } from '../../../web/format.js';
import { type Html, html } from '../../../web/html.js';
import type { Notice } from '../../../web/layout.js';
import { actionButton, backLink, consolePage, csrf, link, pageHead, table, textArea, textField, type Viewer } from './kit.js';

function state(template: MailTemplateView): Html {
  return template.edited
    ? html`<span class="badge badge-pending">Edited</span> <span class="muted">by ${template.updatedBy}, ${time(template.updatedAt)}</span>`
    : html`<span class="badge badge-active">Tally’s text</span>`;
}

export function mailTemplatesPage(viewer: Viewer, templates: MailTemplateView[], notice?: Notice): Html {
  return consolePage(
    { ...viewer, section: 'mail' },
    {
      title: 'Mail templates',
      notice,
      body: html`${pageHead(
        'Mail templates',
        undefined,
        'What Tally’s mails to token holders say. A mail never carries an activation code, a password or a download link: the holder sees those after log-on.',
      )}
<section class="card">
  ${table(
    'Mail templates',
    ['Mail', 'When', 'Text'],
    templates.map(
      (template) =>
        html`<tr><td><a href="${link('mail-templates', template.kind)}">${template.title}</a></td><td>${template.when}</td><td>${state(template)}</td></tr>`,
    ),
    'No mail templates.',
  )}
</section>`,
    },
  );
}

export interface MailTemplateEditor {
  template: MailTemplateView;
  /** What the form holds when it is shown again (a preview, a refused save); else the template's own. */
  draft?: { subject?: string; text?: string };
  preview?: { subject: string | null; text: string };
  notice?: Notice;
  error?: TallyError;
}

export function mailTemplatePage(viewer: Viewer, editor: MailTemplateEditor): Html {
  const { template, draft, preview } = editor;
  const action = link('mail-templates', template.kind);
  return consolePage(
    { ...viewer, section: 'mail' },
    {
      title: template.title,
      notice: editor.notice,
      error: editor.error,
      body: html`${backLink(link('mail-templates'), 'Mail templates')}
${pageHead(template.title, undefined, template.when)}
<p>${state(template)}</p>
<div class="card">
  <form method="post" action="${action}" class="form">
    ${csrf(viewer)}
    ${template.subject === null ? '' : textField('subject', 'Subject', draft?.subject ?? template.subject, { required: true, maxlength: 200, hint: 'One line.' })}
    ${textArea('text', 'Text', draft?.text ?? template.text, { rows: 16, required: true, maxlength: 10_000, hint: 'Plain text. Variables are written like {{serial}}; only those listed below.' })}
    <div class="form-actions">
      <button type="submit" class="button button-primary">Save</button>
      <button type="submit" class="button button-secondary" formaction="${link('mail-templates', template.kind, 'preview')}">Preview</button>
    </div>
  </form>
</div>
${
  preview
    ? html`<section class="card" aria-labelledby="preview-title">
  <h2 id="preview-title">Preview</h2>
  <p class="hint">With sample values; not saved.</p>
  ${preview.subject === null ? '' : html`<dl class="facts facts-stacked"><div><dt>Subject</dt><dd data-testid="preview-subject">${preview.subject}</dd></div></dl>`}
  <pre class="mail-preview" data-testid="preview-text">${preview.text}</pre>
</section>`
    : ''
}
<section class="card" aria-labelledby="variables-title">
  <h2 id="variables-title">Variables</h2>
  <dl class="facts facts-stacked">
    ${template.variables.map((variable) => html`<div><dt class="mono">{{${variable.name}}}</dt><dd>${variable.description}</dd></div>`)}
  </dl>
</section>
${
  template.edited
    ? html`<section class="card" aria-labelledby="reset-title">
  <h2 id="reset-title">Reset</h2>
  <p class="hint">Back to the text Tally comes with; this text is lost.</p>
  ${actionButton(viewer, link('mail-templates', template.kind, 'reset'), 'Reset to Tally’s text', { kind: 'danger' })}
</section>`
    : ''
}`,
    },
  );
}
