import type { CreateTableBuilder } from 'kysely';
import type { Dialect } from '../connect.js';

/** An auto-numbered primary key named `id`, spelled as each dialect wants it. */
export function idColumn<T extends string>(dialect: Dialect, table: CreateTableBuilder<T, never>) {
  return dialect === 'postgres'
    ? table.addColumn('id', 'bigserial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/** Milliseconds since the epoch: more than 32 bits, so BIGINT where the dialect distinguishes. */
export function timeColumn(dialect: Dialect) {
  return dialect === 'postgres' ? ('bigint' as const) : ('integer' as const);
}
