import { readFileSync } from 'node:fs';
import { TallyError } from '../errors.js';
import { type Command, EXIT, helpText, type Io, parseCommandLine, UsageError } from './command.js';
import { apiTokenCreateCommand } from './commands/apitoken.js';
import { auditExportCommand, auditPurgeCommand } from './commands/audit.js';
import { authnAgentCommands } from './commands/authn-agent.js';
import { backupCommand } from './commands/backup.js';
import { bulkCommands } from './commands/bulk.js';
import { identitySourceCommands } from './commands/identity-source.js';
import { initCommand } from './commands/init.js';
import { inventoryAssignCommand, inventoryImportCommand } from './commands/inventory.js';
import { mailTemplateCommands } from './commands/mail-template.js';
import { migrateCommand } from './commands/migrate.js';
import { restoreCommand } from './commands/restore.js';
import { rotateMasterKeyCommand } from './commands/rotate-master-key.js';
import { serveCommand } from './commands/serve.js';
import { settingsCommands } from './commands/settings.js';
import { tokenCommands } from './commands/token.js';
import { usersImportCommand } from './commands/users.js';

const commands: Command[] = [
  initCommand,
  migrateCommand,
  serveCommand,
  apiTokenCreateCommand,
  rotateMasterKeyCommand,
  backupCommand,
  restoreCommand,
  inventoryImportCommand,
  inventoryAssignCommand,
  usersImportCommand,
  ...bulkCommands,
  auditExportCommand,
  auditPurgeCommand,
  ...tokenCommands,
  ...authnAgentCommands,
  ...mailTemplateCommands,
  ...settingsCommands,
  ...identitySourceCommands,
];

/** The version of this Tally, from its package.json (beside src/ in a checkout, beside dist/ when installed). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function commandList(shown: Command[]): string[] {
  const width = Math.max(...shown.map((c) => c.name.length)) + 2;
  return shown.map((c) => `  ${c.name.padEnd(width)} ${(c.summary.split('. ')[0] ?? '').replace(/\.$/, '')}.`);
}

function overview(): string {
  return [
    'Usage: tally COMMAND [options]',
    '',
    'Tally: an open-source authentication manager for software tokens.',
    '',
    'Commands:',
    ...commandList(commands),
    '',
    'Run `tally COMMAND --help` for the options of a command.',
    'Run `tally --version` for the version.',
    'Exit codes: 0 success, 1 the command failed (the message says why), 2 bad usage.',
    '',
  ].join('\n');
}

/** `tally GROUP --help`: the commands of a group such as `token`. */
function groupHelp(group: string): string {
  return [
    `Usage: tally ${group} COMMAND [options]`,
    '',
    'Commands:',
    ...commandList(commands.filter((c) => c.name.startsWith(`${group} `))),
    '',
    `Run \`tally ${group} COMMAND --help\` for the options of a command.`,
    '',
  ].join('\n');
}

/** Finds the longest command name that prefixes argv (`apitoken create` before `apitoken`). */
function findCommand(argv: string[]): { command?: Command; rest: string[]; group?: string } {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = commands.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  const group = commands.some((c) => c.name.startsWith(`${argv[0]} `)) ? argv[0] : undefined;
  return { rest: argv, group };
}

export async function main(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(overview());
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.out(`tally ${version()}\n`);
    return EXIT.ok;
  }
  const { command, rest, group } = findCommand(argv);
  if (!command && group && argv.length === 2 && (argv[1] === '--help' || argv[1] === '-h')) {
    io.out(groupHelp(group));
    return EXIT.ok;
  }
  if (!command) {
    const known = group ? commands.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name) : commands.map((c) => c.name);
    io.err(`tally: unknown command "${argv.slice(0, group ? 2 : 1).join(' ')}". Commands: ${known.join(', ')}. Run \`tally --help\`.\n`);
    return EXIT.usage;
  }
  try {
    const parsed = parseCommandLine(command, rest, io.env);
    if (parsed.options.help) {
      io.out(helpText(command));
      return EXIT.ok;
    }
    return await command.run({ ...parsed, io });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`tally ${command.name}: ${error.message} Run \`tally ${command.name} --help\`.\n`);
      return EXIT.usage;
    }
    if (error instanceof TallyError) {
      io.err(`tally ${command.name}: ${error.message}\n`);
      return error.code === 'CONFIG_INVALID' ? EXIT.usage : EXIT.failed;
    }
    io.err(`tally ${command.name}: unexpected error: ${(error as Error).message}\n`);
    return EXIT.failed;
  }
}
