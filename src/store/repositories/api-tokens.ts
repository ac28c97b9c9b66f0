import type { Kysely, Selectable } from 'kysely';
import type { ApiTokenRole } from '../../model/vocabulary.js';
import type { ApiTokensTable, Database } from '../schema.js';

export type ApiTokenRow = Selectable<ApiTokensTable>;

export class ApiTokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: { name: string; role: ApiTokenRole; tokenHash: string; now: number }): Promise<ApiTokenRow> {
    return this.db
      .insertInto('api_tokens')
      .values({
        name: token.name,
        role: token.role,
        token_hash: token.tokenHash,
        created_at: token.now,
        last_used_at: null,
        revoked_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async findActiveByHash(tokenHash: string): Promise<ApiTokenRow | undefined> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
  }

  async touch(id: number, now: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  async list(): Promise<ApiTokenRow[]> {
    return this.db.selectFrom('api_tokens').selectAll().orderBy('revoked_at', 'desc').orderBy('name').orderBy('id').execute();
  }

  async find(id: number): Promise<ApiTokenRow | undefined> {
    return this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Revokes once: false when the token was revoked already. */
  async revoke(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
