import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../vectors/', import.meta.url));

/** Absolute path of a file under test/vectors/ (copied from shared/spec/vectors, data only). */
export function vectorPath(relative: string): string {
  return root + relative;
}

export function readVector(relative: string): string {
  return readFileSync(vectorPath(relative), 'utf8');
}

export function readVectorJson<T = any>(relative: string): T {
  return JSON.parse(readVector(relative)) as T;
}
