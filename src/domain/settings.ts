import { invalidField, invalidInput } from '../errors.js';
import type { SettingsRepository } from '../store/repositories/settings.js';
import type { Repositories } from '../store/unit-of-work.js';
import { type Actor, requirePermission } from './actor.js';
import type { AuditService } from './audit.js';
import type { Clock } from './clock.js';

/** The most tokens a limit may allow: past it, a limit protects nothing. */
export const TOKENS_PER_USER_MAX = 100;

/**
 * The settings an administrator changes at run time, kept in the store so that every node reads
 * the same (start-up options are `src/config.ts`'s). Each has a default that is Tally's behaviour
 * before the setting existed, except the token limit, whose default is RSA's.
 */
export const SETTINGS = {
  tokensPerUser: {
    kind: 'integer',
    min: 1,
    max: TOKENS_PER_USER_MAX,
    default: 3,
    doc: 'How many tokens a user may hold (in any state: pending, active, disabled, lost); a distribution, assignment or self-service request past it is refused with TOKEN_LIMIT_REACHED.',
  },
  selfServiceRequest: {
    kind: 'boolean',
    default: true,
    doc: 'Users may request tokens (and replacements) in the Self-Service Console.',
  },
  selfServiceReissue: {
    kind: 'boolean',
    default: true,
    doc: 'Users may ask for a new activation code or download link for a pending token in the Self-Service Console.',
  },
  selfServiceReportLost: {
    kind: 'boolean',
    default: true,
    doc: 'Users may report their own token lost in the Self-Service Console.',
  },
  selfServiceCtkipUrl: {
    kind: 'boolean',
    default: true,
    doc: 'The Activate page shows the CT-KIP URL as text (to type into an app); when off, the URL reaches the user another way (a mail from the administrator) and the page shows the QR code and the activation code only.',
  },
} as const;

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

type ValueOf<K extends SettingName> = (typeof SETTINGS)[K]['kind'] extends 'integer' ? number : boolean;
export type Settings = { [K in SettingName]: ValueOf<K> };

/** A setting as the consoles, the REST API and the CLI show it. */
export interface SettingView {
  name: SettingName;
  value: number | boolean;
  default: number | boolean;
  doc: string;
  /** When and by whom it was last changed; null while it has its default. */
  updatedAt: string | null;
  updatedBy: string | null;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.fromEntries(
  SETTING_NAMES.map((name) => [name, SETTINGS[name].default]),
) as unknown as Settings;

function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}

/** Checks one value against its setting's type and range; the field is named as the REST API names it. */
function checked(name: SettingName, value: unknown): number | boolean {
  const setting = SETTINGS[name];
  if (setting.kind === 'boolean') {
    if (typeof value !== 'boolean') throw invalidField(name, 'trueOrFalse');
    return value;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < setting.min || value > setting.max)
    throw invalidField(name, 'wholeNumberRange', { min: setting.min, max: setting.max });
  return value;
}

/**
 * Reads a stored value: a row a newer or older Tally wrote that this one cannot read counts as the
 * default, so one bad row never stops a page or an assignment.
 */
function stored(name: SettingName, text: string): number | boolean {
  try {
    return checked(name, JSON.parse(text));
  } catch {
    return SETTINGS[name].default;
  }
}

/** Parses a value typed on a command line or in a form: `true`/`false`, or a whole number. */
export function parseSettingValue(name: string, text: string): unknown {
  if (!isSettingName(name)) return text;
  const trimmed = text.trim();
  if (SETTINGS[name].kind === 'boolean') return trimmed === 'true' ? true : trimmed === 'false' ? false : trimmed;
  return /^-?\d{1,9}$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/**
 * The store-backed settings: read fresh on each use (another node may have changed them), changed
 * by a super admin, each change audited with the old and the new value.
 */
export class SettingsService {
  constructor(
    private readonly repository: SettingsRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /** The values in force, for the services that apply them; `within` reads in a change's transaction. */
  async current(within?: Pick<Repositories, 'settings'>): Promise<Settings> {
    const values: Record<string, number | boolean> = { ...DEFAULT_SETTINGS };
    for (const row of await (within?.settings ?? this.repository).all())
      if (isSettingName(row.key)) values[row.key] = stored(row.key, row.value);
    return values as Settings;
  }

  /** Every setting with its value, default and last change, for an administrator. */
  async list(actor: Actor): Promise<SettingView[]> {
    requirePermission(actor, 'settings.read');
    return this.views(await this.repository.all());
  }

  /**
   * Changes some settings at once (all or none), checking each. The one `settings.change` event
   * names the settings given and, for each whose value changed, its old and new value
   * (`tokensPerUser: "3 -> 5"`).
   */
  async change(actor: Actor, changes: Record<string, unknown>): Promise<SettingView[]> {
    const names = Object.keys(changes);
    const { views } = await this.audit.change(
      actor,
      { action: 'settings.change', targetType: 'settings', target: names.join(',').slice(0, 256) },
      async (tx) => {
        requirePermission(actor, 'settings.change');
        if (names.length === 0) throw invalidInput('schemaRefused', { reason: 'name at least one setting to change' });
        const wanted = new Map<SettingName, number | boolean>();
        for (const name of names) {
          if (!isSettingName(name)) throw invalidField(name, 'settingUnknown', { name, choices: SETTING_NAMES.join(', ') });
          wanted.set(name, checked(name, changes[name]));
        }
        const before = await this.current(tx);
        const now = this.clock.now();
        const changed: Record<string, string> = {};
        for (const [name, value] of wanted) {
          if (before[name] === value) continue;
          await tx.settings.put({ key: name, value: JSON.stringify(value), updated_at: now, updated_by: actor.name });
          changed[name] = `${before[name]} -> ${value}`;
        }
        return { views: this.views(await tx.settings.all()), changed };
      },
      (result) => result.changed,
    );
    return views;
  }

  private views(rows: Awaited<ReturnType<SettingsRepository['all']>>): SettingView[] {
    const byKey = new Map(rows.map((row) => [row.key, row]));
    return SETTING_NAMES.map((name) => {
      const row = byKey.get(name);
      return {
        name,
        value: row ? stored(name, row.value) : SETTINGS[name].default,
        default: SETTINGS[name].default,
        doc: SETTINGS[name].doc,
        updatedAt: row ? new Date(row.updated_at).toISOString() : null,
        updatedBy: row?.updated_by ?? null,
      };
    });
  }
}
