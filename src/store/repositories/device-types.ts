import type { Kysely, Selectable } from 'kysely';
import type { Database, DeviceTypesTable } from '../schema.js';

export type DeviceTypeRow = Selectable<DeviceTypesTable>;

/** The device definitions admins added to (or changed in) the capability table, as JSON. */
export class DeviceTypeRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async all(): Promise<DeviceTypeRow[]> {
    return this.db.selectFrom('device_types').selectAll().execute();
  }

  /** Adds the definition, or replaces the one stored for its device type. */
  async put(deviceType: string, definition: string, now: number): Promise<void> {
    await this.db
      .insertInto('device_types')
      .values({ device_type: deviceType, definition, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('device_type').doUpdateSet({ definition, updated_at: now }))
      .execute();
  }
}
