import { errorCatalogue, invalidField, isTallyError, TallyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BulkItemResult } from '../model/vocabulary.js';
import type { BulkDistributionRepository, BulkDistributionRow, BulkItemRow } from '../store/repositories/bulk-distributions.js';
import type { UnitOfWork } from '../store/unit-of-work.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import type { DistributionService } from './distribution.js';
import type { ProfileService } from './profiles.js';

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
}

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
  ) {
    this.repository = unitOfWork.repositories.bulkDistributions;
  }

  async start(actor: Actor, profileName: string, usernames: string[]): Promise<BulkDistributionView> {
    const unique = [...new Set(usernames.map((name) => name.trim()).filter((name) => name !== ''))];
    const row = await this.audit.change(
      actor,
      { action: 'token.bulk.start', targetType: 'profile', target: profileName.slice(0, 128), details: { users: unique.length } },
      async (tx) => {
        requirePermission(actor, 'tokens.distribute');
        const profile = await this.profiles.row(profileName, tx.profiles);
        if (profile.delivery === 'ctf') {
          throw invalidField('profile', 'ctfBulkDistribution', { profile: profile.name });
        }
        if (unique.length === 0) throw invalidField('usernames', 'bulkNoUsernames');
        if (unique.length > BULK_MAX_USERS)
          throw new TallyError('INPUT_TOO_LARGE', `A bulk distribution takes at most ${BULK_MAX_USERS} users; split the list.`);
        const tooLong = unique.find((name) => name.length > 128);
        if (tooLong) throw invalidField('usernames', 'bulkUsernameTooLong', { start: tooLong.slice(0, 40) });
        return tx.bulkDistributions.create({
          profile: profile.name,
          createdBy: actor.name,
          usernames: unique,
          now: this.clock.now(),
        });
      },
      (created) => ({ bulk: Number(created.id) }),
    );
    // Only once the run has committed: its work reads it back.
    this.work(actor, row);
    return this.view(row);
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
    return this.view({ ...row, updated_at: now });
  }

  async get(actor: Actor, id: number): Promise<BulkDistributionView> {
    requirePermission(actor, 'tokens.read');
    return this.view(await this.row(id));
  }

  async items(actor: Actor, id: number, filter: { result?: BulkItemResult; limit: number; offset: number }): Promise<BulkItemView[]> {
    requirePermission(actor, 'tokens.read');
    await this.row(id);
    return (await this.repository.items(id, filter)).map(itemView);
  }

  async list(actor: Actor, limit = 20): Promise<BulkDistributionView[]> {
    requirePermission(actor, 'tokens.read');
    return (await this.repository.recent(limit)).map((row) => this.view(row));
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
        alongside: (tx, result) =>
          tx.bulkDistributions.record(run.id, item.id, { result: 'distributed', serial: result.serial }, this.clock.now()),
      });
    } catch (error) {
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

  private state(row: BulkDistributionRow): BulkDistributionView['state'] {
    if (row.state === 'finished') return 'finished';
    return this.clock.now() - row.updated_at > STALE_MS ? 'interrupted' : 'running';
  }

  private view(row: BulkDistributionRow): BulkDistributionView {
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
    };
  }
}

function itemView(row: BulkItemRow): BulkItemView {
  return { position: row.position, username: row.username, result: row.result, serial: row.serial, error: row.error, message: row.message };
}
