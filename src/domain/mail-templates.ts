import { checkTemplate, isOneLine, oneLine, renderTemplate } from '../core/mail/template.js';
import { invalidField, TallyError } from '../errors.js';
import { MAIL_TEMPLATE_KINDS, type MailTemplateKind } from '../model/vocabulary.js';
import type { MailTemplateRow } from '../store/repositories/mail-templates.js';
import type { Repositories, UnitOfWork } from '../store/unit-of-work.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import { CTKIP_PATH, type DistributionOptions } from './distribution.js';
import { MAIL_KINDS, MAIL_VARIABLES, type MailVariable } from './mail-catalogue.js';

const SUBJECT_MAX = 200;
const TEXT_MAX = 10_000;
const DAY_MS = 86_400_000;

/** A mail's kind: a template with a subject of its own, not a part of other mails. */
export type MailKind = Exclude<MailTemplateKind, `steps-${string}`>;
export type StepsKind = Extract<MailTemplateKind, `steps-${string}`>;

export interface MailTemplateView {
  kind: MailTemplateKind;
  title: string;
  when: string;
  /** Null for a part of other mails. */
  subject: string | null;
  text: string;
  variables: { name: MailVariable; description: string }[];
  /** Whether an administrator changed it; false: Tally's own text. */
  edited: boolean;
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface RenderedMail {
  subject: string;
  text: string;
}

export type MailValues = Partial<Record<MailVariable, string>>;

function isKind(kind: string): kind is MailTemplateKind {
  return (MAIL_TEMPLATE_KINDS as readonly string[]).includes(kind);
}

function requireKind(kind: string): MailTemplateKind {
  if (!isKind(kind)) throw new TallyError('MAIL_TEMPLATE_NOT_FOUND', `There is no kind of mail named ${oneLine(kind).slice(0, 64)}.`);
  return kind;
}

/** Who did it, as a holder reads it in a mail. */
export function actorLabel(actor: Actor): string {
  return actor.kind === 'apitoken' ? `API token ${actor.name}` : actor.name;
}

/** A time as mails give it: to the minute, in UTC. */
export function mailTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * Mail templates: what each mail to a token holder says. Tally's own texts are in the code
 * (`mail-catalogue.ts`); an administrator's edits are kept in the store, checked when saved (only
 * the mail's variables, a subject of one line), and can be reset. Every change is audited.
 */
export class MailTemplateService {
  constructor(
    private readonly work: UnitOfWork,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    /** Read when rendering: the public URL is known only once the listener is bound. */
    private readonly options: DistributionOptions,
  ) {}

  async list(actor: Actor): Promise<MailTemplateView[]> {
    requirePermission(actor, 'mailTemplates.manage');
    const edited = new Map((await this.work.repositories.mailTemplates.all()).map((row) => [row.kind, row]));
    return MAIL_TEMPLATE_KINDS.map((kind) => this.view(kind, edited.get(kind)));
  }

  async get(actor: Actor, kind: string): Promise<MailTemplateView> {
    requirePermission(actor, 'mailTemplates.manage');
    const known = requireKind(kind);
    return this.view(known, await this.work.repositories.mailTemplates.find(known));
  }

  /** Saves an administrator's template; refused unless it uses only its mail's variables, with a subject of one line. */
  async put(actor: Actor, kind: string, input: { subject?: string | null; text: string }): Promise<MailTemplateView> {
    return this.audit.change(actor, { action: 'mail.template.put', targetType: 'mail-template', target: kind.slice(0, 64) }, async (tx) => {
      requirePermission(actor, 'mailTemplates.manage');
      const known = requireKind(kind);
      const draft = this.checked(known, input);
      const row: MailTemplateRow = {
        kind: known,
        subject: draft.subject,
        body: draft.text,
        updated_at: this.clock.now(),
        updated_by: actorLabel(actor).slice(0, 128),
      };
      await tx.mailTemplates.put(row);
      return this.view(known, row);
    });
  }

  /** Back to Tally's own text. Resetting a template that was never edited changes nothing and is no error. */
  async reset(actor: Actor, kind: string): Promise<MailTemplateView> {
    return this.audit.change(
      actor,
      { action: 'mail.template.reset', targetType: 'mail-template', target: kind.slice(0, 64) },
      async (tx) => {
        requirePermission(actor, 'mailTemplates.manage');
        const known = requireKind(kind);
        await tx.mailTemplates.remove(known);
        return this.view(known, undefined);
      },
      (view) => ({ kind: view.kind }),
    );
  }

  /**
   * The template (a draft when given, else the one in use) rendered with sample values, checked as
   * saving would check it. A part of other mails is previewed as its text alone.
   */
  async preview(
    actor: Actor,
    kind: string,
    draft?: { subject?: string | null; text?: string },
  ): Promise<{ subject: string | null; text: string }> {
    requirePermission(actor, 'mailTemplates.manage');
    const known = requireKind(kind);
    const stored = this.current(known, await this.work.repositories.mailTemplates.find(known));
    const template = this.checked(known, {
      subject: draft?.subject === undefined ? stored.subject : draft.subject,
      text: draft?.text ?? stored.text,
    });
    const values = await this.samples(this.work.repositories);
    return {
      subject: template.subject === null ? null : oneLine(renderTemplate(template.subject, values)),
      text: renderTemplate(template.text, values),
    };
  }

  /**
   * A mail as it goes out: its template (and the steps template put in as `{{nextSteps}}`), read
   * from the store now (in `repos`: the transaction of the change the mail tells about), with the
   * values given. The subject is one line whatever the values hold.
   */
  async render(repos: Repositories, kind: MailKind, values: MailValues, steps?: StepsKind): Promise<RenderedMail> {
    const all: MailValues = { issuer: this.options.issuer, consoleUrl: this.consoleUrl, ...values };
    if (steps) all.nextSteps = await this.renderPart(repos, steps, all);
    const template = this.current(kind, await repos.mailTemplates.find(kind));
    return {
      subject: oneLine(renderTemplate(template.subject ?? '', all)),
      text: `${renderTemplate(template.text, all).trimEnd()}\n`,
    };
  }

  private get consoleUrl(): string {
    return `${this.options.publicUrl}/`;
  }

  private async renderPart(repos: Repositories, kind: StepsKind, values: MailValues): Promise<string> {
    return renderTemplate(this.current(kind, await repos.mailTemplates.find(kind)).text, values).trimEnd();
  }

  /** Sample values for a preview: a made-up holder and token, this Tally's addresses, dates from now. */
  private async samples(repos: Repositories): Promise<MailValues> {
    const now = this.clock.now();
    const values: MailValues = {
      name: 'Alice',
      username: 'alice',
      issuer: this.options.issuer,
      serial: '000123456789',
      profile: 'iPhone',
      token: 'serial 000123456789, iPhone',
      consoleUrl: this.consoleUrl,
      expiresOn: new Date(now + 14 * DAY_MS).toISOString().slice(0, 10),
      ctkipUrl: `${this.options.publicUrl}${CTKIP_PATH}`,
      reason: 'Use your hardware token.',
      admin: 'jsmith',
      downloadedAt: mailTime(now),
    };
    values.nextSteps = await this.renderPart(repos, 'steps-activate', values);
    return values;
  }

  private checked(kind: MailTemplateKind, input: { subject?: string | null; text: string }): { subject: string | null; text: string } {
    const definition = MAIL_KINDS[kind];
    // Browsers send a textarea's line breaks as CRLF; mails are written with LF and sent as the transport wants.
    const text = input.text.replace(/\r\n?/g, '\n');
    if (text.trim() === '' || text.length > TEXT_MAX) throw invalidField('text', 'lengthRange', { min: 1, max: TEXT_MAX });
    if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/.test(text)) throw invalidField('text', 'mailTextControl');
    checkTemplate('text', text, definition.variables);
    if (definition.subject === undefined) {
      if (input.subject) throw invalidField('subject', 'mailTemplateNoSubject', { kind });
      return { subject: null, text };
    }
    const subject = input.subject ?? '';
    if (!isOneLine(subject)) throw invalidField('subject', 'mailSubjectOneLine');
    if (subject.trim() === '' || subject.length > SUBJECT_MAX) throw invalidField('subject', 'lengthRange', { min: 1, max: SUBJECT_MAX });
    checkTemplate('subject', subject, definition.variables);
    return { subject, text };
  }

  private current(kind: MailTemplateKind, row: MailTemplateRow | undefined): { subject: string | null; text: string } {
    if (row) return { subject: row.subject, text: row.body };
    const definition = MAIL_KINDS[kind];
    return { subject: definition.subject ?? null, text: definition.text };
  }

  private view(kind: MailTemplateKind, row: MailTemplateRow | undefined): MailTemplateView {
    const definition = MAIL_KINDS[kind];
    const { subject, text } = this.current(kind, row);
    return {
      kind,
      title: definition.title,
      when: definition.when,
      subject,
      text,
      variables: definition.variables.map((name) => ({ name, description: MAIL_VARIABLES[name] })),
      edited: row !== undefined,
      updatedAt: row ? new Date(row.updated_at).toISOString() : null,
      updatedBy: row?.updated_by ?? null,
    };
  }
}
