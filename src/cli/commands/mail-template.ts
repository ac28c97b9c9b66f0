import { systemActor } from '../../domain/actor.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withServices } from '../store.js';

const kind = { name: 'KIND', doc: 'The kind of mail, as `tally mail-template list` names it (e.g. token-issued).' };
const json = { type: 'boolean', doc: 'Print JSON.' } as const;

const listCommand = defineCommand({
  name: 'mail-template list',
  summary: "List the templates of the mails to token holders: kind, whether edited or Tally's text, and title.",
  settings: [...storeSettings, 'masterKey'],
  options: { json },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const templates = await services.mailTemplates.list(systemActor);
      io.out(
        options.json
          ? `${JSON.stringify({ mailTemplates: templates })}\n`
          : templates.map((t) => `${t.kind}\t${t.edited ? 'edited' : 'default'}\t${t.title}\n`).join(''),
      );
      return EXIT.ok;
    });
  },
});

const showCommand = defineCommand({
  name: 'mail-template show',
  summary: 'Print a template in use: its subject (a steps-* template has none), a blank line, its text.',
  positionals: [kind],
  settings: [...storeSettings, 'masterKey'],
  options: { json },
  async run({ config, options, positionals, io }) {
    return withServices(config, async (services) => {
      const template = await services.mailTemplates.get(systemActor, positionals[0] ?? '');
      io.out(
        options.json ? `${JSON.stringify(template)}\n` : `${template.subject === null ? '' : `${template.subject}\n\n`}${template.text}`,
      );
      return EXIT.ok;
    });
  },
});

const setCommand = defineCommand({
  name: 'mail-template set',
  summary: 'Change what a kind of mail says: the text from standard input, the subject as an option.',
  positionals: [kind],
  settings: [...storeSettings, 'masterKey'],
  options: { subject: { type: 'string', doc: 'The subject, one line (not for a steps-* template).' } },
  notes: ['Variables are written like {{serial}}; only those the mail has (`tally mail-template show KIND --json` lists them).'],
  async run({ config, options, positionals, io }) {
    const text = await io.readStdin();
    return withServices(config, async (services) => {
      const subject = options.subject === undefined ? undefined : String(options.subject);
      await services.mailTemplates.put(systemActor, positionals[0] ?? '', { subject, text });
      return EXIT.ok;
    });
  },
});

const resetCommand = defineCommand({
  name: 'mail-template reset',
  summary: "Reset a kind of mail to Tally's own text.",
  positionals: [kind],
  settings: [...storeSettings, 'masterKey'],
  async run({ config, positionals }) {
    return withServices(config, async (services) => {
      await services.mailTemplates.reset(systemActor, positionals[0] ?? '');
      return EXIT.ok;
    });
  },
});

export const mailTemplateCommands = [listCommand, showCommand, setCommand, resetCommand];
