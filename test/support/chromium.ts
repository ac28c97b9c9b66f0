import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium, never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Script errors and CSP violations seen so far; pages answered with an error status are expected and not counted. */
  errors: string[];
  close(): Promise<void>;
}

/** A headless Chromium with a fresh profile of its own, removed on close. */
export async function launchChromium(options: { viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const profileDir = mkdtempSync(join(tmpdir(), 'tally-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: options.viewport ?? { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !/responded with a status of \d+/.test(message.text())) errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}

/** The base URL (`http://127.0.0.1:PORT`) of a Fastify app listening on loopback. */
export function listeningBase(app: { server: { address(): unknown } }): string {
  const address = app.server.address();
  if (typeof address !== 'object' || address === null || !('port' in address)) throw new Error('the app is not listening on a port');
  return `http://127.0.0.1:${(address as { port: number }).port}`;
}

/** Logs `page` on to the Security Console at `base` and waits for the dashboard. */
export async function logOnToSecurityConsole(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/console`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log on' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}
