import type { Kysely } from 'kysely';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import type { Database } from './schema.js';

/**
 * Every column that holds a value sealed under the master key, with the context each value is
 * bound to. Key rotation walks this list; a new sealed column must be added here.
 */
export interface SealedColumn {
  table: keyof Database;
  keyColumn: string;
  column: string;
  context(key: string | number): string;
}

const sealedColumns: SealedColumn[] = [
  { table: 'tally_meta', keyColumn: 'key', column: 'value', context: (key) => `meta:${key}` },
  { table: 'tokens', keyColumn: 'serial', column: 'seed_sealed', context: (serial) => `token:${serial}:seed` },
  { table: 'profiles', keyColumn: 'id', column: 'file_password_sealed', context: (id) => `profile:${id}:file-password` },
  { table: 'distributions', keyColumn: 'id', column: 'file_password_sealed', context: (id) => `distribution:${id}:file-password` },
  { table: 'distributions', keyColumn: 'id', column: 'credential_sealed', context: (id) => `distribution:${id}:credential` },
  { table: 'ctkip_server_keys', keyColumn: 'id', column: 'private_key_sealed', context: (id) => `ctkip-key:${id}` },
  {
    table: 'identity_sources',
    keyColumn: 'id',
    column: 'bind_password_sealed',
    context: (id) => `identity-source:${id}:bind-password`,
  },
  { table: 'radius_clients', keyColumn: 'id', column: 'secret_sealed', context: (id) => `radius-client:${id}` },
  { table: 'mail_outbox', keyColumn: 'id', column: 'body_sealed', context: (id) => `mail-outbox:${id}` },
  { table: 'web_sessions', keyColumn: 'id_hash', column: 'flash_sealed', context: (idHash) => `web-session:${idHash}:flash` },
];

/** Re-seals every sealed value under the keyring's current key; returns how many were re-sealed. */
export async function resealAll(db: Kysely<Database>, keyring: Keyring): Promise<number> {
  let count = 0;
  for (const sealed of sealedColumns) {
    const table = db as unknown as Kysely<Record<string, Record<string, string | number | null>>>;
    const rows = await table.selectFrom(sealed.table).select([sealed.keyColumn, sealed.column]).execute();
    for (const row of rows) {
      const value = row[sealed.column];
      // tally_meta mixes sealed and plain values, and other columns may be empty; only `vN.` values are sealed.
      if (typeof value !== 'string' || !/^v\d+\./.test(value)) continue;
      const key = row[sealed.keyColumn] as string | number;
      const context = sealed.context(key);
      const resealed = seal(keyring, open(keyring, value, context), context);
      await table
        .updateTable(sealed.table)
        .set({ [sealed.column]: resealed })
        .where(sealed.keyColumn, '=', key)
        .execute();
      count++;
    }
  }
  return count;
}
