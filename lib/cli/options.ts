import { RUN_OPTIONS, TRAIN_OPTIONS, describe, optionHelp } from '../train/options';
import * as path from 'node:path';
import { UserError } from '../util/errors';

/** Help of the flags every dataset-reading command shares (as `ltl train` declares them). */
export const DATASET_HELP = (): string => describe(TRAIN_OPTIONS.dataset);
export const MNIST_DIR_HELP = optionHelp(RUN_OPTIONS.mnistDir);

/** Parses an optional integer flag (>= min); bad input is a one-line user error naming the flag. */
export function intOption(v: string | undefined, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isInteger(n) && n >= min)) throw new UserError(`${name} must be an integer >= ${min}, not '${v}'`);
  return n;
}

/** Checks a flag naming a PNG file to write: its name must end in .png, since the bytes are PNG whatever the name
 * says (fig.jpg would be a PNG that viewers keyed on the extension refuse). */
export function pngFileOption(file: string | undefined, name: string): string | undefined {
  if (file !== undefined && path.extname(file).toLowerCase() !== '.png') {
    throw new UserError(`${name} writes a PNG image: name it *.png, not '${path.basename(file)}'`);
  }
  return file;
}

/** Parses an optional positive number flag. */
export function numOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new UserError(`${name} must be a positive number, not '${v}'`);
  return n;
}

/** Parses an optional comma-separated list flag: trimmed, empty items dropped; undefined when not given or empty. */
export function listOption(v: string | undefined): string[] | undefined {
  return v ? String(v).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}
