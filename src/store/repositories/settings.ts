import type { Kysely, Selectable } from 'kysely';
import type { Database, SettingsTable } from '../schema.js';

export type SettingRow = Selectable<SettingsTable>;

/** Settings changed from their defaults, as JSON text by key; the domain knows their types. */
export class SettingsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async all(): Promise<SettingRow[]> {
    return this.db.selectFrom('settings').selectAll().orderBy('key').execute();
  }

  async put(row: SettingRow): Promise<void> {
    await this.db
      .insertInto('settings')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: row.value, updated_at: row.updated_at, updated_by: row.updated_by }))
      .execute();
  }
}
