import * as path from 'node:path';
import { sha256 } from '../util/hash';
import { readSealedJson, writeSealedJson } from '../util/sealed';
import { cacheDir } from '../report/paths';

/**
 * Version of what the notebook caches hold: bumped when cached results would no longer be what the
 * code computes (2: checksummed artifacts, and ColorMNIST's palette in full precision).
 */
export const NOTEBOOK_CACHE_VERSION = 2;

/** A short stable key for a JSON-able description of a computation. */
export function cacheKey(spec: unknown): string {
  return sha256(Buffer.from(JSON.stringify([NOTEBOOK_CACHE_VERSION, spec]))).slice(0, 16);
}

/**
 * Runs `compute` once per (name, spec) and keeps its JSON result under runs/notebooks/<name>/<key>.json
 * (sealed with its checksum); later executions of a notebook reuse it. A damaged file is recomputed,
 * never trusted. LTL_CACHE=0 recomputes (and overwrites).
 */
export async function cachedJson<T>(name: string, spec: unknown, compute: () => Promise<T> | T): Promise<T> {
  const file = path.join(cacheDir(name), `${cacheKey(spec)}.json`);
  if (process.env.LTL_CACHE !== '0') {
    try {
      const hit = readSealedJson<{ result: T }>(file, 'notebook cache');
      if (hit) return hit.result;
    } catch {
      /* damaged or written before checksums: recompute */
    }
  }
  const result = await compute();
  writeSealedJson(file, { spec, result });
  return result;
}

/** A folder for one cached run (e.g. a training run's outDir), named by its spec. */
export function runFolder(name: string, spec: unknown): string {
  return cacheDir(name, cacheKey(spec));
}
