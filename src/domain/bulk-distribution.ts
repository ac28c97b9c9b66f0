import { csvLine } from '../core/csv/csv.js';
import { errorCatalogue, invalidField, isStoreUnreachable, isTallyError, TallyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BulkCredentialsState, BulkItemResult } from '../model/vocabulary.js';
import type {
  BulkCredentialRow,
  BulkDistributionRepository,
  BulkDistributionRow,
  BulkItemRow,
} from '../store/repositories/bulk-distributions.js';
import type { UnitOfWork } from '../store/unit-of-work.js';
import { type Actor, can, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import type { DirectoryGroup, DirectoryService } from './directory.js';
import type { DistributionService } from './distribution.js';
import type { ProfileRow, ProfileService } from './profiles.js';

export interface BulkDistributionView {
  id: number;
  profile: string;
  createdBy: string;
  /** `interrupted`: still running on paper, but nothing has moved for a while (the process ended); it can be resumed. */
  state: 'running' | 'finished' | 'interrupted';
  total: number;
  distributed: number;
  failed: number;
  waiting: number;
  createdAt: string;
  finishedAt: string | null;
  /** The directory group the run was started for (its members as the directory had them then); null for a list. */
  group: DirectoryGroup | null;
  /** The run's credentials file (CT-KIP profiles only): given once, to an administrator who may see activation codes. */
  credentials: {
    state: BulkCredentialsState;
    /** When the last of its codes stops working. */
    expiresAt: string | null;
    downloadedAt: string | null;
    downloadedBy: string | null;
    /** Whether the asking administrator may take it: one who is not shown activation codes may not. */
    mayDownload: boolean;
  };
}

/** A bulk run's credentials file, for mail-merging: a row per distributed user. */
export interface BulkCredentialsFile {
  fileName: string;
  contentType: string;
  body: string;
  /** Rows with a working activation code (the others say why they have none). */
  codes: number;
  rows: number;
}

/**
 * What a row of the credentials file says of its code: `ready` (it works until `expiresAt`), or
 * why it has none: the token was `activated` already, its code was `replaced` (reissued, or the
 * token unassigned), the code `expired`, or the token is `gone` (deleted).
 */
export type BulkCredentialStatus = 'ready' | 'activated' | 'replaced' | 'expired' | 'gone';

const CREDENTIALS_COLUMNS = ['username', 'serial', 'ctkipUrl', 'activationCode', 'expiresAt', 'status'] as const;

export interface BulkItemView {
  position: number;
  username: string;
  result: BulkItemResult;
  serial: string | null;
  error: string | null;
  message: string | null;
}

const BULK_MAX_USERS = 10_000;
/** How long a running bulk distribution may stand still before it counts as interrupted. */
const STALE_MS = 2 * 60_000;
const BATCH = 100;

/**
 * A list of usernames as people paste or upload it: one per line (or separated by commas,
 * semicolons or tabs, the first field of a CSV line); blank lines, `#` comments and a `username`
 * header are skipped.
 */
export function parseUsernameList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => (line.split(/[,;\t]/)[0] ?? '').trim().replace(/^"(.*)"$/, '$1'))
    .filter((name, index) => name !== '' && !name.startsWith('#') && !(index === 0 && name.toLowerCase() === 'username'))
    .flatMap((name) => name.split(/\s+/));
}

/**
 * Distributes a token of one profile to each user of a list, in the background: the run and
 * every user's outcome are kept in the store, so the progress and the report can be read from
 * any node while it runs and after. Each distribution is the ordinary one (audited, the holder
 * mailed); the secrets each one returns are dropped, so only deliveries the holder completes in
 * the Self-Service Console are allowed.
 */
export class BulkDistributionService {
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  private readonly repository: BulkDistributionRepository;

  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly profiles: ProfileService,
    private readonly distribution: DistributionService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly logger?: Logger,
    private readonly directory?: Pick<DirectoryService, 'checkGroup' | 'enrolMembers'>,
  ) {
    this.repository = unitOfWork.repositories.bulkDistributions;
  }

  async start(actor: Actor, profileName: string, usernames: string[]): Promise<BulkDistributionView> {
    return this.begin(actor, profileName, usernames);
  }

  /**
   * A run for the members of a directory group, nested groups included, as the directory has them
   * now: each member is given a local record as on first use, then the run goes on like one for a
   * list. The directory is asked for every member before anything is written, so a directory that
   * cannot be asked leaves no run and no new user behind. Members whose login name another local
   * user has get no token (the start's audit entry counts them).
   */
  async startForGroup(actor: Actor, profileName: string, group: DirectoryGroup): Promise<BulkDistributionView> {
    requirePermission(actor, 'tokens.distribute');
    if (!this.directory) throw invalidField('group.source', 'oneOf', { choices: '(no identity source)' });
    const checked = await this.directory.checkGroup(group, 'group');
    // Checked before any member is given a record: a run that cannot start must not leave users behind.
    await this.bulkProfile(profileName);
    const members = await this.directory.enrolMembers(checked);
    if (members.nameTaken.length > 0)
      this.logger?.warn(
        { group: checked, nameTaken: members.nameTaken.slice(0, 20) },
        'group members with a taken login name get no token',
      );
    if (members.users.length === 0) throw invalidField('group', 'bulkGroupEmpty');
    return this.begin(
      actor,
      profileName,
      members.users.map((user) => user.username),
      checked,
      members.nameTaken.length,
    );
  }

  private async begin(
    actor: Actor,
    profileName: string,
    usernames: string[],
    group?: DirectoryGroup,
    nameTaken = 0,
  ): Promise<BulkDistributionView> {
    const unique = [...new Set(usernames.map((name) => name.trim()).filter((name) => name !== ''))];
    const groupDetails: Record<string, string | number> = group ? { source: group.source, group: group.dn.slice(0, 256), nameTaken } : {};
    const row = await this.audit.change(
      actor,
      {
        action: 'token.bulk.start',
        targetType: 'profile',
        target: profileName.slice(0, 128),
        details: { users: unique.length, ...groupDetails },
      },
      async (tx) => {
        requirePermission(actor, 'tokens.distribute');
        const profile = await this.bulkProfile(profileName, tx.profiles);
        if (unique.length === 0) throw invalidField('usernames', 'bulkNoUsernames');
        if (unique.length > BULK_MAX_USERS)
          throw new TallyError('INPUT_TOO_LARGE', `A bulk distribution takes at most ${BULK_MAX_USERS} users; split the list.`);
        const tooLong = unique.find((name) => name.length > 128);
        if (tooLong) throw invalidField('usernames', 'bulkUsernameTooLong', { start: tooLong.slice(0, 40) });
        return tx.bulkDistributions.create({
          profile: profile.name,
          createdBy: actor.name,
          usernames: unique,
          credentials: profile.delivery === 'ctkip',
          group,
          now: this.clock.now(),
        });
      },
      (created) => ({ bulk: Number(created.id) }),
    );
    // Only once the run has committed: its work reads it back.
    this.work(actor, row);
    return this.view(row, actor);
  }

  /** The profile a run distributes: any but a CTF one, whose string must be shown to its holder. */
  private async bulkProfile(profileName: string, profiles?: Parameters<ProfileService['row']>[1]): Promise<ProfileRow> {
    const profile = await this.profiles.row(profileName, profiles);
    if (profile.delivery === 'ctf') throw invalidField('profile', 'ctfBulkDistribution', { profile: profile.name });
    return profile;
  }

  /** Continues an interrupted run where it stopped, as the admin who resumes it. */
  async resume(actor: Actor, id: number): Promise<BulkDistributionView> {
    const now = this.clock.now();
    const row = await this.audit.change(actor, { action: 'token.bulk.resume', targetType: 'bulk', target: String(id) }, async (tx) => {
      requirePermission(actor, 'tokens.distribute');
      const row = await this.row(id, tx.bulkDistributions);
      if (this.state(row) !== 'interrupted' || !(await tx.bulkDistributions.claim(id, now - STALE_MS, now))) {
        throw new TallyError('CONFLICT', `Bulk distribution ${id} is ${this.state(row)}; only an interrupted one can be resumed.`);
      }
      return row;
    });
    this.work(actor, row);
    return this.view({ ...row, updated_at: now }, actor);
  }

  /**
   * The run's credentials file (RSA's dynamic seed provisioning credentials), given once: one
   * conditional update claims it, so of two requests on any nodes one gets the file and the other
   * a clear refusal. The file is never stored: its rows are written now from the activation codes
   * the distributions keep sealed, so a row whose token was reissued, activated or deleted since
   * carries no code and says why. Audited with who took it (and every refused attempt).
   */
  async downloadCredentials(actor: Actor, id: number): Promise<BulkCredentialsFile> {
    return this.audit.change(
      actor,
      { action: 'token.bulk.credentials', targetType: 'bulk', target: String(id) },
      async (tx) => {
        requirePermission(actor, 'tokens.distribute');
        if (!this.mayTakeCredentials(actor))
          throw new TallyError('FORBIDDEN', `The ${actor.role} role is not shown activation codes, so it cannot take a credentials file.`);
        const now = this.clock.now();
        const row = await this.row(id, tx.bulkDistributions);
        if (!(await tx.bulkDistributions.claimCredentials(id, actor.name, now))) {
          // Read again: a request that lost the claim to another sees what the winner wrote.
          throw this.noCredentials(await this.row(id, tx.bulkDistributions), now);
        }
        const rows = await tx.bulkDistributions.credentialRows(id);
        let codes = 0;
        const lines = rows.map((item) => {
          const status = credentialStatus(item, now);
          const code =
            status === 'ready' && item.distributionId !== null && item.credentialSealed !== null
              ? this.distribution.outstandingCode(item.distributionId, item.credentialSealed)
              : '';
          if (code !== '') codes++;
          return csvLine([
            item.username,
            item.serial,
            this.distribution.ctkipUrl({ ctkip_url: item.ctkipUrl }),
            code,
            item.expiresAt === null ? '' : new Date(item.expiresAt).toISOString(),
            status,
          ]);
        });
        return {
          fileName: `bulk-${row.id}-credentials.csv`,
          contentType: 'text/csv; charset=utf-8',
          body: csvLine(CREDENTIALS_COLUMNS) + lines.join(''),
          codes,
          rows: rows.length,
        };
      },
      (file) => ({ rows: file.rows, codes: file.codes }),
    );
  }

  async get(actor: Actor, id: number): Promise<BulkDistributionView> {
    requirePermission(actor, 'tokens.read');
    return this.view(await this.row(id), actor);
  }

  async items(actor: Actor, id: number, filter: { result?: BulkItemResult; limit: number; offset: number }): Promise<BulkItemView[]> {
    requirePermission(actor, 'tokens.read');
    await this.row(id);
    return (await this.repository.items(id, filter)).map(itemView);
  }

  async list(actor: Actor, limit = 20): Promise<BulkDistributionView[]> {
    requirePermission(actor, 'tokens.read');
    return (await this.repository.recent(limit)).map((row) => this.view(row, actor));
  }

  /** Resolves once every run this process started has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** For shutdown: each run stops after the user it is on, and can be resumed later (here or on another node). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  private work(actor: Actor, run: BulkDistributionRow): void {
    const work = (async () => {
      try {
        for (;;) {
          const items = await this.repository.items(run.id, { result: 'waiting', limit: BATCH, offset: 0 });
          if (items.length === 0) break;
          for (const item of items) {
            if (this.stopping) return;
            await this.distributeOne(actor, run, item);
          }
        }
        // Recorded with the finish, by the one node whose finish wins.
        await this.unitOfWork.transaction(async (tx) => {
          const finished = await tx.bulkDistributions.finish(run.id, this.clock.now());
          if (finished) {
            const details = { profile: run.profile, distributed: finished.distributed, failed: finished.failed };
            await this.audit.record(
              { actor, entry: { action: 'token.bulk.finish', targetType: 'bulk', target: String(run.id), details } },
              tx.connection,
            );
          }
        });
      } catch (error) {
        // The store failed under us: the run stays running, shows as interrupted and can be resumed.
        this.logger?.error({ err: error, bulk: run.id }, 'a bulk distribution stopped');
      }
    })();
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /**
   * The user's token and the report that says so commit in one transaction: a crash between them
   * would leave a user with a token the report calls waiting, who would get a second on resume.
   */
  private async distributeOne(actor: Actor, run: BulkDistributionRow, item: BulkItemRow): Promise<void> {
    try {
      await this.distribution.distributeToUser(actor, item.username, run.profile, {
        show: false,
        alongside: (tx, result) => {
          // A CT-KIP run's credentials file lives as long as its last code.
          const expiresAt = run.credentials === 'waiting' && result.expiresAt !== null ? Date.parse(result.expiresAt) : undefined;
          return tx.bulkDistributions.record(
            run.id,
            item.id,
            { result: 'distributed', serial: result.serial, expiresAt },
            this.clock.now(),
          );
        },
      });
    } catch (error) {
      // The store failed, not the item: the item stays waiting and the run stops, to be resumed.
      if (isStoreUnreachable(error)) throw error;
      const known = isTallyError(error) ? error : undefined;
      if (!known) this.logger?.error({ err: error, bulk: run.id, username: item.username }, 'a distribution of a bulk run failed');
      const outcome = {
        result: 'failed',
        error: known?.code ?? 'INTERNAL',
        message: known?.message ?? errorCatalogue.INTERNAL.message,
      } as const;
      await this.repository.record(run.id, item.id, outcome, this.clock.now());
    }
  }

  private async row(id: number, repository: BulkDistributionRepository = this.repository): Promise<BulkDistributionRow> {
    const row = await repository.find(id);
    if (!row) throw new TallyError('BULK_DISTRIBUTION_NOT_FOUND', `No bulk distribution ${id}.`);
    return row;
  }

  /** Why a run's credentials file cannot be had (now, as the store says). */
  private noCredentials(row: BulkDistributionRow, now: number): TallyError {
    const state = this.credentialsState(row, now);
    switch (state) {
      case 'downloaded':
        return new TallyError(
          'BULK_CREDENTIALS_DOWNLOADED',
          `The credentials file of bulk distribution ${row.id} was downloaded already, by ${row.credentials_downloaded_by} at ${new Date(row.credentials_downloaded_at ?? 0).toISOString()}; it is given once. Reissue the tokens whose codes were lost.`,
        );
      case 'expired':
        return new TallyError(
          'BULK_CREDENTIALS_EXPIRED',
          `The activation codes of bulk distribution ${row.id} have expired; reissue the tokens still pending.`,
        );
      case 'pending':
        return new TallyError('CONFLICT', `Bulk distribution ${row.id} is still running; its credentials file is ready when it finishes.`);
      default:
        return new TallyError(
          'CONFLICT',
          row.credentials === 'none'
            ? `Bulk distribution ${row.id} used profile ${row.profile}, which does not deliver by CT-KIP: it has no credentials file.`
            : `Bulk distribution ${row.id} distributed no token: it has no credentials file.`,
        );
    }
  }

  private credentialsState(row: BulkDistributionRow, now: number): BulkCredentialsState {
    if (row.credentials === 'none') return 'none';
    if (row.credentials === 'downloaded') return 'downloaded';
    if (row.state !== 'finished') return 'pending';
    if (row.credentials_expire_at === null) return 'none';
    return row.credentials_expire_at > now ? 'ready' : 'expired';
  }

  private state(row: BulkDistributionRow): BulkDistributionView['state'] {
    if (row.state === 'finished') return 'finished';
    return this.clock.now() - row.updated_at > STALE_MS ? 'interrupted' : 'running';
  }

  private mayTakeCredentials(actor: Actor): boolean {
    return can(actor, 'tokens.distribute') && this.distribution.mayBeShownOf(actor, 'activation-code');
  }

  private view(row: BulkDistributionRow, actor: Actor): BulkDistributionView {
    return {
      id: Number(row.id),
      profile: row.profile,
      createdBy: row.created_by,
      state: this.state(row),
      total: row.total,
      distributed: row.distributed,
      failed: row.failed,
      waiting: row.total - row.distributed - row.failed,
      createdAt: new Date(row.created_at).toISOString(),
      finishedAt: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
      group: row.group_source === null || row.group_dn === null ? null : { source: row.group_source, dn: row.group_dn },
      credentials: {
        state: this.credentialsState(row, this.clock.now()),
        expiresAt: isoOrNull(row.credentials_expire_at),
        downloadedAt: isoOrNull(row.credentials_downloaded_at),
        downloadedBy: row.credentials_downloaded_by,
        mayDownload: this.mayTakeCredentials(actor),
      },
    };
  }
}

function itemView(row: BulkItemRow): BulkItemView {
  return { position: row.position, username: row.username, result: row.result, serial: row.serial, error: row.error, message: row.message };
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function credentialStatus(item: BulkCredentialRow, now: number): BulkCredentialStatus {
  if (item.state === null || item.expiresAt === null) return 'gone';
  if (item.state === 'redeemed') return 'activated';
  if (item.state !== 'open' || item.credentialSealed === null) return 'replaced';
  return item.expiresAt > now ? 'ready' : 'expired';
}
