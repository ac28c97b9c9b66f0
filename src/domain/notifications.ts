import type { Repositories } from '../store/unit-of-work.js';
import { CTKIP_PATH, type DistributionOptions } from './distribution.js';
import type { MailOutbox } from './mail-outbox.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** Where mail goes out (the outbox's sender calls it); the SMTP one is `SmtpMailer`, tests may use their own. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close?(): void;
}

/** What distribution tells its holder about; `reissued` when the previous activation stopped working. */
export type DistributionEvent = 'new' | 'reissued';

/** What a mail is composed from: the change's transaction, so it reads what the change wrote. */
type MailStore = Pick<Repositories, 'tokens' | 'profiles' | 'users' | 'distributions' | 'requests'>;

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
 * profile says so). A mail is written with `tx`, the transaction of the change it tells about, into
 * the outbox (`MailOutbox`), whose sender hands it to the SMTP server later: a slow or dead mail
 * server never fails or delays a change, and a change that rolls back mails nothing.
 */
export class Notifier {
  constructor(
    private readonly outbox: MailOutbox,
    /** Read when a mail is composed: the public URL is known only once the listener is bound. */
    private readonly options: DistributionOptions,
  ) {}

  private get consoleUrl(): string {
    return `${this.options.publicUrl}/`;
  }

  async tokenDistributed(tx: Repositories, serial: string, event: DistributionEvent): Promise<void> {
    await this.queue(tx, 'token.distributed', serial, () => this.distributionMail(tx, serial, event));
  }

  async requestDecided(tx: Repositories, requestId: number): Promise<void> {
    await this.queue(tx, 'request.decided', String(requestId), () => this.decisionMail(tx, requestId));
  }

  private async queue(
    tx: Repositories,
    kind: MailKind,
    about: string,
    compose: () => Promise<(MailMessage & { username: string }) | undefined>,
  ): Promise<void> {
    if (!this.outbox.sending) return;
    const message = await compose();
    if (message) await this.outbox.enqueue(tx, { ...message, kind, about });
  }

  private greeting(user: Recipient): string {
    return `Hello ${user.first_name ?? user.username},`;
  }

  private footer(): string {
    return ['If you did not expect this mail, tell your administrator.', '', `-- ${this.options.issuer}`].join('\n');
  }

  /** What the holder does next with a token that has just reached them. */
  private async nextSteps(store: MailStore, serial: string): Promise<string[]> {
    const token = await store.tokens.getBySerial(serial);
    const profile = token.profile_id === null ? undefined : await store.profiles.findById(token.profile_id);
    if (token.state !== 'pending') {
      const how = profile?.delivery === 'ctf' ? ['Your administrator gives you the token to import into the SecurID app.', ''] : [];
      return ['It is active already.', ...how, 'You can see your tokens in the Self-Service Console:', '', `  ${this.consoleUrl}`, ''];
    }
    const distribution = await store.distributions.latestFor(token.id);
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

  private async distributionMail(store: MailStore, serial: string, event: DistributionEvent) {
    const token = await store.tokens.findBySerial(serial);
    const row = token?.user_id == null ? undefined : await store.users.findById(token.user_id);
    if (!token || !row?.email) return undefined;
    const profile = token.profile_id === null ? undefined : await store.profiles.findById(token.profile_id);
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
      text: [this.greeting(row), '', ...intro, '', ...(await this.nextSteps(store, serial)), this.footer(), ''].join('\n'),
    };
  }

  private async decisionMail(store: MailStore, requestId: number) {
    const request = await store.requests.find(requestId);
    if (!request) return undefined;
    const user = await store.users.findById(request.user_id);
    if (!user) throw new Error(`User ${request.user_id} of token request ${requestId} is missing.`);
    if (!user.email) return undefined;
    const approved = request.state === 'approved';
    const body = approved
      ? [
          `Your request for a token (${request.profile_name}) has been approved: it is serial ${request.serial}.`,
          '',
          ...(request.serial ? await this.nextSteps(store, request.serial) : []),
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
