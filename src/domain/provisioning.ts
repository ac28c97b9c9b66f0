import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { constantTimeEqual } from '../core/crypto/random.js';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { NONCE_BYTES, serverFinished, serverHello } from '../core/ctkip/exchange.js';
import {
  buildServerResponse,
  buildSoapFault,
  type ClientRequest,
  faultReasonFor,
  parseClientMessage,
  parseClientRequest,
} from '../core/ctkip/messages.js';
import { findDescendant, parseStrictXml } from '../core/xml/strict.js';
import { isTallyError, TallyError } from '../errors.js';
import { TokenRepository } from '../store/repositories/tokens.js';
import type { Database } from '../store/schema.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import { CODE_SECRET_DIGITS, LOCATOR_DIGITS } from './distribution.js';
import type { RateLimitService } from './rate-limits.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';
import type { TokenService } from './tokens.js';

/** Wrong codes a pending token takes before its activation locks (an admin resets or reissues). */
export const MAX_ACTIVATION_ATTEMPTS = 5;
/**
 * Wrong codes one client address may send in SOURCE_WINDOW_MS before its CT-KIP requests are
 * refused for the rest of the window: without it, a client could spray 5 wrong codes on every
 * locator and lock every pending activation.
 */
export const MAX_WRONG_CODES_PER_SOURCE = 10;
const SOURCE_WINDOW_MS = 3_600_000;
const SESSION_LIFETIME_MS = 10 * 60_000;
const SERVER_KEY_BITS = 1024;

export function ctkipKeyContext(id: number): string {
  return `ctkip-key:${id}`;
}

interface Claim {
  distributionId: number;
  secretHash: string;
  serial: string;
}

/** What the CT-KIP adapter hands over: the raw body and where it came from. */
export interface CtkipRequest {
  body: string | Uint8Array;
  source: string;
}

/**
 * The CT-KIP service (the SecurID dialect, spec/ctkip.md): redeems a one-time activation code for
 * a token whose seed both ends derive. Every answer is a SOAP document, faults included; the token
 * becomes active, with the derived seed sealed, only when ServerFinished is produced.
 */
export class ProvisioningService {
  private currentKey: Promise<{ id: number; key: KeyObject }> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly keyring: Keyring,
    private readonly tokens: TokenService,
    private readonly hasher: SecretHasher,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly rateLimits: RateLimitService,
  ) {}

  /** The newest unretired server key, generated on first use (init calls this too). */
  serverKey(): Promise<{ id: number; key: KeyObject }> {
    this.currentKey ??= (async () => {
      const row = await this.db
        .selectFrom('ctkip_server_keys')
        .selectAll()
        .where('retired_at', 'is', null)
        .orderBy('id', 'desc')
        .executeTakeFirst();
      if (row) return { id: row.id, key: this.openKey(row.id, row.private_key_sealed) };
      return this.insertKey();
    })();
    this.currentKey.catch(() => {
      this.currentKey = undefined;
    });
    return this.currentKey;
  }

  /** A new server key pair; exchanges already under way finish with the key they started with. */
  async rotateServerKey(actor: Actor): Promise<{ id: number }> {
    return this.audit.track(actor, { action: 'ctkip.key.rotate' }, async () => {
      requirePermission(actor, 'ctkip.manage');
      const previous = await this.db.selectFrom('ctkip_server_keys').select('id').where('retired_at', 'is', null).execute();
      const created = await this.insertKey();
      if (previous.length) {
        await this.db
          .updateTable('ctkip_server_keys')
          .set({ retired_at: this.clock.now() })
          .where(
            'id',
            'in',
            previous.map((p) => p.id),
          )
          .execute();
      }
      this.currentKey = Promise.resolve(created);
      return { id: created.id };
    });
  }

  private async insertKey(): Promise<{ id: number; key: KeyObject }> {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: SERVER_KEY_BITS, publicExponent: 65537 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    // The sealed value is bound to the row's id, which exists only after the insert: one transaction for both.
    const id = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('ctkip_server_keys')
        .values({ private_key_sealed: '', created_at: this.clock.now(), retired_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('ctkip_server_keys')
        .set({ private_key_sealed: seal(this.keyring, Buffer.from(pem), ctkipKeyContext(row.id)) })
        .where('id', '=', row.id)
        .execute();
      return row.id;
    });
    return { id, key: privateKey };
  }

  /** Opened keys by id: parsing a PEM costs more than the RSA decryption it serves. */
  private readonly openedKeys = new Map<number, KeyObject>();

  private openKey(id: number, sealed: string): KeyObject {
    let key = this.openedKeys.get(id);
    if (!key) {
      key = createPrivateKey(open(this.keyring, sealed, ctkipKeyContext(id)).toString());
      this.openedKeys.set(id, key);
    }
    return key;
  }

  /** Answers one CT-KIP POST with the SOAP document to send back (always with HTTP 200). */
  async handle(request: CtkipRequest): Promise<string> {
    let envelope: ClientRequest | undefined;
    try {
      envelope = parseClientRequest(request.body);
      const message = parseClientMessage(envelope.request);
      const client = clientSoftware(envelope.provisioningData);
      const actor: Actor = { kind: 'anonymous', name: 'ctkip-client', role: 'user', source: request.source };
      const hashKey = await this.hasher.load();
      if (message.type === 'ClientHello') {
        const claim = await this.claimCode(actor, hashKey, envelope.authData, client);
        const sessionId = randomBytes(16).toString('hex');
        const serverNonce = randomBytes(NONCE_BYTES);
        const { id: keyId, key } = await this.serverKey();
        const responseXml = serverHello({ hello: message, sessionId, serverNonce, serverKey: key });
        const now = this.clock.now();
        await this.db.deleteFrom('ctkip_sessions').where('expires_at', '<', now).execute();
        await this.db
          .insertInto('ctkip_sessions')
          .values({
            session_id: sessionId,
            distribution_id: claim.distributionId,
            server_nonce: serverNonce.toString('hex'),
            key_id: keyId,
            created_at: now,
            expires_at: now + SESSION_LIFETIME_MS,
          })
          .execute();
        await this.audit.record(actor, { action: 'ctkip.start', targetType: 'token', target: claim.serial, details: client });
        return buildServerResponse({ authData: envelope.authData, provisioningData: envelope.provisioningData, response: responseXml });
      }
      const claim = await this.claimCode(actor, hashKey, envelope.authData, client);
      return await this.finish(actor, claim, message, envelope, client);
    } catch (error) {
      if (!isTallyError(error)) throw error;
      return buildSoapFault(faultReasonFor(error.code));
    }
  }

  private async finish(
    actor: Actor,
    claim: Claim,
    message: Extract<ReturnType<typeof parseClientMessage>, { type: 'ClientNonce' }>,
    envelope: ClientRequest,
    client: Record<string, string>,
  ): Promise<string> {
    const now = this.clock.now();
    const session = await this.db
      .selectFrom('ctkip_sessions')
      .selectAll()
      .where('session_id', '=', message.sessionId.slice(0, 64))
      .where('distribution_id', '=', claim.distributionId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return this.audit.track(actor, { action: 'ctkip.activate', targetType: 'token', target: claim.serial, details: client }, async () => {
      if (!session) throw new TallyError('CTKIP_SESSION_UNKNOWN');
      const token = await this.db
        .selectFrom('tokens')
        .innerJoin('distributions', 'distributions.token_id', 'tokens.id')
        .selectAll('tokens')
        .where('distributions.id', '=', claim.distributionId)
        .executeTakeFirstOrThrow();
      const user =
        token.user_id === null
          ? undefined
          : await this.db.selectFrom('users').select('username').where('id', '=', token.user_id).executeTakeFirst();
      const keyRow = await this.db.selectFrom('ctkip_server_keys').selectAll().where('id', '=', session.key_id).executeTakeFirstOrThrow();
      let result: ReturnType<typeof serverFinished>;
      try {
        result = serverFinished({
          message,
          sessionId: session.session_id,
          serverNonce: Buffer.from(session.server_nonce, 'hex'),
          serverPrivateKey: this.openKey(keyRow.id, keyRow.private_key_sealed),
          token: {
            serial: token.serial,
            keyExpiryDate: `${token.expires_on ?? '2037-12-31'}T00:00:00+00:00`,
            userId: user?.username ?? '',
            digits: token.digits as 6 | 8,
            intervalSeconds: token.period_seconds as 30 | 60,
            pinType: 0,
            addPin: token.add_pin === 1,
          },
        });
      } catch (error) {
        // A failed proof ends the session: a client must start again with a fresh ServerHello.
        await this.db.deleteFrom('ctkip_sessions').where('session_id', '=', session.session_id).execute();
        throw error;
      }
      await this.db.transaction().execute(async (trx) => {
        // The one-time claim: of two clients racing with one code, exactly one gets here.
        const claimed = await trx
          .updateTable('distributions')
          .set({ state: 'redeemed', redeemed_at: now, locator: null })
          .where('id', '=', claim.distributionId)
          .where('state', '=', 'open')
          .where('secret_hash', '=', claim.secretHash)
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) throw new TallyError('ACTIVATION_CODE_INVALID');
        const activated = await new TokenRepository(trx).update(
          token.serial,
          {
            seed_sealed: this.tokens.sealSeed(token.serial, result.kToken),
            state: 'active',
            activated_at: now,
            last_step: null,
            drift_steps: 0,
            updated_at: now,
          },
          { state: 'pending' },
        );
        if (!activated) throw new TallyError('ACTIVATION_CODE_INVALID');
        await trx.deleteFrom('ctkip_sessions').where('distribution_id', '=', claim.distributionId).execute();
      });
      return buildServerResponse({ authData: envelope.authData, provisioningData: result.provisioningData, response: result.responseXml });
    });
  }

  /**
   * Finds the open distribution the code selects (its first digits) and checks the whole code
   * against its keyed hash. A wrong code counts against that token's activation and against the
   * client's address; an address with too many wrong codes is refused before any code is looked at.
   */
  private async claimCode(actor: Actor, hashKey: SecretHashKey, code: string, client: Record<string, string>): Promise<Claim> {
    const source = actor.source ?? 'unknown';
    if ((await this.rateLimits.peek(`ctkip-wrong-codes:${source}`, SOURCE_WINDOW_MS)) >= MAX_WRONG_CODES_PER_SOURCE)
      throw new TallyError('CTKIP_SOURCE_BLOCKED');
    const refuse = async (reason: string, serial?: string): Promise<never> => {
      await this.sourceFailed(actor, source, { reason, ...(serial ? { serial } : {}), ...client });
      throw new TallyError('ACTIVATION_CODE_INVALID');
    };
    const trimmed = code.trim();
    if (!new RegExp(`^\\d{${LOCATOR_DIGITS + CODE_SECRET_DIGITS}}$`).test(trimmed)) return refuse('malformed code');
    const distribution = await this.db
      .selectFrom('distributions')
      .innerJoin('tokens', 'tokens.id', 'distributions.token_id')
      .select([
        'distributions.id',
        'distributions.secret_hash',
        'distributions.failed_attempts',
        'distributions.expires_at',
        'tokens.serial',
        'tokens.state',
        'tokens.token_type',
      ])
      .where('distributions.locator', '=', trimmed.slice(0, LOCATOR_DIGITS))
      .where('distributions.state', '=', 'open')
      .executeTakeFirst();
    if (!distribution || distribution.secret_hash === null) return refuse('unknown code');
    if (distribution.failed_attempts >= MAX_ACTIVATION_ATTEMPTS) return refuse('locked after too many wrong codes', distribution.serial);
    if (!constantTimeEqual(hashKey.hash('activation-code', trimmed), distribution.secret_hash)) {
      await this.db
        .updateTable('distributions')
        .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1) }))
        .where('id', '=', distribution.id)
        .execute();
      return refuse('wrong code', distribution.serial);
    }
    if (distribution.expires_at <= this.clock.now()) return refuse('expired', distribution.serial);
    if (distribution.state !== 'pending' || distribution.token_type !== 'securid')
      return refuse(`token is ${distribution.state}`, distribution.serial);
    return { distributionId: distribution.id, secretHash: distribution.secret_hash, serial: distribution.serial };
  }

  /**
   * Counts a refused code against the client's address and audits it folded: the first failure of
   * an address in its window is recorded (later ones only counted), and the failure that blocks the
   * address is recorded with the count. An address spraying codes writes two audit rows an hour, not
   * one per request.
   */
  private async sourceFailed(actor: Actor, source: string, details: Record<string, string>): Promise<void> {
    const { hits } = await this.rateLimits.hit(`ctkip-wrong-codes:${source}`, SOURCE_WINDOW_MS);
    if (hits === 1) {
      await this.audit.record(actor, {
        action: 'ctkip.code',
        targetType: details.serial ? 'token' : undefined,
        target: details.serial,
        result: 'failure',
        details: { ...details, folded: 'further wrong codes from this address within the hour are counted, not recorded one by one' },
      });
    } else if (hits === MAX_WRONG_CODES_PER_SOURCE) {
      await this.audit.record(actor, {
        action: 'ctkip.source.blocked',
        result: 'failure',
        details: { wrongCodes: String(hits), window: '1 hour', last: details.reason },
      });
    }
  }

  /** Lets a token's activation be tried again after too many wrong codes. */
  async resetActivationAttempts(actor: Actor, serial: string): Promise<void> {
    await this.audit.track(actor, { action: 'ctkip.reset', targetType: 'token', target: serial }, async () => {
      requirePermission(actor, 'tokens.distribute');
      const token = await new TokenRepository(this.db).findBySerial(serial);
      if (!token) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
      await this.tokens.requireAuthorityOverHolder(actor, token);
      await this.db
        .updateTable('distributions')
        .set({ failed_attempts: 0 })
        .where('token_id', '=', token.id)
        .where('state', '=', 'open')
        .execute();
    });
  }
}

/** The client's own description of itself (version, maker), for the audit trail only. */
function clientSoftware(provisioningData: string): Record<string, string> {
  try {
    const root = parseStrictXml(provisioningData, { maxBytes: 4096, maxDepth: 4 });
    const facts: Record<string, string> = {};
    for (const name of ['Version', 'Manufacturer', 'FormFactor']) {
      const text = findDescendant(root, name)?.text.trim();
      if (text) facts[`client${name}`] = text.slice(0, 64);
    }
    return facts;
  } catch {
    return {};
  }
}
