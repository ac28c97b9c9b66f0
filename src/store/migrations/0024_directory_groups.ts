import type { Kysely } from 'kysely';

export function directoryGroups() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // The directory groups whose members may request a profile in self-service, as JSON
      // [{source, dn}]; `[]` keeps it open to everyone. Kept by source name, not a key: a removed
      // source leaves its groups behind, which then match nobody, so the profile closes rather than opens.
      await db.schema
        .alterTable('profiles')
        .addColumn('directory_groups', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
      // The directory group a bulk run was started for (its members were resolved at the start).
      await db.schema.alterTable('bulk_distributions').addColumn('group_source', 'varchar(64)').execute();
      await db.schema.alterTable('bulk_distributions').addColumn('group_dn', 'varchar(1024)').execute();
    },
  };
}
