import type { ProfileRow } from '../store/repositories/profiles.js';
import type { TokenRow } from '../store/repositories/tokens.js';
import type { UserRow } from '../store/repositories/users.js';
import type { Repositories } from '../store/unit-of-work.js';
import type { Actor } from './actor.js';
import { CTKIP_PATH, type DistributionOptions } from './distribution.js';
import type { MailOutbox } from './mail-outbox.js';
import { actorLabel, type MailTemplateService, type MailValues, mailTime, type StepsKind } from './mail-templates.js';

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
type MailStore = Pick<Repositories, 'tokens' | 'profiles' | 'users' | 'distributions' | 'requests' | 'mailTemplates'>;

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
 * in, are decided here. Each mail points to the Self-Service Console, where the secrets are shown
 * after log-on; a mail never carries an activation code, a password, a seed or a download link (the
 * CT-KIP URL only where the profile says so). A mail is written with `tx`, the transaction of the
 * change it tells about, into the outbox (`MailOutbox`), whose sender hands it to the SMTP server
 * later: a slow or dead mail server never fails or delays a change, and a change that rolls back
 * mails nothing.
 */
export class Notifier {
  constructor(
    private readonly outbox: MailOutbox,
    /** Read when a mail is composed: the public URL is known only once the listener is bound. */
    private readonly options: DistributionOptions,
    private readonly templates: Pick<MailTemplateService, 'render'>,
  ) {}

  async tokenDistributed(tx: Repositories, serial: string, event: DistributionEvent): Promise<void> {
    await this.queue(tx, 'token.distributed', serial, () => this.distributionMail(tx, serial, event));
  }

  async requestDecided(tx: Repositories, requestId: number): Promise<void> {
    await this.queue(tx, 'request.decided', String(requestId), () => this.decisionMail(tx, requestId));
  }

  /** An administrator downloaded the holder's pending token file (`at`): the holder hears who and when. */
  async fileDownloaded(tx: Repositories, serial: string, admin: Actor, at: number): Promise<void> {
    await this.queue(tx, 'token.downloaded', serial, () => this.downloadMail(tx, serial, admin, at));
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

  /** Who the mail is for, as its templates name them. */
  private holder(user: Recipient): MailValues {
    return { name: user.first_name ?? user.username, username: user.username };
  }

  /** A token and its holder, where it has one with a mail address. */
  private async holderOf(store: MailStore, serial: string): Promise<{ token: TokenRow; user: UserRow & { email: string } } | undefined> {
    const token = await store.tokens.findBySerial(serial);
    const user = token?.user_id == null ? undefined : await store.users.findById(token.user_id);
    return token && user?.email ? { token, user: { ...user, email: user.email } } : undefined;
  }

  /** A token as its mails name it, and its profile (which decides the next steps). */
  private async about(store: MailStore, token: TokenRow): Promise<{ values: MailValues; profile?: ProfileRow }> {
    const profile = token.profile_id === null ? undefined : await store.profiles.findById(token.profile_id);
    const values = {
      serial: token.serial,
      profile: profile?.name ?? '',
      token: `serial ${token.serial}${profile ? `, ${profile.name}` : ''}`,
    };
    return { values, profile };
  }

  /** What the holder does next with a token that has just reached them: the steps template, and the values it says it with. */
  private async nextSteps(
    store: MailStore,
    token: TokenRow,
    profile: ProfileRow | undefined,
  ): Promise<{ steps: StepsKind; values: MailValues }> {
    if (token.state !== 'pending') return { steps: profile?.delivery === 'ctf' ? 'steps-ctf' : 'steps-active', values: {} };
    const distribution = await store.distributions.latestFor(token.id);
    const values: MailValues = { expiresOn: distribution ? new Date(distribution.expires_at).toISOString().slice(0, 10) : 'unknown' };
    if (profile?.delivery === 'ctkip' && profile.mail_ctkip_url === 1) {
      const ctkipUrl = profile.ctkip_url ?? `${this.options.publicUrl}${CTKIP_PATH}`;
      return { steps: 'steps-activate-ctkip-url', values: { ...values, ctkipUrl } };
    }
    return { steps: 'steps-activate', values };
  }

  private async distributionMail(store: Repositories, serial: string, event: DistributionEvent) {
    const found = await this.holderOf(store, serial);
    if (!found) return undefined;
    const { values, profile } = await this.about(store, found.token);
    const next = await this.nextSteps(store, found.token, profile);
    const kind = event === 'reissued' ? 'token-reissued' : 'token-issued';
    const mail = await this.templates.render(store, kind, { ...this.holder(found.user), ...values, ...next.values }, next.steps);
    return { to: found.user.email, username: found.user.username, ...mail };
  }

  private async decisionMail(store: Repositories, requestId: number) {
    const request = await store.requests.find(requestId);
    if (!request) return undefined;
    const user = await store.users.findById(request.user_id);
    if (!user) throw new Error(`User ${request.user_id} of token request ${requestId} is missing.`);
    if (!user.email) return undefined;
    const asked = { ...this.holder(user), profile: request.profile_name };
    if (request.state !== 'approved') {
      const mail = await this.templates.render(store, 'request-declined', { ...asked, reason: request.reason ?? 'none given' });
      return { to: user.email, username: user.username, ...mail };
    }
    // The approval distributes the token and records its serial in the same change.
    if (request.serial === null) throw new Error(`Approved token request ${requestId} has no token.`);
    const token = await store.tokens.getBySerial(request.serial);
    const { values, profile } = await this.about(store, token);
    const next = await this.nextSteps(store, token, profile);
    const mail = await this.templates.render(store, 'request-approved', { ...values, ...asked, ...next.values }, next.steps);
    return { to: user.email, username: user.username, ...mail };
  }

  /** Tells the holder that an administrator downloaded their token's file: who, and when. */
  private async downloadMail(store: Repositories, serial: string, admin: Actor, at: number) {
    const found = await this.holderOf(store, serial);
    if (!found) return undefined;
    const { values } = await this.about(store, found.token);
    const mail = await this.templates.render(store, 'token-file-downloaded', {
      ...this.holder(found.user),
      ...values,
      admin: actorLabel(admin),
      downloadedAt: mailTime(at),
    });
    return { to: found.user.email, username: found.user.username, ...mail };
  }
}
