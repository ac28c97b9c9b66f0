import type { PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { describeServer, type PostgresAddress, type TargetSessionAttrs } from './postgres-address.js';

/** SQLSTATE read_only_sql_transaction: a write reached a server (or session) that takes none. */
const READ_ONLY_TRANSACTION = '25006';

/**
 * No server of the address list could be used: each one's reason, in order. Its SQLSTATE is
 * libpq's for the same case (08001, unable to establish a connection), so it is answered as an
 * unreachable store (503 STORE_UNAVAILABLE with a retry hint).
 */
export class NoUsableServerError extends Error {
  readonly code = '08001';
}

/**
 * A node-postgres pool per server of a failover address list, behind the one pool Kysely uses.
 * Every new connection tries the servers in order, as libpq does: a server that does not answer,
 * or (with `target_session_attrs` read-write or primary) answers as a standby or read-only, is
 * passed over for the next. A pooled connection whose server turns read-only under it (a fenced
 * or demoted primary) is dropped at its release after the refused write, so the next connection
 * looks for the new primary. With one server and `any` this is node-postgres's own pool.
 */
export function failoverPool(
  address: PostgresAddress,
  options: Omit<pg.PoolConfig, 'connectionString'>,
  onNewClient?: (client: pg.PoolClient) => void,
): PostgresPool {
  const servers = address.servers.map((server, index) => {
    const pool = new pg.Pool({ ...options, connectionString: address.urls[index], onConnect: sessionCheck(address.targetSessionAttrs) });
    // An idle client losing its connection must not crash the process; the next query reports it.
    pool.on('error', () => {});
    if (onNewClient) pool.on('connect', onNewClient);
    return { server, pool };
  });
  return {
    async connect() {
      const reasons: string[] = [];
      for (const { server, pool } of servers) {
        try {
          return watchedForReadOnly(await pool.connect());
        } catch (error) {
          // One server and a plain failure: node-postgres's own error, as without a list.
          if (servers.length === 1 && !(error instanceof WrongSessionError)) throw error;
          reasons.push(`${describeServer(server)} ${reasonOf(error)}`);
        }
      }
      throw new NoUsableServerError(
        `No usable PostgreSQL server (target_session_attrs=${address.targetSessionAttrs}): ${reasons.join('; ')}`,
      );
    },
    async end() {
      await Promise.all(servers.map(({ pool }) => pool.end()));
    },
  };
}

class WrongSessionError extends Error {}

/** Run on each new connection before the pool hands it out; a refusal ends it and the next server is tried. */
function sessionCheck(target: TargetSessionAttrs): ((client: pg.ClientBase) => Promise<void>) | undefined {
  if (target === 'read-write') {
    return async (client) => {
      const { rows } = await client.query<{ transaction_read_only: string }>('show transaction_read_only');
      if (rows[0]?.transaction_read_only !== 'off') throw new WrongSessionError('is read-only');
    };
  }
  if (target === 'primary') {
    return async (client) => {
      const { rows } = await client.query<{ standby: boolean }>('select pg_is_in_recovery() as standby');
      if (rows[0]?.standby !== false) throw new WrongSessionError('is a standby');
    };
  }
  return undefined;
}

function reasonOf(error: unknown): string {
  if (error instanceof WrongSessionError) return error.message;
  const code = (error as { code?: unknown }).code;
  return `cannot be used (${typeof code === 'string' ? code : (error as Error).message})`;
}

/** The pool's client, dropped rather than kept when a write on it was refused as read-only. */
function watchedForReadOnly(client: pg.PoolClient): PostgresPoolClient {
  let readOnly = false;
  const noteReadOnly = (error: unknown) => {
    if ((error as { code?: unknown }).code === READ_ONLY_TRANSACTION) readOnly = true;
    throw error;
  };
  return {
    query: ((...args: Parameters<pg.PoolClient['query']>) => {
      const result = (client.query as (...a: unknown[]) => unknown)(...args);
      return result instanceof Promise ? result.catch(noteReadOnly) : result;
    }) as PostgresPoolClient['query'],
    release: (destroy?: boolean) => client.release(destroy || readOnly),
  };
}
