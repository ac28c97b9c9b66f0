import type pg from 'pg';

/**
 * PostgreSQL statements prepared once per connection and then only bound and executed. An
 * unnamed statement (what Kysely and `pg` send) is parsed and planned on every execution: for the
 * authentication batch's two statements, at one request per batch, parsing and planning took
 * ~0.8 ms of the server's time against ~0.2 ms executing. Named, each is parsed once per
 * connection; run on `Store.genericPlans`, it is planned once too. Only statements of fixed text
 * belong here (their values are parameters): each stays prepared for the connection's life.
 */
const names = new Map<string, string>();

/** Marks `text` as a statement to prepare by name on PostgreSQL; returns it unchanged. */
export function preparedOnPostgres(text: string): string {
  if (!names.has(text)) names.set(text, `tally_prepared_${names.size + 1}`);
  return text;
}

/** Makes a pooled client send the marked statements by name (`pg` then parses each once per connection). */
export function preparesMarkedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const [text, values, ...rest] = args;
    const name = typeof text === 'string' ? names.get(text) : undefined;
    if (name === undefined) return query(...args);
    return query({ name, text, values }, ...rest);
  }) as typeof client.query;
}
