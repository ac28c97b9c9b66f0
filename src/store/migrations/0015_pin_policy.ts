import type { Kysely } from 'kysely';

/** The PIN policy columns a profile sets and its tokens keep. */
async function addPolicyColumns(db: Kysely<any>, table: 'profiles' | 'tokens'): Promise<void> {
  // RSA's defaults: 4 to 8 digits, and a new PIN may not repeat an earlier one.
  await db.schema
    .alterTable(table)
    .addColumn('pin_min_length', 'integer', (c) => c.notNull().defaultTo(4))
    .execute();
  await db.schema
    .alterTable(table)
    .addColumn('pin_max_length', 'integer', (c) => c.notNull().defaultTo(8))
    .execute();
  await db.schema
    .alterTable(table)
    .addColumn('pin_charset', 'varchar(16)', (c) => c.notNull().defaultTo('digits'))
    .execute();
  await db.schema
    .alterTable(table)
    .addColumn('pin_reuse', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export function pinPolicy() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      // A profile's PIN mode may now also be 'pinpad' (the column is a varchar already); its tokens
      // keep the mode as pin_mode 'required' with add_pin 1, as imported AddPIN tokens do.
      await addPolicyColumns(db, 'profiles');
      // A token keeps the policy it was made with, as it keeps its digits and period: a profile's
      // change applies to tokens made from then on.
      await addPolicyColumns(db, 'tokens');
      await db.schema.alterTable('tokens').addColumn('previous_pin_hash', 'text').execute();
    },
  };
}
