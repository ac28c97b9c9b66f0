// Writes docs/configuration.md from the settings table in src/config.ts.
import { writeFileSync } from 'node:fs';
import { configurationReference } from '../src/config.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationReference());
console.log('wrote docs/configuration.md');
