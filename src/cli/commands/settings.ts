import { systemActor } from '../../domain/actor.js';
import { parseSettingValue, SETTING_NAMES, type SettingView } from '../../domain/settings.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withServices } from '../store.js';

const json = { type: 'boolean', doc: 'Print JSON.' } as const;
const names = `The settings: ${SETTING_NAMES.join(', ')}.`;

function line(setting: SettingView): string {
  return `${setting.name}\t${String(setting.value)}\t${setting.updatedAt === null ? 'default' : `${setting.updatedBy} ${setting.updatedAt}`}\n`;
}

const getCommand = defineCommand({
  name: 'settings get',
  summary: 'Print the settings every node applies (per-user token limit, self-service switches), or one of them.',
  positionals: [{ name: 'NAME', doc: 'One setting to print (its value alone).', optional: true }],
  settings: [...storeSettings, 'masterKey'],
  options: { json },
  notes: [names],
  async run({ config, options, positionals, io }) {
    return withServices(config, async (services) => {
      const all = await services.settings.list(systemActor);
      const name = positionals[0];
      const shown = name === undefined ? all : all.filter((setting) => setting.name === name);
      if (name !== undefined && shown.length === 0) {
        io.err(`tally settings get: unknown setting "${name}". ${names}\n`);
        return EXIT.usage;
      }
      if (options.json) io.out(`${JSON.stringify({ settings: shown })}\n`);
      else if (name !== undefined) io.out(`${String(shown[0]?.value)}\n`);
      else io.out(shown.map(line).join(''));
      return EXIT.ok;
    });
  },
});

const setCommand = defineCommand({
  name: 'settings set',
  summary: 'Change one setting for every node (recorded in the audit trail with its old and new value).',
  positionals: [
    { name: 'NAME', doc: 'The setting, e.g. tokensPerUser.' },
    { name: 'VALUE', doc: 'A whole number, or true or false.' },
  ],
  settings: [...storeSettings, 'masterKey'],
  options: { json },
  notes: [names],
  async run({ config, options, positionals, io }) {
    const [name = '', value = ''] = positionals;
    return withServices(config, async (services) => {
      const all = await services.settings.change(systemActor, { [name]: parseSettingValue(name, value) });
      const changed = all.filter((setting) => setting.name === name);
      io.out(options.json ? `${JSON.stringify({ settings: changed })}\n` : changed.map(line).join(''));
      return EXIT.ok;
    });
  },
});

export const settingsCommands = [getCommand, setCommand];
