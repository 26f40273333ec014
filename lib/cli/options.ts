import { UserError } from '../util/errors';

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
