import type { Delivery } from '../model/vocabulary.js';

export type TokenType = 'totp' | 'hotp' | 'securid';
export const TOKEN_TYPES: readonly TokenType[] = ['totp', 'hotp', 'securid'];

export type TokenAlgorithm = 'SHA1' | 'SHA256' | 'SHA512' | 'AES128';

/** What a code computation needs besides the seed. */
export interface TokenSettings {
  digits: number;
  /** Seconds per code for time-based tokens; 0 for counter-based ones. */
  period: number;
  algorithm: TokenAlgorithm;
  /** SecurID only: the PIN is added into the tokencode digit by digit by the app. */
  addPin: boolean;
}

export interface TokenMaterial {
  serial: string;
  seed: Buffer;
  settings: TokenSettings;
}

/**
 * One token type: the small strategy that the rest of Tally (distribution, authentication, files)
 * calls without knowing which type it has. Shared behaviour (windows, replay, lockout) lives in the
 * domain services and is composed around `codeAt`.
 */
export interface TokenTypeModule {
  readonly type: TokenType;
  /** For people: "TOTP (time-based, RFC 6238)". */
  readonly label: string;
  /** What moves the code: the clock or a counter. */
  readonly movingFactor: 'time' | 'counter';
  /** Length of a generated seed. */
  readonly seedBytes: number;
  readonly defaults: TokenSettings;
  /** The algorithms a profile may choose (one: nothing to choose). */
  readonly algorithms: readonly TokenAlgorithm[];
  /** Days a token lives when its profile names none; null: no end. */
  readonly defaultLifetimeDays: number | null;
  /** The deliveries this type can have at all, whatever the device. */
  readonly deliveries: readonly Delivery[];
  /**
   * Whether the seed is derived at activation by CT-KIP (both ends compute it; it never travels)
   * rather than made at distribution and carried to the app by the delivery itself.
   */
  seedDerivedByCtkip(delivery: Delivery): boolean;
  /** Throws VALIDATION_FAILED naming the first setting this type cannot take. */
  checkSettings(settings: TokenSettings): void;
  /** A fresh serial in this type's shape. */
  newSerial(): string;
  /** Throws VALIDATION_FAILED when the serial does not fit this type. */
  checkSerial(serial: string): void;
  /** The step expected at `nowMs`: the time step (unix seconds / period), or the next unused counter. */
  stepAt(token: { period: number; counter: number }, nowMs: number): number;
  /** The code for a step: a time step (unix seconds / period) or a counter value. */
  codeAt(token: TokenMaterial, step: number): string;
  /** How a PIN and a code make the passcode the user types. */
  passcode(token: TokenMaterial, code: string, pin: string): string;
}

/** A time-based token's step at `nowMs`. */
export function timeStep(token: { period: number }, nowMs: number): number {
  return Math.floor(nowMs / 1000 / token.period);
}
