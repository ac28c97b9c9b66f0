import { systemActor } from '../../domain/actor.js';
import type { ApiTokenRole } from '../../model/vocabulary.js';
import { API_TOKEN_ROLES } from '../../model/vocabulary.js';
import { defineCommand, EXIT } from '../command.js';
import { storeSettings, withServices } from '../store.js';

export const apiTokenCreateCommand = defineCommand({
  name: 'apitoken create',
  summary: 'Create a REST API token and print it once. `agent` tokens may only call the authentication API.',
  settings: [...storeSettings, 'masterKey'],
  options: {
    name: { type: 'string', doc: 'A name for the token (who or what uses it).', required: true },
    role: { type: 'string', doc: 'What the token may do.', required: true, choices: API_TOKEN_ROLES },
    json: { type: 'boolean', doc: 'Print {"token": "..."} as JSON.' },
  },
  async run({ config, options, io }) {
    return withServices(config, async (services) => {
      const created = await services.apiTokens.create(systemActor, { name: String(options.name), role: options.role as ApiTokenRole });
      io.out(options.json ? `${JSON.stringify({ token: created.token, name: created.name, role: created.role })}\n` : `${created.token}\n`);
      return EXIT.ok;
    });
  },
});
