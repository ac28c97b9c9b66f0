import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { idColumn, timeColumn } from './columns.js';

export function identitySources(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // LDAP directories users are found in and log on against, after the internal store, by position.
      await idColumn(dialect, db.schema.createTable('identity_sources'))
        .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('preset', 'varchar(16)', (c) => c.notNull())
        // JSON arrays and objects: the URLs tried in turn, the attribute mapping, the role groups.
        .addColumn('urls', 'text', (c) => c.notNull())
        .addColumn('start_tls', 'integer', (c) => c.notNull())
        .addColumn('allow_plain', 'integer', (c) => c.notNull())
        .addColumn('ca_file', 'text')
        .addColumn('bind_dn', 'text', (c) => c.notNull())
        .addColumn('bind_password_sealed', 'text', (c) => c.notNull())
        .addColumn('base_dn', 'text', (c) => c.notNull())
        .addColumn('user_filter', 'text', (c) => c.notNull())
        .addColumn('attributes', 'text', (c) => c.notNull())
        .addColumn('role_groups', 'text', (c) => c.notNull())
        .addColumn('timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('created_at', timeColumn(dialect), (c) => c.notNull())
        .addColumn('updated_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      // A directory user's local record: which source, and the directory's stable id (entryUUID,
      // objectGUID), so a rename finds the same record and its tokens.
      await db.schema.alterTable('users').addColumn('source_id', 'integer').execute();
      await db.schema.alterTable('users').addColumn('external_id', 'varchar(128)').execute();
      // present, disabled (in the directory) or gone (no longer found there); null for internal users.
      await db.schema.alterTable('users').addColumn('directory_state', 'varchar(16)').execute();
      await db.schema.createIndex('users_source_external_id').on('users').columns(['source_id', 'external_id']).unique().execute();
    },
  };
}
