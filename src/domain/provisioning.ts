import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../core/crypto/random.js';
import { type Keyring, open, seal } from '../core/crypto/secret-box.js';
import { answerClientHello, answerClientNonce, NONCE_BYTES } from '../core/ctkip/exchange.js';
import type { ClientHello, ClientNonce, PinSettings, ServerFinishedFields, ServerHelloFields } from '../core/ctkip/messages.js';
import { isTallyError, TallyError } from '../errors.js';
import type { CtkipRepository } from '../store/repositories/ctkip.js';
import type { Repositories } from '../store/unit-of-work.js';
import { type Actor, requirePermission } from './actor.js';
import { type AuditService, RefusalKeepingWrites } from './audit.js';
import type { Clock } from './clock.js';
import { CODE_SECRET_DIGITS, LOCATOR_DIGITS } from './distribution.js';
import type { RateLimitService } from './rate-limits.js';
import type { SecretHasher, SecretHashKey } from './secret-hash.js';
import type { TokenService } from './tokens.js';

/** Wrong codes a pending token takes before its activation locks (an admin resets or reissues). */
const MAX_ACTIVATION_ATTEMPTS = 5;
/**
 * Wrong codes one client address may send in SOURCE_WINDOW_MS before its CT-KIP requests are
 * refused for the rest of the window: without it, a client could spray 5 wrong codes on every
 * locator and lock every pending activation.
 */
const MAX_WRONG_CODES_PER_SOURCE = 10;
const SOURCE_WINDOW_MS = 3_600_000;
const SESSION_LIFETIME_MS = 10 * 60_000;
const SERVER_KEY_BITS = 1024;

function ctkipKeyContext(id: number): string {
  return `ctkip-key:${id}`;
}

interface Claim {
  distributionId: number;
  secretHash: string;
  serial: string;
}

/** One decoded CT-KIP request, as the adapter hands it over: the message, its code, and who sent it. */
export interface CtkipRequest<Message extends ClientHello | ClientNonce> {
  message: Message;
  /** The activation code the envelope carries. */
  activationCode: string;
  /** The client's description of itself (version, maker), for the audit trail only. */
  client: Record<string, string>;
  /** The client's address, for the per-source limit and the audit trail. */
  source: string;
  /** The HTTP request's id, for the audit trail. */
  requestId?: string;
}

/** The answer to a ClientNonce: the ServerFinished and the PIN settings that travel with it. */
export interface CtkipFinished {
  finished: ServerFinishedFields;
  pin: PinSettings;
}

/**
 * The CT-KIP service (the SecurID dialect, spec/ctkip.md): redeems a one-time activation code for
 * a token whose seed both ends derive. It takes decoded messages and returns typed answers; a
 * refusal is a TallyError, which the adapter encodes as a SOAP fault. The token becomes active,
 * with the derived seed sealed, only when ServerFinished is produced. SQL is in CtkipRepository.
 */
export class ProvisioningService {
  private currentKey: Promise<{ id: number; key: KeyObject }> | undefined;
  private readonly store: CtkipRepository;

  constructor(
    repositories: Pick<Repositories, 'ctkip'>,
    private readonly keyring: Keyring,
    private readonly tokens: TokenService,
    private readonly hasher: SecretHasher,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly rateLimits: RateLimitService,
  ) {
    this.store = repositories.ctkip;
  }

  /** The newest unretired server key, generated on first use (init calls this too). */
  serverKey(): Promise<{ id: number; key: KeyObject }> {
    this.currentKey ??= (async () => {
      const current = await this.store.currentServerKey();
      if (current) return { id: current.id, key: this.openKey(current.id, current.sealed) };
      return this.insertKey(this.store);
    })();
    this.currentKey.catch(() => {
      this.currentKey = undefined;
    });
    return this.currentKey;
  }

  /** A new server key pair; exchanges already under way finish with the key they started with. */
  async rotateServerKey(actor: Actor): Promise<{ id: number }> {
    const created = await this.audit.change(actor, { action: 'ctkip.key.rotate' }, async (tx) => {
      requirePermission(actor, 'ctkip.manage');
      const created = await this.insertKey(tx.ctkip);
      await tx.ctkip.retireServerKeysBefore(created.id, this.clock.now());
      return created;
    });
    this.currentKey = Promise.resolve(created);
    return { id: created.id };
  }

  private async insertKey(store: CtkipRepository): Promise<{ id: number; key: KeyObject }> {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: SERVER_KEY_BITS, publicExponent: 65537 });
    const pem = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    // The sealed value is bound to the row's id: the repository inserts, then seals, in one transaction.
    const id = await store.insertServerKey(this.clock.now(), (keyId) => seal(this.keyring, pem, ctkipKeyContext(keyId)));
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

  /**
   * Answers a ClientHello: checks the code (redeeming nothing yet), opens a session in the store,
   * so that any node can take the ClientNonce, and returns the ServerHello to send.
   */
  async hello(request: CtkipRequest<ClientHello>): Promise<ServerHelloFields> {
    const actor = ctkipActor(request.source, request.requestId);
    const claim = await this.claimCode(actor, await this.hasher.load(), request.activationCode, request.client);
    const sessionId = randomBytes(16).toString('hex');
    const serverNonce = randomBytes(NONCE_BYTES);
    const { id: keyId, key } = await this.serverKey();
    const hello = answerClientHello({ hello: request.message, sessionId, serverNonce, serverKey: key });
    const now = this.clock.now();
    await this.audit.change(actor, { action: 'ctkip.start', targetType: 'token', target: claim.serial, details: request.client }, (tx) =>
      tx.ctkip.openSession({
        session_id: sessionId,
        distribution_id: claim.distributionId,
        server_nonce: serverNonce.toString('hex'),
        key_id: keyId,
        created_at: now,
        expires_at: now + SESSION_LIFETIME_MS,
      }),
    );
    return hello;
  }

  /**
   * Answers a ClientNonce: checks the code again and the client's proof against its session,
   * derives the seed, then redeems the code and activates the token in one claim; the
   * ServerFinished is returned only when that claim is won.
   */
  async finish(request: CtkipRequest<ClientNonce>): Promise<CtkipFinished> {
    const actor = ctkipActor(request.source, request.requestId);
    const { message, client } = request;
    const claim = await this.claimCode(actor, await this.hasher.load(), request.activationCode, client);
    const now = this.clock.now();
    const session = await this.store.findSession(message.sessionId.slice(0, 64), claim.distributionId, now);
    return this.audit.change(
      actor,
      { action: 'ctkip.activate', targetType: 'token', target: claim.serial, details: client },
      async (tx) => {
        if (!session) throw new TallyError('CTKIP_SESSION_UNKNOWN');
        const { token, username } = await tx.ctkip.activationTarget(claim.distributionId);
        const keyRow = await tx.ctkip.serverKey(session.key_id);
        if (!keyRow) throw new Error(`CT-KIP server key ${session.key_id} is missing.`);
        let answer: ReturnType<typeof answerClientNonce>;
        try {
          answer = answerClientNonce({
            message,
            sessionId: session.session_id,
            serverNonce: Buffer.from(session.server_nonce, 'hex'),
            serverPrivateKey: this.openKey(keyRow.id, keyRow.sealed),
            token: {
              serial: token.serial,
              keyExpiryDate: `${token.expires_on ?? '2037-12-31'}T00:00:00+00:00`,
              userId: username ?? '',
              digits: token.digits as 6 | 8,
              period: token.period as 30 | 60,
              pinType: 0,
              addPin: token.add_pin === 1,
            },
          });
        } catch (error) {
          // A failed proof ends the session: a client must start again with a fresh ServerHello.
          await tx.ctkip.endSession(session.session_id);
          throw isTallyError(error) ? new RefusalKeepingWrites(error) : error;
        }
        // The one-time claim: of two clients racing with one code, exactly one wins.
        const redeemed = await tx.ctkip.redeem({
          distributionId: claim.distributionId,
          secretHash: claim.secretHash,
          serial: token.serial,
          token: {
            seed_sealed: this.tokens.sealSeed(token.serial, answer.kToken),
            state: 'active',
            activated_at: now,
            last_step: null,
            drift_steps: 0,
            updated_at: now,
          },
          now,
        });
        if (!redeemed) throw new TallyError('ACTIVATION_CODE_INVALID');
        return { finished: answer.finished, pin: answer.pin };
      },
    );
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
    const distribution = await this.store.findOpenByLocator(trimmed.slice(0, LOCATOR_DIGITS));
    if (!distribution || distribution.secretHash === null) return refuse('unknown code');
    if (distribution.failedAttempts >= MAX_ACTIVATION_ATTEMPTS) return refuse('locked after too many wrong codes', distribution.serial);
    if (!constantTimeEqual(hashKey.hash('activation-code', trimmed), distribution.secretHash)) {
      await this.store.countWrongCode(distribution.distributionId);
      return refuse('wrong code', distribution.serial);
    }
    if (distribution.expiresAt <= this.clock.now()) return refuse('expired', distribution.serial);
    if (distribution.tokenState !== 'pending' || distribution.tokenType !== 'securid')
      return refuse(`token is ${distribution.tokenState}`, distribution.serial);
    return { distributionId: distribution.distributionId, secretHash: distribution.secretHash, serial: distribution.serial };
  }

  /**
   * Counts a refused code against the client's address and audits it folded: the first failure of
   * an address in its window is recorded (later ones only counted), and the failure that blocks the
   * address is recorded with the count. An address spraying codes writes two audit rows an hour, not
   * one per request.
   */
  private async sourceFailed(actor: Actor, source: string, details: { reason: string } & Record<string, string>): Promise<void> {
    const { hits } = await this.rateLimits.hit(`ctkip-wrong-codes:${source}`, SOURCE_WINDOW_MS);
    if (hits === 1) {
      const folded = 'further wrong codes from this address within the hour are counted, not recorded one by one';
      await this.audit.record({
        actor,
        entry: {
          action: 'ctkip.code',
          targetType: details.serial ? 'token' : undefined,
          target: details.serial,
          result: 'failure',
          details: { ...details, folded },
        },
      });
    } else if (hits === MAX_WRONG_CODES_PER_SOURCE) {
      const blocked = { wrongCodes: String(hits), window: '1 hour', last: details.reason };
      await this.audit.record({ actor, entry: { action: 'ctkip.source.blocked', result: 'failure', details: blocked } });
    }
  }

  /** Lets a token's activation be tried again after too many wrong codes. */
  async resetActivationAttempts(actor: Actor, serial: string): Promise<void> {
    await this.audit.change(actor, { action: 'ctkip.reset', targetType: 'token', target: serial }, async (tx) => {
      requirePermission(actor, 'tokens.distribute');
      const token = await tx.tokens.findBySerial(serial);
      if (!token) throw new TallyError('TOKEN_NOT_FOUND', `No token with serial ${serial}.`);
      await this.tokens.requireAuthorityOverHolder(actor, token, tx.users);
      await tx.ctkip.resetWrongCodes(token.id);
    });
  }
}

/** CT-KIP clients are anonymous: the activation code is their only credential. */
function ctkipActor(source: string, requestId: string | undefined): Actor {
  return { kind: 'anonymous', name: 'CT-KIP client', role: 'user', source, requestId };
}
