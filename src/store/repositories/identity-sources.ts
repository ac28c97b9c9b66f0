import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Database, IdentitySourcesTable } from '../schema.js';
import { atomically } from '../unit-of-work.js';

export type IdentitySourceRow = Selectable<IdentitySourcesTable>;
export type NewIdentitySourceRow = Omit<IdentitySourcesTable, 'id' | 'bind_password_sealed' | 'position'>;

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

  /** Removes the source named so; returns whether there was one. */
  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('identity_sources').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}
