import { invalidField, TallyError } from '../errors.js';
import { DELIVERIES, type Delivery } from '../model/vocabulary.js';
import { tokenType as tokenTypeModule } from '../tokens/registry.js';
import type { TokenType } from '../tokens/types.js';

/** Short names, for messages and pages. */
export const DELIVERY_NAMES: Record<Delivery, string> = { qr: 'QR code', ctkip: 'CT-KIP', file: 'token file', ctf: 'CTF' };
const TYPE_NAMES: Record<TokenType, string> = { totp: 'TOTP', hotp: 'HOTP', securid: 'SecurID' };

/** What each delivery is, for messages and pages. */
export const DELIVERY_LABELS: Record<Delivery, string> = {
  qr: 'a QR code the user scans in the Self-Service Console',
  ctkip: 'a CT-KIP URL and a one-time activation code (the seed is derived on both ends)',
  file: 'a token file (sdtid or PSKC) behind a one-time download link',
  ctf: 'a compressed token format (CTF) string or link',
};

/**
 * A device type and what its app versions can take. `versions` maps an app major version (or `*`
 * for any) to the deliveries it accepts; the most specific entry wins.
 */
export interface DeviceDefinition {
  deviceType: string;
  label: string;
  tokenTypes: TokenType[];
  versions: Record<string, Delivery[]>;
  /** Why a delivery is missing, for the refusal message (e.g. "a desktop cannot scan a QR code"). */
  notes?: Partial<Record<Delivery, string>>;
  builtIn: boolean;
}

/**
 * The default capability table, after RSA's documentation and the admins' reports in
 * spec/ctkip.md: SecurID 1.x apps and Windows cannot scan QR codes, 2.x on Android and iOS can;
 * standard authenticator apps scan otpauth links (and take no token files); the CLI takes CT-KIP,
 * files and strings.
 */
export const BUILT_IN_DEVICES: DeviceDefinition[] = [
  {
    deviceType: 'authenticator',
    label: 'Standard authenticator app (Google Authenticator, FreeOTP, Aegis, ...)',
    tokenTypes: ['totp', 'hotp'],
    versions: { '*': ['qr'] },
    notes: {
      ctkip: 'standard authenticator apps do not speak CT-KIP',
      ctf: 'CTF strings are for SecurID apps',
      file: 'standard authenticator apps (Google and Microsoft Authenticator among them) import neither PSKC nor sdtid files',
    },
    builtIn: true,
  },
  {
    deviceType: 'android',
    label: 'RSA SecurID Software Token for Android',
    tokenTypes: ['securid'],
    versions: { '1': ['ctkip', 'ctf'], '*': ['ctkip', 'ctf', 'qr'] },
    notes: {
      qr: 'the SecurID app 1.x for Android cannot scan QR codes (2.x and later can)',
      file: 'the Android app takes CT-KIP or CTF, not token files',
    },
    builtIn: true,
  },
  {
    deviceType: 'ios',
    label: 'RSA SecurID Software Token for iOS',
    tokenTypes: ['securid'],
    versions: { '1': ['ctkip', 'ctf'], '*': ['ctkip', 'ctf', 'qr'] },
    notes: {
      qr: 'the SecurID app 1.x for iOS cannot scan QR codes (2.x and later can)',
      file: 'the iOS app takes CT-KIP or CTF, not token files',
    },
    builtIn: true,
  },
  {
    deviceType: 'windows',
    label: 'RSA SecurID Software Token for Windows',
    tokenTypes: ['securid'],
    versions: { '*': ['ctkip', 'file', 'ctf'] },
    notes: { qr: 'the Windows app has no QR option, since a desktop cannot scan a QR code' },
    builtIn: true,
  },
  {
    deviceType: 'macos',
    label: 'RSA SecurID Software Token for macOS',
    tokenTypes: ['securid'],
    versions: { '*': ['ctkip', 'file', 'ctf'] },
    notes: { qr: 'a desktop cannot scan a QR code' },
    builtIn: true,
  },
  {
    deviceType: 'tally-cli',
    label: 'Tally command-line token (tally token)',
    tokenTypes: ['securid', 'totp', 'hotp'],
    versions: { '*': ['ctkip', 'file', 'ctf'] },
    notes: { qr: 'a command line cannot scan a QR code' },
    builtIn: true,
  },
];

function majorVersion(appVersion: string | undefined): string | undefined {
  const match = appVersion ? /^(\d+)/.exec(appVersion.trim()) : null;
  return match ? match[1] : undefined;
}

/**
 * The deliveries a device takes for a token type and app version. No version means every version
 * (a profile for all of them), so only what every listed version takes: a SecurID profile for
 * Android with no version cannot be QR, since the 1.x app cannot scan.
 */
export function deliveriesFor(device: DeviceDefinition, tokenType: TokenType, appVersion?: string): Delivery[] {
  if (!device.tokenTypes.includes(tokenType)) return [];
  const major = majorVersion(appVersion);
  const lists = major !== undefined ? [device.versions[major] ?? device.versions['*'] ?? []] : Object.values(device.versions);
  const everyVersion = lists.length === 0 ? [] : lists.reduce((common, list) => common.filter((delivery) => list.includes(delivery)));
  return everyVersion.filter((delivery) => tokenTypeModule(tokenType).deliveries.includes(delivery));
}

/**
 * Throws VALIDATION_FAILED with why the device cannot take the delivery and what would work.
 */
export function checkDelivery(device: DeviceDefinition, tokenType: TokenType, delivery: Delivery, appVersion?: string): void {
  if (!device.tokenTypes.includes(tokenType)) {
    throw invalidField('tokenType', 'deviceTokenType', { device: device.label, tokenType, choices: device.tokenTypes.join(', ') });
  }
  const versionProblem = appVersionProblem(appVersion);
  if (versionProblem) throw versionProblem;
  const possible = deliveriesFor(device, tokenType, appVersion);
  if (possible.includes(delivery)) return;
  const alternatives = possible.length ? `; it can take ${possible.join(', ')}` : '';
  throw new TallyError(
    'DELIVERY_NOT_SUPPORTED',
    `Delivery "${delivery}" is not possible: ${whyNot(device, tokenType, delivery, appVersion)}${alternatives}.`,
    { possible },
  );
}

function whyNot(device: DeviceDefinition, tokenType: TokenType, delivery: Delivery, appVersion?: string): string {
  return (
    device.notes?.[delivery] ??
    (tokenTypeModule(tokenType).deliveries.includes(delivery)
      ? `the ${device.label}${appVersion ? ` ${appVersion}` : ''} cannot take it`
      : `${TYPE_NAMES[tokenType]} tokens have no ${DELIVERY_NAMES[delivery]} delivery`)
  );
}

/** A delivery as a profile editor offers it: possible, or not and why. */
export interface DeliveryChoice {
  delivery: Delivery;
  possible: boolean;
  reason?: string;
}

/** Every delivery for a device, token type and app version, with the reason for each one that is not possible. */
export function deliveryChoices(device: DeviceDefinition, tokenType: TokenType, appVersion?: string): DeliveryChoice[] {
  const possible = deliveriesFor(device, tokenType, appVersion);
  return DELIVERIES.map((delivery) =>
    possible.includes(delivery)
      ? { delivery, possible: true }
      : { delivery, possible: false, reason: whyNot(device, tokenType, delivery, appVersion) },
  );
}

export function appVersionProblem(appVersion: string | undefined): TallyError | undefined {
  return appVersion !== undefined && majorVersion(appVersion) === undefined
    ? invalidField('appVersion', 'appVersionShape', { version: appVersion })
    : undefined;
}
