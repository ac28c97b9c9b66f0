import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { SyncOutcome } from '../../model/vocabulary.js';
import type { Database, IdentitySourcesTable } from '../schema.js';
import { atomically } from '../unit-of-work.js';

export type IdentitySourceRow = Selectable<IdentitySourcesTable>;
export type NewIdentitySourceRow = Omit<Insertable<IdentitySourcesTable>, 'id' | 'bind_password_sealed' | 'position'>;

/** How a sync ended, as the source keeps it until the next. */
export interface SyncFinish {
  at: number;
  outcome: SyncOutcome;
  result: string;
  nextAt: number;
}

/** LDAP identity sources, with their bind passwords sealed. */
export class IdentitySourceRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Adds a source after the others, its bind password sealed by `sealPassword` under a context
   * naming the new id, in one transaction. A taken name fails as a unique violation.
   */
  async insert(source: NewIdentitySourceRow, sealPassword: (id: number) => string): Promise<IdentitySourceRow> {
    return atomically(this.db, async (trx) => {
      const last = await trx
        .selectFrom('identity_sources')
        .select((eb) => eb.fn.max<number | null>('position').as('position'))
        .executeTakeFirst();
      const inserted = await trx
        .insertInto('identity_sources')
        .values({ ...source, position: Number(last?.position ?? 0) + 1, bind_password_sealed: '' })
        .returningAll()
        .executeTakeFirstOrThrow();
      const sealed = sealPassword(inserted.id);
      await trx.updateTable('identity_sources').set({ bind_password_sealed: sealed }).where('id', '=', inserted.id).execute();
      return { ...inserted, bind_password_sealed: sealed };
    });
  }

  /** Every source, in the order users are looked for in them. */
  async list(): Promise<IdentitySourceRow[]> {
    return this.db.selectFrom('identity_sources').selectAll().orderBy('position').orderBy('id').execute();
  }

  async findByName(name: string): Promise<IdentitySourceRow | undefined> {
    return this.db.selectFrom('identity_sources').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async findById(id: number): Promise<IdentitySourceRow | undefined> {
    return this.db.selectFrom('identity_sources').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async update(id: number, changes: Updateable<IdentitySourcesTable>): Promise<IdentitySourceRow | undefined> {
    return this.db.updateTable('identity_sources').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
  }

  /** Puts the sources in this order of ids (every source's id, each once). */
  async reorder(ids: readonly number[]): Promise<void> {
    await atomically(this.db, async (trx) => {
      for (const [index, id] of ids.entries()) {
        await trx
          .updateTable('identity_sources')
          .set({ position: index + 1 })
          .where('id', '=', id)
          .execute();
      }
    });
  }

  /**
   * Claims a source's sync for `owner` until `leaseUntil`, by a conditional update: only when no
   * other node holds an unexpired lease, and (`due`) only when the source syncs by itself and its
   * next sync is due. The row as claimed, or undefined when it is not this node's to sync now.
   */
  async claimSync(id: number, owner: string, now: number, leaseUntil: number, due: boolean): Promise<IdentitySourceRow | undefined> {
    let claim = this.db
      .updateTable('identity_sources')
      .set({ sync_lease_owner: owner, sync_lease_until: leaseUntil })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('sync_lease_until', 'is', null), eb('sync_lease_until', '<=', now)]));
    if (due)
      claim = claim
        .where('sync_interval_minutes', '>', 0)
        .where((eb) => eb.or([eb('next_sync_at', 'is', null), eb('next_sync_at', '<=', now)]));
    return claim.returningAll().executeTakeFirst();
  }

  /** Records how `owner`'s sync ended and lets the lease go; false when the lease was lost to another node. */
  async finishSync(id: number, owner: string, finish: SyncFinish): Promise<boolean> {
    const result = await this.db
      .updateTable('identity_sources')
      .set({
        sync_lease_owner: null,
        sync_lease_until: null,
        last_sync_at: finish.at,
        last_sync_outcome: finish.outcome,
        last_sync_result: finish.result,
        next_sync_at: finish.nextAt,
      })
      .where('id', '=', id)
      .where('sync_lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Removes the source named so; returns whether there was one. */
  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('identity_sources').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}
