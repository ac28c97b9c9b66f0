import type { Kysely } from 'kysely';
import type { Dialect } from '../connect.js';
import { timeColumn } from './columns.js';

export function authnApiSigning(dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // A PIN policy may have Tally generate the new PIN (RSA's system-generated PIN); a token keeps
      // the policy it was made with, as it keeps the rest of it.
      for (const table of ['profiles', 'tokens'])
        await db.schema
          .alterTable(table)
          .addColumn('pin_generated', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      // An agent may be required to sign its requests (HMAC-SHA256 under its signing secret).
      await db.schema
        .alterTable('authn_agents')
        .addColumn('require_signing', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // Signatures seen within the clock-skew bound: the primary key lets one request through, on any node.
      await db.schema
        .createTable('authn_signatures')
        .addColumn('signature_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('expires_at', timeColumn(dialect), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('authn_signatures_expires_at').on('authn_signatures').column('expires_at').execute();
    },
  };
}
