import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Runs `work` in one transaction: the repositories it builds over the handle it is given (and the
 * audit entry it records there) commit together, or none of it does. For a use case that spans
 * aggregates; a repository that needs a transaction for its own aggregate opens it itself.
 */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(work);
}
