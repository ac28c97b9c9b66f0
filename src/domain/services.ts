import type { Keyring } from '../core/crypto/secret-box.js';
import type { Store } from '../store/connect.js';
import { ApiTokenRepository } from '../store/repositories/api-tokens.js';
import { AuditRepository } from '../store/repositories/audit.js';
import { UserRepository } from '../store/repositories/users.js';
import { ApiTokenService } from './api-tokens.js';
import { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import { UserService } from './users.js';
import { TokenService } from './tokens.js';

/** The domain services, wired once per process; adapters receive this and call nothing else. */
export interface Services {
  clock: Clock;
  audit: AuditService;
  users: UserService;
  apiTokens: ApiTokenService;
  tokens: TokenService;
}

export function createServices(store: Store, keyring: Keyring, clock: Clock): Services {
  const audit = new AuditService(new AuditRepository(store.db), clock);
  return {
    clock,
    audit,
    users: new UserService(new UserRepository(store.db), audit, clock),
    apiTokens: new ApiTokenService(new ApiTokenRepository(store.db), audit, clock),
    tokens: new TokenService(store.db, keyring, audit, clock),
  };
}
