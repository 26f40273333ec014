import * as fs from 'node:fs';
import { UserError } from '../../util/errors';
import { SWEEP_OPTIONS, argProblem, kebabCase, valueText } from '../../train/options';
import { resolveDataset } from '../../data/registry';

/** One value of one `ltl train` option in a run's config. */
export type ConfigValue = string | number | boolean;
/** A run's config: `ltl train` option names (camelCase of the flags) -> value. */
export type RunConfig = Record<string, ConfigValue>;
/** A grid: option -> values (a scalar means one value). The sweep is their cartesian product. */
export type Grid = Record<string, ConfigValue | ConfigValue[]>;

/** `ltl train` options a grid may set: the declared training and run options (lib/train/options.ts), by name. */
export const KNOWN_TRAIN_OPTIONS: readonly string[] = [...SWEEP_OPTIONS.keys()];

/** Options the sweep itself sets on every run: a grid may not set them. */
export const RESERVED_OPTIONS: readonly string[] = ['out', 'json', 'help'];

/**
 * Reads a grid file. It holds one grid object, or an array of grid objects whose runs are
 * united (so e.g. `vanilla` need not be crossed with every lambda of `align`).
 */
export function loadGridFile(file: string): Grid[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read grid file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UserError(`grid file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseGrids(parsed, file);
}

/** Validates a parsed grid (object or array of objects); `where` names the source in errors. */
export function parseGrids(value: unknown, where: string): Grid[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new UserError(`grid ${where} is an empty array: give at least one grid object`);
  return list.map((g, i) => parseGrid(g, Array.isArray(value) ? `${where}[${i}]` : where));
}

function parseGrid(value: unknown, where: string): Grid {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`grid ${where} must be a JSON object of train options -> arrays of values`);
  }
  const grid: Grid = {};
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw new UserError(`grid ${where} is empty: set at least 'dataset' and 'method'`);
  for (const [key, v] of entries) {
    if (RESERVED_OPTIONS.includes(key)) {
      throw new UserError(`grid ${where}: option '${key}' is set by the sweep itself; remove it`);
    }
    const option = SWEEP_OPTIONS.get(key);
    if (!option) {
      throw new UserError(
        `grid ${where}: unknown train option '${key}' (use camelCase of the flag, e.g. attentionEpoch ` +
          `for --attention-epoch). Known: ${KNOWN_TRAIN_OPTIONS.join(', ')}`,
      );
    }
    const values = Array.isArray(v) ? v : [v];
    if (values.length === 0) throw new UserError(`grid ${where}: option '${key}' has an empty list of values`);
    for (const x of values) {
      if (!isConfigValue(x)) {
        throw new UserError(`grid ${where}: option '${key}' has value ${JSON.stringify(x)}; use strings, finite numbers or booleans`);
      }
      // Each value as `ltl train` will read it (`--flag String(x)`), so a bad one fails before any run starts.
      const problem = typeof x === 'boolean' ? `--${option.flag} takes a value (${valueText(option)}), not ${x}` : argProblem(option, String(x)) ?? registeredProblem(key, String(x));
      if (problem) throw new UserError(`grid ${where}: option '${key}': ${problem}`);
    }
    if (new Set(values.map((x) => JSON.stringify(x))).size !== values.length) {
      throw new UserError(`grid ${where}: option '${key}' lists a value twice`);
    }
    grid[key] = values as ConfigValue[];
  }
  return grid;
}

/** Why a value of an option whose values are registered names (a dataset) names none, or undefined: a name is looked up
 * without loading anything, so a misspelt one fails the grid (and --dry-run) instead of its runs. */
function registeredProblem(key: string, value: string): string | undefined {
  if (key !== 'dataset') return undefined;
  try {
    resolveDataset(value);
    return undefined;
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
}

function isConfigValue(x: unknown): x is ConfigValue {
  return typeof x === 'string' || typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x));
}

/**
 * Cartesian product of one grid, in file order: the first key varies slowest, so runs of one
 * setting over its seeds (listed last) come together.
 */
export function expandGrid(grid: Grid): RunConfig[] {
  let out: RunConfig[] = [{}];
  for (const [key, v] of Object.entries(grid)) {
    const values = Array.isArray(v) ? v : [v];
    const next: RunConfig[] = [];
    for (const partial of out) for (const x of values) next.push({ ...partial, [key]: x });
    out = next;
  }
  return out;
}

/** Expands several grids and unites them (duplicates, judged by canonical config, kept once). */
export function expandGrids(grids: Grid[], key: (c: RunConfig) => string): RunConfig[] {
  const seen = new Set<string>();
  const out: RunConfig[] = [];
  for (const g of grids) {
    for (const c of expandGrid(g)) {
      const k = key(c);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(c);
    }
  }
  return out;
}

/** camelCase option name -> `--kebab-case` flag. */
export function optionFlag(key: string): string {
  return '--' + kebabCase(key);
}

/**
 * A config as `ltl train` arguments. true -> `--flag`, false -> `--no-flag` (commander's
 * negation); everything else `--flag value`.
 */
export function configToArgs(config: RunConfig): string[] {
  const args: string[] = [];
  for (const [key, v] of Object.entries(config)) {
    if (v === true) args.push(optionFlag(key));
    else if (v === false) args.push('--no-' + optionFlag(key).slice(2));
    else args.push(optionFlag(key), String(v));
  }
  return args;
}
