import type { Kysely, Selectable } from 'kysely';
import type { Database, RadiusClientsTable } from '../schema.js';
import { atomically } from '../unit-of-work.js';

export type RadiusClientRow = Selectable<RadiusClientsTable>;

/** RADIUS clients with their sealed shared secrets. */
export class RadiusClientRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Adds a client and its secret, sealed by `sealSecret` under a context naming the new id, in one
   * transaction. A taken name or address fails as a unique violation.
   */
  async insert(
    client: { name: string; address: string; requireMessageAuthenticator: boolean; now: number },
    sealSecret: (id: number) => string,
  ): Promise<RadiusClientRow> {
    return atomically(this.db, async (trx) => {
      const inserted = await trx
        .insertInto('radius_clients')
        .values({
          name: client.name,
          address: client.address,
          secret_sealed: '',
          require_message_authenticator: client.requireMessageAuthenticator ? 1 : 0,
          created_at: client.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('radius_clients')
        .set({ secret_sealed: sealSecret(inserted.id) })
        .where('id', '=', inserted.id)
        .execute();
      return inserted;
    });
  }

  /** Every client, by name. */
  async list(): Promise<RadiusClientRow[]> {
    return this.db.selectFrom('radius_clients').selectAll().orderBy('name').execute();
  }

  /** Every client, in no particular order (what the RADIUS server matches datagrams against). */
  async all(): Promise<RadiusClientRow[]> {
    return this.db.selectFrom('radius_clients').selectAll().execute();
  }

  /** Removes the client named so; returns whether there was one. */
  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('radius_clients').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}
