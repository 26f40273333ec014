import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '../util/hash';
import { writeJsonAtomic } from '../util/atomic';
import { cacheDir } from './paths';

/** A short stable key for a JSON-able description of a computation. */
export function cacheKey(spec: unknown): string {
  return sha256(Buffer.from(JSON.stringify(spec))).slice(0, 16);
}

/**
 * Runs `compute` once per (name, spec) and keeps its JSON result under runs/notebooks/<name>/<key>.json;
 * later executions of a notebook reuse it. LTL_CACHE=0 recomputes (and overwrites).
 */
export async function cachedJson<T>(name: string, spec: unknown, compute: () => Promise<T> | T): Promise<T> {
  const file = path.join(cacheDir(name), `${cacheKey(spec)}.json`);
  if (process.env.LTL_CACHE !== '0' && fs.existsSync(file)) {
    return JSON.parse(fs.readFileSync(file, 'utf8')).result as T;
  }
  const result = await compute();
  writeJsonAtomic(file, { spec, result });
  return result;
}

/** A folder for one cached run (e.g. a training run's outDir), named by its spec. */
export function runFolder(name: string, spec: unknown): string {
  return cacheDir(name, cacheKey(spec));
}
