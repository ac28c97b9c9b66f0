import { systemActor } from '../domain/actor.js';
import { type AuditEntry, AuditService } from '../domain/audit.js';
import { systemClock } from '../domain/clock.js';
import type { Store } from '../store/connect.js';
import { UnitOfWork } from '../store/unit-of-work.js';

/** Records what a command did to the store as a whole (a backup, a restore), by the system. */
export async function recordStoreEvent(store: Store, entry: AuditEntry): Promise<void> {
  await new AuditService(new UnitOfWork(store.db), systemClock).record({ actor: systemActor, entry });
}
