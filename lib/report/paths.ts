import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root';

/**
 * The repository root, found from this file's location (dist/lib/report or lib/report), so notebooks
 * work whatever the kernel's working directory is.
 */
export function projectRoot(): string {
  try {
    return packageRoot();
  } catch {
    return process.cwd();
  }
}

/** Where expensive notebook results are cached (git-ignored): runs/notebooks/<name>/... LTL_CACHE_DIR overrides. */
export function cacheDir(...parts: string[]): string {
  const base = process.env.LTL_CACHE_DIR || path.join(projectRoot(), 'runs', 'notebooks');
  const dir = path.join(base, ...parts);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The dataset cache shared by notebooks and the CLI (data/cache, git-ignored). */
export function dataCacheDir(): string {
  return path.join(projectRoot(), 'data', 'cache');
}
