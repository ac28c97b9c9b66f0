import { type Keyring, seal } from '../core/crypto/secret-box.js';
import { invalidField, TallyError } from '../errors.js';
import type { FilePasswordPolicy, PinCharset, ProfilePinMode } from '../model/vocabulary.js';
import { DELIVERIES, type Delivery } from '../model/vocabulary.js';
import { isUniqueViolation } from '../store/connect.js';
import type { DeviceTypeRepository } from '../store/repositories/device-types.js';
import type { IdentitySourceRepository } from '../store/repositories/identity-sources.js';
import type { ProfileRepository, ProfileRow } from '../store/repositories/profiles.js';
import type { Repositories } from '../store/unit-of-work.js';
import { tokenType } from '../tokens/registry.js';
import type { TokenAlgorithm, TokenType } from '../tokens/types.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';
import {
  appVersionProblem,
  BUILT_IN_DEVICES,
  checkDelivery,
  type DeliveryChoice,
  type DeviceDefinition,
  deliveriesFor,
  deliveryChoices,
} from './devices.js';
import type { DirectoryGroup, DirectoryService } from './directory.js';

export type { ProfileRow };

export interface NewProfile {
  name: string;
  description?: string;
  tokenType: TokenType;
  deviceType: string;
  appVersion?: string;
  delivery: Delivery;
  digits?: number;
  period?: number;
  algorithm?: TokenAlgorithm;
  pinMode?: ProfilePinMode;
  /** The PIN policy (for pinMode required or pinpad): length, what it is made of, whether an earlier PIN may be chosen again. */
  pinMinLength?: number;
  pinMaxLength?: number;
  pinCharset?: PinCharset;
  pinReuse?: boolean;
  /** Whether Tally generates a new PIN to the policy and shows it (RSA's system-generated PIN) rather than the holder choosing one. */
  pinGenerated?: boolean;
  tokenLifetimeDays?: number;
  activationLifetimeDays?: number;
  filePasswordPolicy?: FilePasswordPolicy;
  filePassword?: string;
  selfService?: boolean;
  requiresApproval?: boolean;
  ctkipUrl?: string;
  /** Whether the holder's mail names the CT-KIP URL (never the activation code). */
  mailCtkipUrl?: boolean;
  /** Directory groups whose members (nested groups included) may request it in self-service; none: everyone may. */
  directoryGroups?: DirectoryGroup[];
}

export interface ProfileView {
  name: string;
  description: string | null;
  tokenType: TokenType;
  deviceType: string;
  appVersion: string | null;
  delivery: Delivery;
  digits: number;
  period: number | null;
  algorithm: TokenAlgorithm;
  pinMode: ProfilePinMode;
  pinMinLength: number;
  pinMaxLength: number;
  pinCharset: PinCharset;
  pinReuse: boolean;
  pinGenerated: boolean;
  tokenLifetimeDays: number | null;
  activationLifetimeDays: number;
  filePasswordPolicy: FilePasswordPolicy;
  selfService: boolean;
  requiresApproval: boolean;
  ctkipUrl: string | null;
  mailCtkipUrl: boolean;
  /** Directory groups whose members may request it in self-service; empty: everyone may. */
  directoryGroups: DirectoryGroup[];
  /** What this profile's device could take instead, for consoles. */
  possibleDeliveries: Delivery[];
  /** Settings the chosen app is known to ignore (Google Authenticator: algorithm and period). */
  warnings: string[];
}

/** A change to a profile: a field left out keeps its value, null returns it to its default. */
export type ProfileChanges = { [K in Exclude<keyof NewProfile, 'name'>]?: NewProfile[K] | null };

export interface ProfileEditor {
  devices: DeviceDefinition[];
  device: DeviceDefinition | undefined;
  tokenType: TokenType | undefined;
  appVersionProblem: TallyError | undefined;
  choices: DeliveryChoice[];
}

/** A stored profile as the input that would make it (the file password stays sealed). */
function profileInput(row: ProfileRow): NewProfile {
  const input: NewProfile = {
    name: row.name,
    tokenType: row.token_type,
    deviceType: row.device_type,
    delivery: row.delivery,
    digits: row.digits,
    algorithm: row.algorithm,
    pinMode: row.pin_mode,
    pinMinLength: row.pin_min_length,
    pinMaxLength: row.pin_max_length,
    pinCharset: row.pin_charset,
    pinReuse: row.pin_reuse === 1,
    pinGenerated: row.pin_generated === 1,
    activationLifetimeDays: row.activation_lifetime_days,
    filePasswordPolicy: row.file_password_policy,
    selfService: row.self_service === 1,
    requiresApproval: row.requires_approval === 1,
    mailCtkipUrl: row.mail_ctkip_url === 1,
  };
  if (row.description !== null) input.description = row.description;
  if (row.app_version !== null) input.appVersion = row.app_version;
  if (row.period !== 0) input.period = row.period;
  if (row.token_lifetime_days !== null) input.tokenLifetimeDays = row.token_lifetime_days;
  if (row.ctkip_url !== null) input.ctkipUrl = row.ctkip_url;
  const groups = profileGroups(row);
  if (groups.length > 0) input.directoryGroups = groups;
  return input;
}

/** The directory groups a profile is for; none when it is open to everyone. */
export function profileGroups(row: Pick<ProfileRow, 'directory_groups'>): DirectoryGroup[] {
  return JSON.parse(row.directory_groups) as DirectoryGroup[];
}

/** A profile lists at most this many directory groups. */
const PROFILE_GROUPS_MAX = 50;

const DEFAULT_ACTIVATION_LIFETIME_DAYS = 14;

export function profileFilePasswordContext(id: number): string {
  return `profile:${id}:file-password`;
}

/** The capability table (built-in devices plus admins' additions) and the token profiles. */
export class ProfileService {
  private readonly profiles: ProfileRepository;
  private readonly deviceDefinitions: DeviceTypeRepository;

  constructor(
    store: Pick<Repositories, 'profiles' | 'deviceTypes'>,
    private readonly keyring: Keyring,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly directory?: Pick<DirectoryService, 'checkGroup'>,
  ) {
    this.profiles = store.profiles;
    this.deviceDefinitions = store.deviceTypes;
  }

  /** The capability table as an administrator reads it. */
  async deviceTypes(actor: Actor): Promise<DeviceDefinition[]> {
    requirePermission(actor, 'profiles.read');
    return this.devices();
  }

  async devices(deviceTypes: DeviceTypeRepository = this.deviceDefinitions): Promise<DeviceDefinition[]> {
    const rows = await deviceTypes.all();
    const added = rows.map((row) => ({ ...(JSON.parse(row.definition) as DeviceDefinition), builtIn: false }));
    const overridden = new Set(added.map((d) => d.deviceType));
    return [...BUILT_IN_DEVICES.filter((d) => !overridden.has(d.deviceType)), ...added];
  }

  async device(deviceType: string, deviceTypes: DeviceTypeRepository = this.deviceDefinitions): Promise<DeviceDefinition> {
    const devices = await this.devices(deviceTypes);
    const found = devices.find((d) => d.deviceType === deviceType);
    if (!found) {
      const known = devices.map((d) => d.deviceType).join(', ');
      throw new TallyError('DEVICE_TYPE_NOT_FOUND', `No device type "${deviceType}"; known: ${known}.`);
    }
    return found;
  }

  /** Adds or replaces a device definition: the capability table grows without a code change. */
  async putDevice(actor: Actor, definition: Omit<DeviceDefinition, 'builtIn'>): Promise<DeviceDefinition> {
    return this.audit.change(actor, { action: 'device.put', targetType: 'device', target: definition.deviceType }, async (tx) => {
      requirePermission(actor, 'profiles.manage');
      if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(definition.deviceType)) {
        throw invalidField('deviceType', 'deviceTypeShape');
      }
      for (const type of definition.tokenTypes) tokenType(type);
      for (const [version, deliveries] of Object.entries(definition.versions)) {
        if (version !== '*' && !/^\d{1,4}$/.test(version)) throw invalidField('versions', 'deviceVersionKey', { key: version });
        for (const delivery of deliveries) {
          if (!DELIVERIES.includes(delivery))
            throw invalidField('versions', 'deviceUnknownDelivery', { delivery, choices: DELIVERIES.join(', ') });
        }
      }
      for (const delivery of Object.keys(definition.notes ?? {})) {
        if (!DELIVERIES.includes(delivery as Delivery))
          throw invalidField('notes', 'deviceNotesKey', { choices: DELIVERIES.join(', '), key: delivery });
      }
      const stored = { ...definition, builtIn: false };
      const now = this.clock.now();
      await tx.deviceTypes.put(definition.deviceType, JSON.stringify(stored), now);
      return stored;
    });
  }

  async create(actor: Actor, input: NewProfile): Promise<ProfileView> {
    return this.audit.change(
      actor,
      {
        action: 'profile.create',
        targetType: 'profile',
        target: input.name.slice(0, 128),
        details: { tokenType: input.tokenType, deviceType: input.deviceType, delivery: input.delivery },
      },
      async (tx) => {
        requirePermission(actor, 'profiles.manage');
        if (!/^[\w .()@+-]{1,128}$/.test(input.name)) {
          throw invalidField('name', 'profileNameShape');
        }
        const { device, columns } = await this.checked(input, false, tx.deviceTypes);
        const directoryGroups = await this.checkedGroups(input.directoryGroups, tx.identitySources);
        const now = this.clock.now();
        try {
          const row = await tx.profiles.insert(input.name, { ...columns, directory_groups: directoryGroups }, now, (id) =>
            input.filePassword === undefined
              ? undefined
              : seal(this.keyring, Buffer.from(input.filePassword), profileFilePasswordContext(id)),
          );
          return this.view(row, device);
        } catch (error) {
          if (isUniqueViolation(error)) throw new TallyError('PROFILE_EXISTS', `A profile named ${input.name} exists already.`);
          throw error;
        }
      },
    );
  }

  /**
   * Changes a profile; its name stays. Tokens keep the settings they were made with: a change
   * applies to tokens distributed (or reissued) from now on. Settings left out keep their value,
   * except when the token type changes: then they start from the new type's defaults.
   */
  async update(actor: Actor, name: string, changes: ProfileChanges): Promise<ProfileView> {
    return this.audit.change(
      actor,
      {
        action: 'profile.update',
        targetType: 'profile',
        target: name.slice(0, 128),
        details: {
          fields: Object.entries(changes)
            .filter(([, value]) => value !== undefined)
            .map(([key]) => key)
            .join(','),
        },
      },
      async (tx) => {
        requirePermission(actor, 'profiles.manage');
        const row = await this.row(name, tx.profiles);
        const current = profileInput(row);
        if (changes.tokenType !== undefined && changes.tokenType !== row.token_type) {
          delete current.digits;
          delete current.period;
          delete current.algorithm;
          delete current.tokenLifetimeDays;
        }
        const merged: NewProfile = { ...current };
        for (const [key, value] of Object.entries(changes) as [keyof ProfileChanges, unknown][]) {
          if (value === null) delete merged[key];
          else if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
        }
        const keepsPassword =
          merged.filePasswordPolicy === 'admin' && merged.filePassword === undefined && row.file_password_sealed !== null;
        const { device, columns } = await this.checked(merged, keepsPassword, tx.deviceTypes);
        const sealed =
          merged.filePassword !== undefined
            ? seal(this.keyring, Buffer.from(merged.filePassword), profileFilePasswordContext(row.id))
            : keepsPassword
              ? row.file_password_sealed
              : null;
        // Groups left out are kept as they are, even one whose source has since been removed (it lets nobody in).
        const directoryGroups =
          changes.directoryGroups === undefined
            ? row.directory_groups
            : await this.checkedGroups(merged.directoryGroups, tx.identitySources);
        const updated = await tx.profiles.update(row.id, {
          ...columns,
          directory_groups: directoryGroups,
          file_password_sealed: sealed,
          updated_at: this.clock.now(),
        });
        return this.view(updated, device);
      },
    );
  }

  /**
   * What the profile editor offers, for super admins only: the devices of the capability table,
   * and for a chosen device, token type and app version, every delivery with whether it is
   * possible and, if not, why.
   */
  async editor(actor: Actor, selection: { deviceType?: string; tokenType?: TokenType; appVersion?: string } = {}): Promise<ProfileEditor> {
    requirePermission(actor, 'profiles.manage');
    const devices = await this.devices();
    const device = devices.find((d) => d.deviceType === selection.deviceType);
    const problem = appVersionProblem(selection.appVersion);
    const tokenType =
      device && selection.tokenType && device.tokenTypes.includes(selection.tokenType) ? selection.tokenType : device?.tokenTypes[0];
    return {
      devices,
      device,
      tokenType,
      appVersionProblem: problem,
      choices: device && tokenType && !problem ? deliveryChoices(device, tokenType, selection.appVersion) : [],
    };
  }

  /** A profile's groups checked (each a known source and a well-formed DN, none twice), as their column keeps them. */
  private async checkedGroups(groups: DirectoryGroup[] | undefined, sources: IdentitySourceRepository): Promise<string> {
    if (groups === undefined || groups.length === 0) return '[]';
    if (!Array.isArray(groups) || groups.length > PROFILE_GROUPS_MAX)
      throw invalidField('directoryGroups', 'directoryGroupsLength', { max: PROFILE_GROUPS_MAX });
    const checked: DirectoryGroup[] = [];
    for (const [index, group] of groups.entries()) {
      if (!this.directory) throw invalidField('directoryGroups', 'oneOf', { choices: '(no identity source)' });
      const one = await this.directory.checkGroup(group, `directoryGroups[${index}]`, sources);
      if (!checked.some((other) => other.source === one.source && other.dn.toLowerCase() === one.dn.toLowerCase())) checked.push(one);
    }
    return JSON.stringify(checked);
  }

  /** Checks a whole profile and returns its columns (all but name, file password and times). */
  private async checked(input: NewProfile, keepsPassword: boolean, deviceTypes: DeviceTypeRepository) {
    const type = tokenType(input.tokenType);
    const device = await this.device(input.deviceType, deviceTypes);
    checkDelivery(device, input.tokenType, input.delivery, input.appVersion);
    const settings = {
      digits: input.digits ?? type.defaults.digits,
      period: type.movingFactor === 'counter' ? 0 : (input.period ?? type.defaults.period),
      algorithm: input.algorithm ?? type.defaults.algorithm,
      addPin: false,
    };
    if (type.movingFactor === 'counter' && input.period !== undefined) {
      throw invalidField('period', 'noPeriodForCounter');
    }
    type.checkSettings(settings);
    const policy = input.filePasswordPolicy ?? 'none';
    if (policy !== 'none' && input.delivery !== 'file') {
      throw invalidField('filePasswordPolicy', 'appliesOnlyTo', { what: 'file delivery' });
    }
    if ((policy === 'admin') !== (input.filePassword !== undefined || keepsPassword)) {
      throw invalidField('filePassword', 'filePasswordWhenAdmin');
    }
    if (input.filePassword !== undefined && (input.filePassword.length < 8 || input.filePassword.length > 40)) {
      throw invalidField('filePassword', 'lengthRange', { min: 8, max: 40 });
    }
    checkDays('tokenLifetimeDays', input.tokenLifetimeDays, 1, 3650 * 3);
    checkDays('activationLifetimeDays', input.activationLifetimeDays, 1, 365);
    if (input.ctkipUrl !== undefined) {
      if (!type.seedDerivedByCtkip(input.delivery)) {
        throw invalidField('ctkipUrl', 'appliesOnlyTo', { what: 'CT-KIP provisioning (ctkip, or qr for SecurID)' });
      }
      checkServiceUrl(input.ctkipUrl);
    }
    if (input.mailCtkipUrl && input.delivery !== 'ctkip') throw invalidField('mailCtkipUrl', 'appliesOnlyTo', { what: 'ctkip delivery' });
    const pin = checkedPinPolicy(input, settings.digits);
    return {
      device,
      columns: {
        description: input.description ?? null,
        token_type: input.tokenType,
        device_type: input.deviceType,
        app_version: input.appVersion ?? null,
        delivery: input.delivery,
        digits: settings.digits,
        period: settings.period,
        algorithm: settings.algorithm,
        pin_mode: input.pinMode ?? 'none',
        pin_min_length: pin.minLength,
        pin_max_length: pin.maxLength,
        pin_charset: pin.charset,
        pin_reuse: pin.reuse ? 1 : 0,
        pin_generated: pin.generated ? 1 : 0,
        token_lifetime_days: input.tokenLifetimeDays ?? type.defaultLifetimeDays,
        activation_lifetime_days: input.activationLifetimeDays ?? DEFAULT_ACTIVATION_LIFETIME_DAYS,
        file_password_policy: policy,
        self_service: input.selfService ? 1 : 0,
        requires_approval: input.requiresApproval ? 1 : 0,
        ctkip_url: input.ctkipUrl ?? null,
        mail_ctkip_url: input.mailCtkipUrl ? 1 : 0,
      },
    };
  }

  async row(name: string, profiles: ProfileRepository = this.profiles): Promise<ProfileRow> {
    const row = await profiles.findByName(name);
    if (!row) throw new TallyError('PROFILE_NOT_FOUND', `No token profile named ${name}.`);
    return row;
  }

  async get(actor: Actor, name: string): Promise<ProfileView> {
    requirePermission(actor, 'profiles.read');
    const row = await this.row(name);
    return this.view(row, await this.device(row.device_type));
  }

  async list(actor: Actor, filter: { selfService?: boolean } = {}): Promise<ProfileView[]> {
    requirePermission(actor, 'profiles.read');
    const rows = await this.profiles.list(filter);
    const devices = await this.devices();
    return rows.map((row) =>
      this.view(
        row,
        devices.find((d) => d.deviceType === row.device_type),
      ),
    );
  }

  view(row: ProfileRow, device: DeviceDefinition | undefined): ProfileView {
    const warnings: string[] = [];
    if (row.device_type === 'authenticator' && (row.algorithm !== 'SHA1' || row.period !== 30 || row.digits !== 6)) {
      warnings.push(
        'Google Authenticator ignores algorithm and period (and, on Android, digits): users of that app will get wrong codes. Prefer SHA1, 6 digits, 30 s for generic apps.',
      );
    }
    return {
      name: row.name,
      description: row.description,
      tokenType: row.token_type,
      deviceType: row.device_type,
      appVersion: row.app_version,
      delivery: row.delivery,
      digits: row.digits,
      period: row.period === 0 ? null : row.period,
      algorithm: row.algorithm,
      pinMode: row.pin_mode,
      pinMinLength: row.pin_min_length,
      pinMaxLength: row.pin_max_length,
      pinCharset: row.pin_charset,
      pinReuse: row.pin_reuse === 1,
      pinGenerated: row.pin_generated === 1,
      tokenLifetimeDays: row.token_lifetime_days,
      activationLifetimeDays: row.activation_lifetime_days,
      filePasswordPolicy: row.file_password_policy,
      selfService: row.self_service === 1,
      requiresApproval: row.requires_approval === 1,
      ctkipUrl: row.ctkip_url,
      mailCtkipUrl: row.mail_ctkip_url === 1,
      directoryGroups: profileGroups(row),
      possibleDeliveries: device ? deliveriesFor(device, row.token_type, row.app_version ?? undefined) : [],
      warnings,
    };
  }
}

/** RSA's limits for a PIN's length. */
export const PIN_LENGTH_LIMITS = { min: 4, max: 8 } as const;

/**
 * A profile's PIN policy, checked: the length within RSA's 4 to 8, digits or letters and digits.
 * PINPad is for SecurID tokens only (the app adds the PIN into the tokencode digit by digit), so
 * its PIN is digits, and no longer than the tokencode, whose length the app keeps.
 */
export function checkedPinPolicy(
  input: Pick<NewProfile, 'tokenType' | 'pinMode' | 'pinMinLength' | 'pinMaxLength' | 'pinCharset' | 'pinReuse' | 'pinGenerated'>,
  digits: number,
) {
  const pinpad = input.pinMode === 'pinpad';
  if (pinpad && input.tokenType !== 'securid') throw invalidField('pinMode', 'pinpadSecurIdOnly');
  if (pinpad && input.pinCharset === 'alphanumeric') throw invalidField('pinCharset', 'pinpadDigitsOnly');
  const { min, max } = PIN_LENGTH_LIMITS;
  const minLength = input.pinMinLength ?? min;
  const maxLength = input.pinMaxLength ?? (pinpad ? Math.min(max, digits) : max);
  for (const [field, value] of [
    ['pinMinLength', minLength],
    ['pinMaxLength', maxLength],
  ] as const) {
    if (!Number.isInteger(value) || value < min || value > max) throw invalidField(field, 'wholeNumberRange', { min, max });
  }
  if (minLength > maxLength) throw invalidField('pinMaxLength', 'atLeastField', { other: 'pinMinLength' });
  if (pinpad && maxLength > digits) throw invalidField('pinMaxLength', 'pinpadLongerThanCode', { digits });
  return {
    minLength,
    maxLength,
    charset: pinpad ? ('digits' as const) : (input.pinCharset ?? 'digits'),
    reuse: input.pinReuse ?? false,
    generated: input.pinGenerated ?? false,
  };
}

function checkDays(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
    throw invalidField(name, 'wholeDaysRange', { min, max });
  }
}

function checkServiceUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidField('ctkipUrl', 'absoluteHttpUrl');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalidField('ctkipUrl', 'absoluteHttpUrl');
}
