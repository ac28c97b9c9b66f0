import { invalidField } from '../errors.js';
import { hotpType, totpType } from './oath.js';
import { securidType } from './securid.js';
import { TOKEN_TYPES, type TokenType, type TokenTypeModule } from './types.js';

const registry: Record<TokenType, TokenTypeModule> = { totp: totpType, hotp: hotpType, securid: securidType };

export function tokenType(type: string): TokenTypeModule {
  const module = registry[type as TokenType];
  if (!module) throw invalidField('tokenType', 'oneOf', { choices: TOKEN_TYPES.join(', ') });
  return module;
}

export type { TokenType, TokenTypeModule };
export { TOKEN_TYPES };
