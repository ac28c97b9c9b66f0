import type { Kysely, Selectable } from 'kysely';
import type { Database, MailTemplatesTable } from '../schema.js';

export type MailTemplateRow = Selectable<MailTemplatesTable>;

/** The mail templates administrators edited, by kind of mail. */
export class MailTemplateRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async all(): Promise<MailTemplateRow[]> {
    return this.db.selectFrom('mail_templates').selectAll().orderBy('kind').execute();
  }

  async find(kind: string): Promise<MailTemplateRow | undefined> {
    return this.db.selectFrom('mail_templates').selectAll().where('kind', '=', kind).executeTakeFirst();
  }

  /** Stores the edited template, or replaces the one stored for its kind. */
  async put(row: MailTemplateRow): Promise<void> {
    const { kind, ...changes } = row;
    await this.db
      .insertInto('mail_templates')
      .values(row)
      .onConflict((oc) => oc.column('kind').doUpdateSet(changes))
      .execute();
  }

  /** Forgets the edited template (its kind goes back to the default); whether there was one. */
  async remove(kind: string): Promise<boolean> {
    const result = await this.db.deleteFrom('mail_templates').where('kind', '=', kind).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
