import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Actor } from '../../src/domain/actor.js';
import { AuditService, RefusalKeepingWrites } from '../../src/domain/audit.js';
import { DEFAULT_LOCKOUT, Lockout } from '../../src/domain/lockout.js';
import { LogonDelays } from '../../src/domain/logon-delays.js';
import { UserService } from '../../src/domain/users.js';
import { TallyError } from '../../src/errors.js';
import type { Store } from '../../src/store/connect.js';
import type { AuditRepository } from '../../src/store/repositories/audit.js';
import { type Repositories, UnitOfWork } from '../../src/store/unit-of-work.js';
import { describeEachStore } from '../support/store.js';

const NOW = 1_800_000_000_000;
const clock = { now: () => NOW };
const admin: Actor = { kind: 'admin', name: 'root', role: 'superadmin' };

/** A unit of work whose transactions' audit inserts fail, as a full disk or a lost connection would at that statement. */
class AuditInsertFails extends UnitOfWork {
  override transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T> {
    return super.transaction((repos) => {
      const failing = {
        appendMany: async () => {
          throw new Error('the audit insert failed');
        },
      } as unknown as AuditRepository;
      return work({ ...repos, audit: failing });
    });
  }
}

function userService(store: Store, work: UnitOfWork): UserService {
  const repositories = new UnitOfWork(store.db).repositories;
  return new UserService(
    repositories.users,
    new AuditService(work, clock),
    clock,
    new Lockout(repositories.users, clock, DEFAULT_LOCKOUT),
    new LogonDelays(repositories.logonDelays, clock),
  );
}

async function userExists(store: Store, username: string): Promise<boolean> {
  return (await new UnitOfWork(store.db).repositories.users.findByUsername(username)) !== undefined;
}

async function events(store: Store, action: string) {
  return new UnitOfWork(store.db).repositories.audit.query({ action, limit: 10 });
}

function insertUser(tx: Repositories, username: string) {
  return tx.users.insert({ username, passwordHash: null, email: null, firstName: null, lastName: null, role: 'user', now: NOW });
}

/** Each event about `target`: its result and details. */
async function outcomes(store: Store, action: string, target: string) {
  return (await events(store, action))
    .filter((event) => event.target === target)
    .map((event) => [event.result, JSON.parse(event.details ?? '{}')]);
}

describeEachStore('audit in the transaction of the change it records', (getStore) => {
  test('a change whose audit event cannot be written does not land', async () => {
    const users = userService(getStore(), new AuditInsertFails(getStore().db));
    await assert.rejects(users.create(admin, { username: 'lost-event' }), /the audit insert failed/);
    assert.equal(await userExists(getStore(), 'lost-event'), false);
    // The failure is still recorded, on its own, as an internal error.
    const [failure, ...more] = await events(getStore(), 'user.create');
    assert.equal(more.length, 0);
    assert.equal(failure?.target, 'lost-event');
    assert.equal(failure?.result, 'failure');
    assert.deepEqual(JSON.parse(failure?.details ?? '{}'), { error: 'INTERNAL' });
  });

  test('a change that throws leaves nothing changed and records a failure with the error code', async () => {
    const audit = new AuditService(new UnitOfWork(getStore().db), clock);
    const change = audit.change(admin, { action: 'user.create', targetType: 'user', target: 'half-made' }, async (tx) => {
      await insertUser(tx, 'half-made');
      throw new TallyError('CONFLICT', 'refused after the insert');
    });
    await assert.rejects(change, (error: unknown) => error instanceof TallyError && error.code === 'CONFLICT');
    assert.equal(await userExists(getStore(), 'half-made'), false);
    assert.deepEqual(await outcomes(getStore(), 'user.create', 'half-made'), [['failure', { error: 'CONFLICT' }]]);
  });

  test('a refusal that keeps its writes commits them with its failure event, then throws the refusal', async () => {
    const audit = new AuditService(new UnitOfWork(getStore().db), clock);
    const change = audit.change(admin, { action: 'user.create', targetType: 'user', target: 'counted' }, async (tx) => {
      await insertUser(tx, 'counted');
      throw new RefusalKeepingWrites(new TallyError('TOKENCODE_INVALID'));
    });
    await assert.rejects(change, (error: unknown) => error instanceof TallyError && error.code === 'TOKENCODE_INVALID');
    assert.equal(await userExists(getStore(), 'counted'), true);
    assert.deepEqual(await outcomes(getStore(), 'user.create', 'counted'), [['failure', { error: 'TOKENCODE_INVALID' }]]);
  });

  test('a change made within another rolls back with it, and both failures are recorded', async () => {
    const audit = new AuditService(new UnitOfWork(getStore().db), clock);
    const outer = audit.change(admin, { action: 'token.request.approve', targetType: 'request', target: 'outer' }, async (tx) => {
      await insertUser(tx, 'outer-made');
      return audit.change(
        admin,
        { action: 'token.distribute', targetType: 'user', target: 'inner' },
        async () => {
          throw new TallyError('PROFILE_NOT_FOUND');
        },
        undefined,
        tx,
      );
    });
    await assert.rejects(outer, (error: unknown) => error instanceof TallyError && error.code === 'PROFILE_NOT_FOUND');
    assert.equal(await userExists(getStore(), 'outer-made'), false);
    const recorded = [...(await events(getStore(), 'token.distribute')), ...(await events(getStore(), 'token.request.approve'))]
      .filter((event) => event.target === 'inner' || event.target === 'outer')
      .map((event) => [event.action, event.result, JSON.parse(event.details ?? '{}')]);
    assert.deepEqual(recorded, [
      ['token.distribute', 'failure', { error: 'PROFILE_NOT_FOUND' }],
      ['token.request.approve', 'failure', { error: 'PROFILE_NOT_FOUND' }],
    ]);
  });
});
