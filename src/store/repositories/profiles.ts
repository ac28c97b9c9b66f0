import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { Database, ProfilesTable } from '../schema.js';
import { atomically } from '../unit-of-work.js';

export type ProfileRow = Selectable<ProfilesTable>;
/** A profile's settings: every column but its id, name, sealed file password and times. */
export type ProfileColumns = Omit<Insertable<ProfilesTable>, 'id' | 'name' | 'file_password_sealed' | 'created_at' | 'updated_at'>;

/** Token profiles, by name (as admins know them) or by id (as tokens and requests refer to them). */
export class ProfileRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async findByName(name: string): Promise<ProfileRow | undefined> {
    return this.db.selectFrom('profiles').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async findById(id: number): Promise<ProfileRow | undefined> {
    return this.db.selectFrom('profiles').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Every profile by name; with `selfService`, only those open (or closed) to self-service. */
  async list(filter: { selfService?: boolean } = {}): Promise<ProfileRow[]> {
    let query = this.db.selectFrom('profiles').selectAll().orderBy('name');
    if (filter.selfService !== undefined) query = query.where('self_service', '=', filter.selfService ? 1 : 0);
    return query.execute();
  }

  /**
   * Adds a profile and, when `sealFilePassword` gives one, its file password sealed under a context
   * naming the new id, in one transaction. A taken name fails as a unique violation.
   */
  async insert(
    name: string,
    columns: ProfileColumns,
    now: number,
    sealFilePassword: (id: number) => string | undefined,
  ): Promise<ProfileRow> {
    return atomically(this.db, async (trx) => {
      const row = await trx
        .insertInto('profiles')
        .values({ name, ...columns, file_password_sealed: null, created_at: now, updated_at: now })
        .returningAll()
        .executeTakeFirstOrThrow();
      const sealed = sealFilePassword(row.id);
      if (sealed !== undefined) {
        await trx.updateTable('profiles').set({ file_password_sealed: sealed }).where('id', '=', row.id).execute();
      }
      return row;
    });
  }

  async update(id: number, changes: Updateable<ProfilesTable>): Promise<ProfileRow> {
    return this.db.updateTable('profiles').set(changes).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  }
}
