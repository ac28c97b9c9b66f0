import type { Kysely, Selectable } from 'kysely';
import type { UserRole, WebConsole } from '../../model/vocabulary.js';
import type { Database, WebSessionsTable } from '../schema.js';

export type WebSessionRow = Selectable<WebSessionsTable>;

/** A live session with what a request needs of its user. */
export interface WebSessionWithUser extends WebSessionRow {
  username: string;
  role: UserRole;
  disabled: number;
}

export class WebSessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: WebSessionRow): Promise<void> {
    await this.db.insertInto('web_sessions').values(row).execute();
  }

  async find(idHash: string, console: WebConsole): Promise<WebSessionWithUser | undefined> {
    return this.db
      .selectFrom('web_sessions')
      .innerJoin('users', 'users.id', 'web_sessions.user_id')
      .selectAll('web_sessions')
      .select(['users.username', 'users.role', 'users.disabled'])
      .where('web_sessions.id_hash', '=', idHash)
      .where('web_sessions.console', '=', console)
      .executeTakeFirst();
  }

  async touch(idHash: string, now: number): Promise<void> {
    await this.db.updateTable('web_sessions').set({ last_seen_at: now }).where('id_hash', '=', idHash).execute();
  }

  async setFlash(idHash: string, sealed: string): Promise<void> {
    await this.db.updateTable('web_sessions').set({ flash_sealed: sealed }).where('id_hash', '=', idHash).execute();
  }

  async findFlash(idHash: string): Promise<string | null> {
    return (
      (await this.db.selectFrom('web_sessions').select('flash_sealed').where('id_hash', '=', idHash).executeTakeFirst())?.flash_sealed ??
      null
    );
  }

  /** Clears the flash only if it is still `sealed`: of two requests taking it, one gets it. */
  async takeFlash(idHash: string, sealed: string): Promise<boolean> {
    const result = await this.db
      .updateTable('web_sessions')
      .set({ flash_sealed: null })
      .where('id_hash', '=', idHash)
      .where('flash_sealed', '=', sealed)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async delete(idHash: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteForUser(userId: number): Promise<number> {
    const result = await this.db.deleteFrom('web_sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Drops sessions past either timeout: the idle one (last seen before `idleBefore`) or the absolute one. */
  async deleteEnded(now: number, idleBefore: number): Promise<void> {
    await this.db
      .deleteFrom('web_sessions')
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', idleBefore)]))
      .execute();
  }
}
