import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

interface Queued {
  work: (trx: Transaction<Database>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted in the same turn of the event loop share one transaction, so
 * under load a commit (the costly part of a durable write) is paid once per batch, not per
 * request. Each caller still waits for its own write to be committed before it answers.
 */
export class GroupCommit {
  private queue: Queued[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly db: Kysely<Database>, private readonly maxBatch = 256) {}

  submit<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.flushing ??= new Promise<void>((done) => setImmediate(done)).then(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const results: unknown[] = [];
      try {
        await this.db.transaction().execute(async (trx) => {
          for (const item of batch) results.push(await item.work(trx));
        });
        batch.forEach((item, i) => item.resolve(results[i]));
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
    this.flushing = undefined;
  }
}
