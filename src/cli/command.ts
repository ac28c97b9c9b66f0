import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { type Config, fileEnvName, flagName, resolveConfig, type Setting, type SettingName, settings } from '../config.js';
import { TallyError } from '../errors.js';

/** Exit codes scripts can trust. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  doc: string;
  required?: boolean;
  /** Allowed values, checked with a message that lists them. */
  choices?: readonly string[];
  multiple?: boolean;
}

export interface Io {
  out: (text: string) => void;
  /** Standard output as a stream, for output too large to hand over at once (it waits for a slow reader). */
  stdout?: Writable;
  err: (text: string) => void;
  readStdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
}

export interface CommandContext<N extends SettingName> {
  config: Config<N>;
  options: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  io: Io;
}

export interface Command<N extends SettingName = SettingName> {
  /** e.g. `init` or `apitoken create`. */
  name: string;
  summary: string;
  /** Positional arguments, in order, e.g. `FILE`. */
  positionals?: { name: string; doc: string; optional?: boolean }[];
  settings: readonly N[];
  options?: Record<string, OptionSpec>;
  /** Extra paragraphs for --help. */
  notes?: string[];
  run(context: CommandContext<N>): Promise<number>;
}

export function defineCommand<N extends SettingName>(command: Command<N>): Command<N> {
  return command;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function helpText(command: Command): string {
  const positionals = (command.positionals ?? []).map((p) => (p.optional ? `[${p.name}]` : p.name)).join(' ');
  const lines = [`Usage: tally ${command.name}${positionals ? ` ${positionals}` : ''} [options]`, '', command.summary, ''];
  if (command.positionals?.length) {
    lines.push('Arguments:');
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(28)} ${p.doc}`);
    lines.push('');
  }
  lines.push('Options:');
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const label = `--${kebab(name)}${spec.type === 'string' ? ' VALUE' : ''}`;
    const extra = spec.choices ? ` (${spec.choices.join('|')})` : '';
    lines.push(`  ${label.padEnd(28)} ${spec.doc}${extra}${spec.required ? ' [required]' : ''}`);
  }
  for (const name of command.settings) {
    const setting = settings[name];
    if (name === 'masterKey') continue;
    const label = `${flagName(name)}${setting.kind === 'boolean' ? '' : ' VALUE'}`;
    const fallback = setting.default === undefined || setting.default === false ? '' : ` (default ${String(setting.default)})`;
    lines.push(`  ${label.padEnd(28)} ${setting.doc}${fallback}`);
  }
  lines.push(`  ${'--help'.padEnd(28)} Show this help.`);
  if (command.settings.length) {
    lines.push('', 'Every setting can also come from the environment as TALLY_ + its name in upper snake case (e.g. TALLY_DATA_DIR).');
    const secrets = command.settings.filter((name) => (settings[name] as Setting<unknown>).secret);
    if (secrets.length > 0)
      lines.push(`A secret setting can come from a file instead: ${secrets.map(fileEnvName).join(', ')} name the file to read.`);
  }
  if (command.notes) lines.push('', ...command.notes);
  return `${lines.join('\n')}\n`;
}

/** Parses argv for one command; a bad flag is a UsageError that names it and what is allowed. */
export function parseCommandLine<N extends SettingName>(
  command: Command<N>,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Omit<CommandContext<N>, 'io'> {
  const optionSpecs: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const [name, spec] of Object.entries(command.options ?? {}))
    optionSpecs[kebab(name)] = { type: spec.type, multiple: spec.multiple ?? false };
  for (const name of command.settings) {
    if (name === 'masterKey') continue;
    optionSpecs[kebab(name)] = { type: settings[name].kind === 'boolean' ? 'boolean' : 'string' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: optionSpecs, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/^Unknown option '(.*?)'.*$/s, 'unknown flag $1');
    throw new UsageError(`${message.split('\n')[0]}.`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const maxPositionals = command.positionals?.length ?? 0;
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}".`);
  }
  if (!values.help) {
    const missing = (command.positionals ?? []).slice(parsed.positionals.length).filter((p) => !p.optional);
    if (missing.length) throw new UsageError(`missing ${missing.map((p) => p.name).join(' and ')}.`);
  }
  const options: Record<string, string | boolean | string[] | undefined> = {};
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    const value = values[kebab(name)];
    if (value === undefined && spec.required && !values.help)
      throw new UsageError(`--${kebab(name)} is required (${spec.doc.replace(/\.$/, '')}).`);
    if (typeof value === 'string' && spec.choices && !spec.choices.includes(value)) {
      throw new UsageError(`--${kebab(name)} must be one of ${spec.choices.join(', ')} (got "${value}").`);
    }
    options[name] = value;
  }
  const flags: Record<string, string | boolean | undefined> = {};
  for (const name of command.settings) {
    const value = values[kebab(name)];
    if (typeof value === 'string' || typeof value === 'boolean') flags[camel(kebab(name))] = value;
  }
  options.help = values.help;
  let config: Config<N>;
  try {
    config = values.help ? ({} as Config<N>) : resolveConfig(command.settings, flags, env);
  } catch (error) {
    if (error instanceof TallyError) throw new UsageError(error.message);
    throw error;
  }
  return { config, options, positionals: parsed.positionals };
}
