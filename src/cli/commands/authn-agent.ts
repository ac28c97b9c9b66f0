import { systemActor } from '../../domain/actor.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withServices } from '../store.js';

const name = { type: 'string', doc: "The agent's name: the client ID it sends (`clientId`).", required: true } as const;
const json = { type: 'boolean', doc: 'Print JSON.' } as const;
const requireSigning = {
  type: 'boolean',
  doc: 'Require every request of the agent to be signed (HMAC-SHA256); its signing secret is printed once, after the access key.',
} as const;

/** The keys as printed: the access key, then the signing secret where there is one. */
function keysText(keys: { accessKey: string; signingSecret?: string }): string {
  return keys.signingSecret ? `${keys.accessKey}\n${keys.signingSecret}\n` : `${keys.accessKey}\n`;
}

const addCommand = defineCommand({
  name: 'authn-agent add',
  summary: 'Register an agent of the RSA SecurID Authentication API and print its access key once.',
  settings: [...storeSettings, 'masterKey'],
  options: { name, requireSigning, json },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const created = await services.authnApi.createAgent(systemActor, {
        name: String(options.name),
        requireSigning: options.requireSigning === true,
      });
      io.out(options.json ? `${JSON.stringify(created)}\n` : keysText(created));
      return EXIT.ok;
    });
  },
});

const listCommand = defineCommand({
  name: 'authn-agent list',
  summary: 'List the agents of the RSA SecurID Authentication API (never their keys).',
  settings: [...storeSettings, 'masterKey'],
  options: { json },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const agents = await services.authnApi.listAgents(systemActor);
      io.out(
        options.json
          ? `${JSON.stringify({ authnAgents: agents })}\n`
          : agents
              .map((agent) => `${agent.name}\t${agent.createdAt}\t${agent.rotatedAt ?? '-'}\t${agent.requireSigning ? 'signed' : '-'}\n`)
              .join(''),
      );
      return EXIT.ok;
    });
  },
});

const rotateCommand = defineCommand({
  name: 'authn-agent rotate',
  summary: "Replace an agent's access key and print the new one once; the old one stops working.",
  settings: [...storeSettings, 'masterKey'],
  options: {
    name,
    requireSigning,
    withoutSigning: { type: 'boolean', doc: 'Stop requiring the agent to sign its requests.' },
    json,
  },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      // Signing changes with the new key only where an option says so; else the agent keeps its setting.
      const signing = options.requireSigning ? { requireSigning: true } : options.withoutSigning ? { requireSigning: false } : {};
      const rotated = await services.authnApi.rotateAgent(systemActor, String(options.name), signing);
      io.out(options.json ? `${JSON.stringify(rotated)}\n` : keysText(rotated));
      return EXIT.ok;
    });
  },
});

const removeCommand = defineCommand({
  name: 'authn-agent remove',
  summary: 'Remove an agent: its requests are refused from now on.',
  settings: [...storeSettings, 'masterKey'],
  options: { name },
  async run({ config, options }) {
    return withServices(config, async (services) => {
      await services.authnApi.removeAgent(systemActor, String(options.name));
      return EXIT.ok;
    });
  },
});

export const authnAgentCommands = [addCommand, listCommand, rotateCommand, removeCommand];
