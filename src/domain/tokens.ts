import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { TallyError } from '../errors.js';
import type { Delivery } from '../model/vocabulary.js';
import type { TokenQuery, TokenRow } from '../store/repositories/tokens.js';
import type { UserRepository } from '../store/repositories/users.js';
import type { Repositories, UnitOfWork } from '../store/unit-of-work.js';
import { readTokenFile, type StreamedKey, type TokenCandidate } from '../tokens/files.js';
import { tokenType } from '../tokens/registry.js';
import type { TokenMaterial } from '../tokens/types.js';
import { type Actor, requireAuthorityOver, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import { EMERGENCY_ATTEMPTS } from './authentication.js';
import type { Clock } from './clock.js';
import { type DirectoryGroup, type DirectoryService, membersOf } from './directory.js';

/** What may leave the service about a token: never the seed or the PIN. */
export interface TokenView {
  serial: string;
  tokenType: TokenRow['token_type'];
  state: TokenRow['state'];
  origin: TokenRow['origin'];
  username: string | null;
  label: string | null;
  digits: number;
  period: number | null;
  algorithm: TokenRow['algorithm'];
  pinMode: TokenRow['pin_mode'];
  expiresOn: string | null;
  /** From an imported key's Policy: usable from and until (ISO 8601), and codes it may still be used for; null: no limit. */
  validFrom: string | null;
  validUntil: string | null;
  usesLeft: number | null;
  createdAt: string;
  activatedAt: string | null;
  lastUsedAt: string | null;
  disabledReason: string | null;
}

/** What an admin's token page shows beyond the view: still no seed, PIN or code. */
export interface TokenDetails {
  token: TokenView;
  profile: string | null;
  /** The open distribution waiting for its holder, if any: how it is delivered and until when. */
  waiting: { delivery: Delivery; expiresAt: string; expired: boolean; failedAttempts: number } | null;
  failedCount: number;
  nextCodeRequired: boolean;
  pinSet: boolean;
  newPinRequired: boolean;
  /** `void`: wrong passcodes used up the code's tries (EMERGENCY_ATTEMPTS); a new report of the loss issues another. */
  emergency: { expiresAt: string; oneTime: boolean; void: boolean } | null;
}

export interface ImportReport {
  format: 'sdtid' | 'pskc';
  imported: number;
  replaced: number;
  refused: number;
  /** One entry per key; `keyId` is the PSKC Key Id, which names the key where serials repeat. */
  tokens: { serial: string; keyId?: string; tokenType?: string; result: 'imported' | 'replaced' | 'refused'; reason?: string }[];
  /** About the file as a whole (an XML signature Tally did not check). */
  notes: string[];
}

/** Where a streamed import stands, after each batch. */
export interface StreamImportTotals {
  imported: number;
  replaced: number;
  /** Serials the store has already (an earlier run, killed midway, wrote them): left as they are. */
  skipped: number;
  refused: number;
}

/** A key of a streamed import that was not imported, and why. */
export interface StreamImportRefusal {
  serial: string;
  keyId?: string;
  reason: string;
}

const OPENED_SEEDS_KEPT = 100_000;

function seedContext(serial: string): string {
  return `token:${serial}:seed`;
}

/** Owns the token inventory: import, lookup, and the sealed seeds. */
export class TokenService {
  private readonly store: Repositories;

  constructor(
    work: UnitOfWork,
    private readonly keyring: Keyring,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly directory?: Pick<DirectoryService, 'localMembers'>,
  ) {
    this.store = work.repositories;
  }

  /**
   * Opened seeds are kept (keyed by their sealed value, so a new seed is never mistaken for an old
   * one): opening costs more than the code computation on the authentication hot path. They live
   * only in this process's memory, as a RADIUS server's secrets do.
   */
  private readonly openedSeeds = new Map<string, Buffer>();

  private openSeed(serial: string, sealed: string): Buffer {
    const key = `${serial}\0${sealed}`;
    let seed = this.openedSeeds.get(key);
    if (!seed) {
      seed = open(this.keyring, sealed, seedContext(serial));
      if (this.openedSeeds.size >= OPENED_SEEDS_KEPT) this.openedSeeds.delete(this.openedSeeds.keys().next().value as string);
      this.openedSeeds.set(key, seed);
    }
    return seed;
  }

  sealSeed(serial: string, seed: Buffer): string {
    return seal(this.keyring, seed, seedContext(serial));
  }

  /** The seed and settings a code computation needs; only for domain services, never for a response. */
  material(row: TokenRow): TokenMaterial {
    if (row.seed_sealed === null) throw new TallyError('CONFLICT', `Token ${row.serial} has no seed yet.`);
    return {
      serial: row.serial,
      seed: this.openSeed(row.serial, row.seed_sealed),
      settings: { digits: row.digits, period: row.period, algorithm: row.algorithm, addPin: row.add_pin === 1 },
    };
  }

  /**
   * Imports an sdtid or PSKC file as unassigned tokens. The whole file is read and checked first;
   * then every accepted token is written in one transaction, so a failure leaves nothing behind.
   */
  async importFile(
    actor: Actor,
    input: { content: Uint8Array; password?: string; replace?: boolean; fileName?: string },
  ): Promise<ImportReport> {
    // Read before the transaction opens: a protected PSKC file's key derivation and a large file's
    // parsing would otherwise hold SQLite's one writer. A file that cannot be read is refused inside
    // the change, after the permission check, where the refusal is audited.
    let contents: ReturnType<typeof readTokenFile> | undefined;
    let unreadable: unknown;
    try {
      contents = readTokenFile(input.content, input.password);
    } catch (error) {
      unreadable = error;
    }
    return this.audit.change(
      actor,
      { action: 'token.import', targetType: 'file', target: input.fileName?.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'tokens.import');
        if (contents === undefined) throw unreadable;
        const report: ImportReport = { format: contents.format, imported: 0, replaced: 0, refused: 0, tokens: [], notes: contents.notes };
        const keyId = (id: string | undefined) => (id === undefined ? {} : { keyId: id });
        for (const refused of contents.refused)
          report.tokens.push({ serial: refused.serial, ...keyId(refused.keyId), result: 'refused', reason: refused.reason });
        const accepted: TokenCandidate[] = [];
        /** Each serial and the key (by PSKC Id, where it has one) that first had it. */
        const seen = new Map<string, string | undefined>();
        for (const candidate of contents.candidates) {
          const refusal = this.checkCandidate(candidate, seen);
          if (refusal)
            report.tokens.push({
              serial: candidate.serial,
              ...keyId(candidate.keyId),
              tokenType: candidate.tokenType,
              result: 'refused',
              reason: refusal,
            });
          else accepted.push(candidate);
          if (!seen.has(candidate.serial)) seen.set(candidate.serial, candidate.keyId);
        }
        const tokens = tx.tokens;
        const existing = await tokens.existingSerials(accepted.map((c) => c.serial));
        const now = this.clock.now();
        for (const candidate of accepted) {
          const fields = this.candidateFields(candidate, now);
          if (!existing.has(candidate.serial)) {
            await tokens.insert({ ...fields, serial: candidate.serial, state: 'unassigned', origin: 'imported', created_at: now });
            report.tokens.push({
              serial: candidate.serial,
              ...keyId(candidate.keyId),
              tokenType: candidate.tokenType,
              result: 'imported',
            });
          } else if (input.replace) {
            await tokens.update(candidate.serial, fields);
            report.tokens.push({
              serial: candidate.serial,
              ...keyId(candidate.keyId),
              tokenType: candidate.tokenType,
              result: 'replaced',
            });
          } else {
            report.tokens.push({
              serial: candidate.serial,
              ...keyId(candidate.keyId),
              tokenType: candidate.tokenType,
              result: 'refused',
              reason: 'A token with this serial exists already (use replace to overwrite it).',
            });
          }
        }
        for (const entry of report.tokens) report[entry.result]++;
        await this.audit.record(
          report.tokens
            .filter((t) => t.result !== 'refused')
            .map((entry) => ({
              actor,
              entry: {
                action: `token.${entry.result === 'imported' ? 'import' : 'replace'}` as const,
                targetType: 'token',
                target: entry.serial,
                details: { format: contents.format },
              },
            })),
          tx.connection,
        );
        return report;
      },
      (report) => ({ format: report.format, imported: report.imported, replaced: report.replaced, refused: report.refused }),
    );
  }

  async get(actor: Actor, serial: string): Promise<TokenView> {
    requirePermission(actor, 'tokens.read');
    const row = await this.store.tokens.findBySerial(serial);
    if (!row) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    return this.view(row);
  }

  async details(actor: Actor, serial: string): Promise<TokenDetails> {
    requirePermission(actor, 'tokens.read');
    const row = await this.store.tokens.findBySerial(serial);
    if (!row) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
    const profile = row.profile_id === null ? undefined : await this.store.profiles.findById(row.profile_id);
    const open = await this.store.distributions.latestFor(row.id);
    const now = this.clock.now();
    return {
      token: await this.view(row),
      profile: profile?.name ?? null,
      waiting: open
        ? {
            delivery: open.delivery,
            expiresAt: new Date(open.expires_at).toISOString(),
            expired: open.expires_at <= now,
            failedAttempts: open.failed_attempts,
          }
        : null,
      failedCount: row.failed_count,
      nextCodeRequired: row.next_code_required === 1,
      pinSet: row.pin_hash !== null,
      newPinRequired: row.new_pin_required === 1,
      emergency:
        row.emergency_hash !== null && row.emergency_expires_at !== null
          ? {
              expiresAt: new Date(row.emergency_expires_at).toISOString(),
              oneTime: row.emergency_one_time === 1,
              void: row.failed_count >= EMERGENCY_ATTEMPTS,
            }
          : null,
    };
  }

  /** Tokens by serial; `username` keeps one holder's, `group` those of a directory group's members (nested included). */
  async list(
    actor: Actor,
    filter: Omit<TokenQuery, 'userId' | 'userIds'> & { username?: string; group?: DirectoryGroup },
  ): Promise<TokenView[]> {
    requirePermission(actor, 'tokens.read');
    const { username, group, ...query } = filter;
    let userId: number | undefined;
    if (username !== undefined) {
      const user = await this.store.users.findByUsername(username);
      if (!user) throw new TallyError('USER_NOT_FOUND', `No user named ${username}.`);
      userId = user.id;
    }
    const userIds = group ? await membersOf(this.directory, group) : undefined;
    const rows = await this.store.tokens.query({ ...query, userId, userIds });
    return Promise.all(rows.map((row) => this.view(row)));
  }

  /**
   * Deletes a token and what hangs off it (distributions, challenges). The audit trail keeps its
   * history under the serial.
   */
  async delete(actor: Actor, serial: string): Promise<void> {
    let facts: { state: string; username: string | null } | undefined;
    await this.audit.change(
      actor,
      { action: 'token.delete', targetType: 'token', target: serial },
      async (tx) => {
        requirePermission(actor, 'tokens.delete');
        const row = await tx.tokens.findBySerial(serial);
        if (!row) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
        await this.requireAuthorityOverHolder(actor, row, tx.users);
        facts = { state: row.state, username: (await this.view(row, tx.users)).username };
        if (!(await tx.tokens.remove(row.id))) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
      },
      () => facts,
    );
  }

  /**
   * Imports a token file of any size as it is read (`tokens/files.ts` `streamPskcFile`), `batchSize`
   * keys per transaction: each batch's tokens and their audit events commit together, with one
   * `token.import` event for the batch that counts them. A run stopped midway has committed whole
   * batches; run again, it skips every serial the store has (unless `replace`), so it resumes. A
   * serial repeated in the file is refused within a batch and skipped across batches. Seeds are
   * sealed before each transaction opens. Memory holds one batch, whatever the file's size.
   */
  async importStream(
    actor: Actor,
    input: {
      keys: AsyncIterable<StreamedKey>;
      fileName?: string;
      replace?: boolean;
      batchSize?: number;
      onRefused?: (refusal: StreamImportRefusal) => void;
      onBatch?: (totals: StreamImportTotals) => void;
    },
  ): Promise<StreamImportTotals> {
    const batchSize = input.batchSize ?? 1000;
    const totals: StreamImportTotals = { imported: 0, replaced: 0, skipped: 0, refused: 0 };
    const refuse = (refusal: StreamImportRefusal) => {
      totals.refused++;
      input.onRefused?.(refusal);
    };
    let batch: TokenCandidate[] = [];
    const flush = async () => {
      if (batch.length > 0) await this.importBatch(actor, batch, input, totals);
      batch = [];
      input.onBatch?.({ ...totals });
    };
    const seen = new Map<string, string | undefined>();
    for await (const key of input.keys) {
      if ('refused' in key) {
        refuse(key.refused);
        continue;
      }
      const candidate = key.candidate;
      const refusal = this.checkCandidate(candidate, seen);
      if (refusal)
        refuse({ serial: candidate.serial, ...(candidate.keyId === undefined ? {} : { keyId: candidate.keyId }), reason: refusal });
      else batch.push(candidate);
      if (!seen.has(candidate.serial)) seen.set(candidate.serial, candidate.keyId);
      if (batch.length >= batchSize) {
        await flush();
        seen.clear();
      }
    }
    await flush();
    return totals;
  }

  private async importBatch(
    actor: Actor,
    batch: TokenCandidate[],
    input: { fileName?: string; replace?: boolean },
    totals: StreamImportTotals,
  ): Promise<void> {
    const now = this.clock.now();
    const sealed = batch.map((candidate) => ({ candidate, fields: this.candidateFields(candidate, now) }));
    const counts = await this.audit.change(
      actor,
      { action: 'token.import', targetType: 'file', target: input.fileName?.slice(0, 128) },
      async (tx) => {
        requirePermission(actor, 'tokens.import');
        const existing = await tx.tokens.existingSerials(batch.map((c) => c.serial));
        const fresh = sealed.filter(({ candidate }) => !existing.has(candidate.serial));
        await tx.tokens.insertMany(
          fresh.map(({ candidate, fields }) => ({
            ...fields,
            serial: candidate.serial,
            state: 'unassigned',
            origin: 'imported',
            created_at: now,
          })),
        );
        const replaced = input.replace ? sealed.filter(({ candidate }) => existing.has(candidate.serial)) : [];
        for (const { candidate, fields } of replaced) await tx.tokens.update(candidate.serial, fields);
        const event = (action: 'token.import' | 'token.replace') => (serial: string) => ({
          actor,
          entry: { action, targetType: 'token', target: serial, details: { format: 'pskc' } },
        });
        await this.audit.record(
          [
            ...fresh.map(({ candidate }) => event('token.import')(candidate.serial)),
            ...replaced.map(({ candidate }) => event('token.replace')(candidate.serial)),
          ],
          tx.connection,
        );
        return { imported: fresh.length, replaced: replaced.length, skipped: input.replace ? 0 : existing.size };
      },
      (counts) => ({ format: 'pskc', streamed: true, ...counts }),
    );
    totals.imported += counts.imported;
    totals.replaced += counts.replaced;
    totals.skipped += counts.skipped;
  }

  private checkCandidate(candidate: TokenCandidate, seen: Map<string, string | undefined>): string | undefined {
    if (seen.has(candidate.serial)) {
      const first = seen.get(candidate.serial);
      const which = candidate.keyId === undefined ? 'This key' : `Key Id "${candidate.keyId}"`;
      return `${which} repeats serial ${candidate.serial}, which ${first === undefined ? 'an earlier key' : `key Id "${first}"`} in the file has already; only the first is imported.`;
    }
    try {
      const type = tokenType(candidate.tokenType);
      type.checkSerial(candidate.serial);
      type.checkSettings(candidate.settings);
    } catch (error) {
      return (error as Error).message;
    }
    return undefined;
  }

  private candidateFields(candidate: TokenCandidate, now: number) {
    return {
      token_type: candidate.tokenType,
      seed_sealed: this.sealSeed(candidate.serial, candidate.seed),
      digits: candidate.settings.digits,
      period: candidate.settings.period,
      algorithm: candidate.settings.algorithm,
      add_pin: candidate.settings.addPin ? 1 : 0,
      // The app adds the PIN into the tokencode, so the server must learn it: new PIN mode.
      pin_mode: candidate.settings.addPin ? ('required' as const) : ('none' as const),
      new_pin_required: candidate.settings.addPin ? 1 : 0,
      counter: candidate.counter,
      last_step: null,
      drift_steps: 0,
      expires_on: candidate.expiresOn,
      attributes: Object.keys(candidate.attributes).length ? JSON.stringify(candidate.attributes) : null,
      valid_from: candidate.limits?.validFrom ?? null,
      valid_until: candidate.limits?.validUntil ?? null,
      transactions_left: candidate.limits?.transactions ?? null,
      updated_at: now,
    };
  }

  /** Refuses an action on a token whose holder the actor has no authority over (see `requireAuthorityOver`). */
  async requireAuthorityOverHolder(
    actor: Actor,
    token: Pick<TokenRow, 'user_id'>,
    users: UserRepository = this.store.users,
  ): Promise<void> {
    if (token.user_id === null) return;
    requireAuthorityOver(actor, await users.findById(token.user_id));
  }

  async view(row: TokenRow, users: UserRepository = this.store.users): Promise<TokenView> {
    const user = row.user_id === null ? undefined : await users.findById(row.user_id);
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      serial: row.serial,
      tokenType: row.token_type,
      state: row.state,
      origin: row.origin,
      username: user?.username ?? null,
      label: row.label,
      digits: row.digits,
      period: row.period === 0 ? null : row.period,
      algorithm: row.algorithm,
      pinMode: row.pin_mode,
      expiresOn: row.expires_on,
      validFrom: iso(row.valid_from),
      validUntil: iso(row.valid_until),
      usesLeft: row.transactions_left,
      createdAt: new Date(row.created_at).toISOString(),
      activatedAt: iso(row.activated_at),
      lastUsedAt: iso(row.last_used_at),
      disabledReason: row.disabled_reason,
    };
  }
}
