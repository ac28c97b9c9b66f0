import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Client, type Entry, InvalidCredentialsError, InvalidDNSyntaxError, NoSuchObjectError } from 'ldapts';
import { TallyError } from '../errors.js';
import type { Logger } from '../logger.js';

/** How to reach one directory: what a source's settings say about the wire. */
export interface DirectoryEndpoint {
  /** The source's name, for the log. */
  name: string;
  urls: readonly string[];
  startTls: boolean;
  caFile: string | null;
  bindDn: string;
  bindPassword: string;
  timeoutMs: number;
}

/** What an operation can do on a connection bound as the source's account. */
export interface DirectorySession {
  search(
    base: string,
    filter: string,
    attributes: readonly string[],
    options?: { scope?: 'base' | 'sub'; sizeLimit?: number },
  ): Promise<Entry[]>;
  /**
   * One entry by its DN if it matches the filter; undefined when it does not, or when no such
   * entry exists or the DN is not one the server can parse (a DN from outside asks, it does not fail).
   */
  read(dn: string, filter: string, attributes: readonly string[]): Promise<Entry | undefined>;
  /** Binds as someone else (the user logging on); false when the directory refuses the password. */
  bindAs(dn: string, password: string): Promise<boolean>;
}

/** Connections a source may have open at once; more operations wait, and too many waiting are refused. */
const MAX_OPEN = 4;
const MAX_WAITING = 64;
/** Attributes whose values are binary and must arrive as bytes. */
const BINARY_ATTRIBUTES = ['objectGUID'];

class Gate {
  private open = 0;
  private readonly waiting: (() => void)[] = [];

  async enter(): Promise<void> {
    if (this.open < MAX_OPEN) {
      this.open++;
      return;
    }
    if (this.waiting.length >= MAX_WAITING) throw new TallyError('DIRECTORY_UNAVAILABLE');
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.open--;
  }
}

/**
 * LDAP I/O for the directory service, through ldapts: a connection per operation, at most
 * `MAX_OPEN` per source at once, each bound as the source's account, its URLs tried in turn
 * (failover) with the source's timeout on connecting and on each operation. What the directory
 * says when it fails goes to the log; callers see DIRECTORY_UNAVAILABLE or DIRECTORY_BIND_REFUSED.
 */
export class DirectoryConnector {
  private readonly gates = new Map<string, Gate>();

  constructor(private readonly logger?: Logger) {}

  async run<T>(endpoint: DirectoryEndpoint, operation: (session: DirectorySession) => Promise<T>): Promise<T> {
    const gate = this.gates.get(endpoint.name) ?? new Gate();
    this.gates.set(endpoint.name, gate);
    await gate.enter();
    try {
      return await this.failover(endpoint, operation);
    } finally {
      gate.leave();
    }
  }

  /** Forgets a source's gate (the source was removed or renamed). */
  forget(name: string): void {
    this.gates.delete(name);
  }

  private async failover<T>(endpoint: DirectoryEndpoint, operation: (session: DirectorySession) => Promise<T>): Promise<T> {
    const tls = this.tlsOptions(endpoint);
    for (const url of endpoint.urls) {
      const secure = url.startsWith('ldaps://');
      // ldapts speaks TLS from the start whenever it is given TLS options: for ldap:// they go to StartTLS
      // only, with the host the certificate must name; copies, as it keeps the upgraded socket in them.
      const client = new Client({
        url,
        timeout: endpoint.timeoutMs,
        connectTimeout: endpoint.timeoutMs,
        ...(secure ? { tlsOptions: { ...tls } } : {}),
        strictDN: false,
      });
      let connected = false;
      try {
        if (endpoint.startTls && !secure) await client.startTLS({ ...tls, host: new URL(url).hostname.replace(/^\[|\]$/g, '') });
        await client.bind(endpoint.bindDn, endpoint.bindPassword);
        connected = true;
        return await operation(session(client));
      } catch (error) {
        if (error instanceof TallyError) throw error;
        if (error instanceof InvalidCredentialsError && !connected) {
          this.logger?.warn({ source: endpoint.name, url }, 'the directory refused the identity source bind account');
          throw new TallyError('DIRECTORY_BIND_REFUSED');
        }
        this.logger?.warn(
          { source: endpoint.name, url, reason: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : 'unknown' },
          'a directory URL failed; trying the next',
        );
        // Once the operation has begun, its effects may be half done: it is not repeated elsewhere.
        if (connected) throw new TallyError('DIRECTORY_UNAVAILABLE');
      } finally {
        await client.unbind().catch(() => {});
      }
    }
    throw new TallyError('DIRECTORY_UNAVAILABLE');
  }

  private tlsOptions(endpoint: DirectoryEndpoint): ConnectionOptions {
    const options: ConnectionOptions = { minVersion: 'TLSv1.2' };
    if (endpoint.caFile) {
      try {
        options.ca = readFileSync(endpoint.caFile);
      } catch {
        this.logger?.warn({ source: endpoint.name, caFile: endpoint.caFile }, "the identity source's CA file cannot be read");
        throw new TallyError('DIRECTORY_UNAVAILABLE');
      }
    }
    return options;
  }
}

function session(client: Client): DirectorySession {
  return {
    async search(base, filter, attributes, options = {}) {
      const result = await client.search(base, {
        scope: options.scope ?? 'sub',
        filter,
        attributes: [...attributes],
        sizeLimit: options.sizeLimit ?? 0,
        explicitBufferAttributes: BINARY_ATTRIBUTES,
      });
      return result.searchEntries;
    },
    async read(dn, filter, attributes) {
      try {
        const result = await client.search(dn, {
          scope: 'base',
          filter,
          attributes: [...attributes],
          explicitBufferAttributes: BINARY_ATTRIBUTES,
        });
        return result.searchEntries[0];
      } catch (error) {
        if (error instanceof NoSuchObjectError || error instanceof InvalidDNSyntaxError) return undefined;
        throw error;
      }
    },
    async bindAs(dn, password) {
      // An empty password would be an unauthenticated bind (RFC 4513 5.1.2), which many servers accept.
      if (password.length === 0) return false;
      try {
        await client.bind(dn, password);
        return true;
      } catch (error) {
        if (error instanceof InvalidCredentialsError) return false;
        throw error;
      }
    },
  };
}
