import type { Logger } from '../logger.js';
import type { Repositories } from '../store/unit-of-work.js';
import type { Actor } from './actor.js';
import type { AuditService } from './audit.js';
import { CTKIP_PATH, type DistributionOptions } from './distribution.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Where mail goes out; the SMTP one is `SmtpMailer`, tests may use their own. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close?(): void;
}

/** What distribution tells its holder about; `reissued` when the previous activation stopped working. */
export type DistributionEvent = 'new' | 'reissued';

interface Recipient {
  email: string | null;
  username: string;
  first_name: string | null;
}

type MailKind = 'token.distributed' | 'request.decided';

/**
 * Mails to token holders: a token was distributed to them, or their request was decided. Each
 * mail points to the Self-Service Console, where the secrets are shown after log-on; a mail never
 * carries an activation code, a password, a seed or a download link (the CT-KIP URL only where the
 * profile says so). Mails go out after the change has committed and in the background, so a slow
 * or broken mail server never fails or delays a distribution: a failure is logged (facts only) and
 * audited as `mail.failed`.
 */
export class Notifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly store: Pick<Repositories, 'tokens' | 'profiles' | 'users' | 'distributions' | 'requests'>,
    private readonly audit: AuditService,
    /** Read at send time: the public URL is known only once the listener is bound. */
    private readonly options: DistributionOptions,
    private readonly mailer?: Mailer,
    private readonly logger?: Logger,
  ) {}

  private get consoleUrl(): string {
    return `${this.options.publicUrl}/`;
  }

  tokenDistributed(actor: Actor, serial: string, event: DistributionEvent): void {
    this.later(actor, 'token.distributed', serial, () => this.distributionMail(serial, event));
  }

  requestDecided(actor: Actor, requestId: number): void {
    this.later(actor, 'request.decided', String(requestId), () => this.decisionMail(requestId));
  }

  /** Resolves once every mail started so far has been sent or has failed (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private later(
    actor: Actor,
    kind: MailKind,
    target: string,
    compose: () => Promise<(MailMessage & { username: string }) | undefined>,
  ): void {
    const mailer = this.mailer;
    if (!mailer) return;
    const work = (async () => {
      let username: string | undefined;
      try {
        const message = await compose();
        if (!message) return;
        username = message.username;
        await mailer.send({ to: message.to, subject: message.subject, text: message.text });
        // A mail is no change to the store: recorded on its own once sent.
        await this.audit.record({
          actor,
          entry: { action: 'mail.sent', targetType: 'user', target: username, details: { mail: kind, about: target } },
        });
      } catch (error) {
        const facts = error as { code?: unknown; responseCode?: unknown };
        const code = typeof facts.code === 'string' ? facts.code : 'UNKNOWN';
        this.logger?.warn(
          {
            mail: kind,
            about: target,
            username,
            code,
            responseCode: typeof facts.responseCode === 'number' ? facts.responseCode : undefined,
          },
          'a mail to a token holder failed',
        );
        await this.audit
          .record({
            actor,
            entry: {
              action: 'mail.failed',
              targetType: 'user',
              target: username,
              result: 'failure',
              details: { mail: kind, about: target, error: code },
            },
          })
          .catch(() => {});
      }
    })();
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  private greeting(user: Recipient): string {
    return `Hello ${user.first_name ?? user.username},`;
  }

  private footer(): string {
    return ['If you did not expect this mail, tell your administrator.', '', `-- ${this.options.issuer}`].join('\n');
  }

  /** What the holder does next with a token that has just reached them. */
  private async nextSteps(serial: string): Promise<string[]> {
    const token = await this.store.tokens.getBySerial(serial);
    const profile = token.profile_id === null ? undefined : await this.store.profiles.findById(token.profile_id);
    if (token.state !== 'pending') {
      const how = profile?.delivery === 'ctf' ? ['Your administrator gives you the token to import into the SecurID app.', ''] : [];
      return ['It is active already.', ...how, 'You can see your tokens in the Self-Service Console:', '', `  ${this.consoleUrl}`, ''];
    }
    const distribution = await this.store.distributions.latestFor(token.id);
    const lines = ['To set it up, log on to the Self-Service Console and choose Activate:', '', `  ${this.consoleUrl}`, ''];
    if (distribution) lines.push(`The activation is open until ${new Date(distribution.expires_at).toISOString().slice(0, 10)}.`, '');
    if (profile?.delivery === 'ctkip' && profile.mail_ctkip_url === 1) {
      const url = profile.ctkip_url ?? `${this.options.publicUrl}${CTKIP_PATH}`;
      lines.push(
        'Your token app will ask for this CT-KIP URL:',
        '',
        `  ${url}`,
        '',
        'The activation code is shown only in the Self-Service Console, after you log on.',
        '',
      );
    }
    return lines;
  }

  private async distributionMail(serial: string, event: DistributionEvent) {
    const token = await this.store.tokens.findBySerial(serial);
    const row = token?.user_id == null ? undefined : await this.store.users.findById(token.user_id);
    if (!token || !row?.email) return undefined;
    const profile = token.profile_id === null ? undefined : await this.store.profiles.findById(token.profile_id);
    const what = `serial ${serial}${profile ? `, ${profile.name}` : ''}`;
    const intro =
      event === 'reissued'
        ? [`Your token (${what}) has been issued again. Whatever you were given for it before no longer works.`]
        : [`A new token has been issued to you (${what}).`];
    return {
      to: row.email,
      username: row.username,
      subject:
        event === 'reissued'
          ? `${this.options.issuer}: your token ${serial} has been issued again`
          : `${this.options.issuer}: a new token for you`,
      text: [this.greeting(row), '', ...intro, '', ...(await this.nextSteps(serial)), this.footer(), ''].join('\n'),
    };
  }

  private async decisionMail(requestId: number) {
    const request = await this.store.requests.find(requestId);
    if (!request) return undefined;
    const user = await this.store.users.findById(request.user_id);
    if (!user) throw new Error(`User ${request.user_id} of token request ${requestId} is missing.`);
    if (!user.email) return undefined;
    const approved = request.state === 'approved';
    const body = approved
      ? [
          `Your request for a token (${request.profile_name}) has been approved: it is serial ${request.serial}.`,
          '',
          ...(request.serial ? await this.nextSteps(request.serial) : []),
        ]
      : [
          `Your request for a token (${request.profile_name}) has been declined.`,
          '',
          `Reason: ${request.reason ?? 'none given'}`,
          '',
          'If you have questions, ask your administrator.',
          '',
        ];
    return {
      to: user.email,
      username: user.username,
      subject: `${this.options.issuer}: your token request has been ${approved ? 'approved' : 'declined'}`,
      text: [this.greeting(user), '', ...body, this.footer(), ''].join('\n'),
    };
  }
}
