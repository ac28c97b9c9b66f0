import type { Logger } from '../logger.js';
import type { ProfileRow } from '../store/repositories/profiles.js';
import type { TokenRow } from '../store/repositories/tokens.js';
import type { UserRow } from '../store/repositories/users.js';
import type { Repositories } from '../store/unit-of-work.js';
import type { Actor } from './actor.js';
import type { AuditService } from './audit.js';
import { CTKIP_PATH, type DistributionOptions } from './distribution.js';
import { actorLabel, type MailTemplateService, type MailValues, mailTime, type StepsKind } from './mail-templates.js';

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

type MailKind = 'token.distributed' | 'request.decided' | 'token.downloaded';

/**
 * Mails to token holders: a token was distributed to them, their request was decided, or an
 * administrator downloaded their token's file. What each says is its template's
 * (`MailTemplateService`: Tally's text or an administrator's); which template, and the values put
 * in, are decided here. Each mail points to the Self-Service Console, where the secrets are shown after log-on; a mail never
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
    private readonly templates: Pick<MailTemplateService, 'render'>,
    private readonly mailer?: Mailer,
    private readonly logger?: Logger,
  ) {}

  tokenDistributed(actor: Actor, serial: string, event: DistributionEvent): void {
    this.later(actor, 'token.distributed', serial, () => this.distributionMail(serial, event));
  }

  requestDecided(actor: Actor, requestId: number): void {
    this.later(actor, 'request.decided', String(requestId), () => this.decisionMail(requestId));
  }

  /** An administrator downloaded the holder's pending token file (`at`): the holder hears who and when. */
  fileDownloaded(actor: Actor, serial: string, at: number): void {
    this.later(actor, 'token.downloaded', serial, () => this.downloadMail(serial, actor, at));
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

  /** Who the mail is for, as its templates name them. */
  private holder(user: Recipient): MailValues {
    return { name: user.first_name ?? user.username, username: user.username };
  }

  /** A token and its holder, where it has one with a mail address. */
  private async holderOf(serial: string): Promise<{ token: TokenRow; user: UserRow & { email: string } } | undefined> {
    const token = await this.store.tokens.findBySerial(serial);
    const user = token?.user_id == null ? undefined : await this.store.users.findById(token.user_id);
    return token && user?.email ? { token, user: { ...user, email: user.email } } : undefined;
  }

  /** A token as its mails name it, and its profile (which decides the next steps). */
  private async about(token: TokenRow): Promise<{ values: MailValues; profile?: ProfileRow }> {
    const profile = token.profile_id === null ? undefined : await this.store.profiles.findById(token.profile_id);
    const values = {
      serial: token.serial,
      profile: profile?.name ?? '',
      token: `serial ${token.serial}${profile ? `, ${profile.name}` : ''}`,
    };
    return { values, profile };
  }

  /** What the holder does next with a token that has just reached them: the steps template, and the values it says it with. */
  private async nextSteps(token: TokenRow, profile: ProfileRow | undefined): Promise<{ steps: StepsKind; values: MailValues }> {
    if (token.state !== 'pending') return { steps: profile?.delivery === 'ctf' ? 'steps-ctf' : 'steps-active', values: {} };
    const distribution = await this.store.distributions.latestFor(token.id);
    const values: MailValues = { expiresOn: distribution ? new Date(distribution.expires_at).toISOString().slice(0, 10) : 'unknown' };
    if (profile?.delivery === 'ctkip' && profile.mail_ctkip_url === 1) {
      const ctkipUrl = profile.ctkip_url ?? `${this.options.publicUrl}${CTKIP_PATH}`;
      return { steps: 'steps-activate-ctkip-url', values: { ...values, ctkipUrl } };
    }
    return { steps: 'steps-activate', values };
  }

  private async distributionMail(serial: string, event: DistributionEvent) {
    const found = await this.holderOf(serial);
    if (!found) return undefined;
    const { values, profile } = await this.about(found.token);
    const next = await this.nextSteps(found.token, profile);
    const kind = event === 'reissued' ? 'token-reissued' : 'token-issued';
    const mail = await this.templates.render(kind, { ...this.holder(found.user), ...values, ...next.values }, next.steps);
    return { to: found.user.email, username: found.user.username, ...mail };
  }

  private async decisionMail(requestId: number) {
    const request = await this.store.requests.find(requestId);
    if (!request) return undefined;
    const user = await this.store.users.findById(request.user_id);
    if (!user) throw new Error(`User ${request.user_id} of token request ${requestId} is missing.`);
    if (!user.email) return undefined;
    const asked = { ...this.holder(user), profile: request.profile_name };
    if (request.state !== 'approved') {
      const mail = await this.templates.render('request-declined', { ...asked, reason: request.reason ?? 'none given' });
      return { to: user.email, username: user.username, ...mail };
    }
    // The approval distributes the token and records its serial in the same change.
    if (request.serial === null) throw new Error(`Approved token request ${requestId} has no token.`);
    const token = await this.store.tokens.getBySerial(request.serial);
    const { values, profile } = await this.about(token);
    const next = await this.nextSteps(token, profile);
    const mail = await this.templates.render('request-approved', { ...values, ...asked, ...next.values }, next.steps);
    return { to: user.email, username: user.username, ...mail };
  }

  /** Tells the holder that an administrator downloaded their token's file: who, and when. */
  private async downloadMail(serial: string, admin: Actor, at: number) {
    const found = await this.holderOf(serial);
    if (!found) return undefined;
    const { values } = await this.about(found.token);
    const mail = await this.templates.render('token-file-downloaded', {
      ...this.holder(found.user),
      ...values,
      admin: actorLabel(admin),
      downloadedAt: mailTime(at),
    });
    return { to: found.user.email, username: found.user.username, ...mail };
  }
}
