import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/**
 * The consoles' static files: one stylesheet, a little progressive script and the icon. They live
 * in `assets/` at the package root, three levels above this module both in `src/http/web/` (tsx)
 * and in `dist/http/web/` (the build), and are read once at start-up.
 */
const ROOT = new URL('../../../assets/', import.meta.url);

const FILES = {
  'tally.css': 'text/css; charset=utf-8',
  'tally.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
} as const;

export type AssetName = keyof typeof FILES;

interface Asset {
  body: Buffer;
  type: string;
  version: string;
}

let loaded: Map<AssetName, Asset> | undefined;

function assets(): Map<AssetName, Asset> {
  loaded ??= new Map(
    (Object.entries(FILES) as [AssetName, string][]).map(([name, type]) => {
      const body = readFileSync(new URL(name, ROOT));
      return [name, { body, type, version: createHash('sha256').update(body).digest('hex').slice(0, 12) }];
    }),
  );
  return loaded;
}

/** The asset's URL with its content hash, so browsers may cache it for long and still see a new release. */
export function assetUrl(name: AssetName): string {
  const asset = assets().get(name);
  if (!asset) throw new Error(`No asset named ${name}.`);
  return `/assets/${name}?v=${asset.version}`;
}

export function assetRoutes(app: FastifyInstance): void {
  const files = assets();
  app.get<{ Params: { name: string } }>('/assets/:name', { schema: { hide: true } }, async (request, reply) => {
    const asset = files.get(request.params.name as AssetName);
    if (!asset) return reply.callNotFound();
    return reply.header('content-type', asset.type).header('cache-control', 'public, max-age=604800').send(asset.body);
  });
}
