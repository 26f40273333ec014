import { UserError } from '../util/errors';
import { sourceUsesPrompt } from '../maps/registry';
import { DEPENDENT_DEFAULTS, PAPER_DEFAULTS, TRAIN_OPTION_LIST, hasSpatialPrompts, optionProblem, type DependentDefault, type TrainConfig } from './options';

// The options themselves (type, defaults, ranges, help) are declared in ./options; this file resolves and checks a config.
export {
  PAPER_DEFAULTS, RRR_DEFAULT_LAMBDA, RRR_PROMPT_DEFAULT_LAMBDA, METHODS, type TrainConfig, type TrainMethod,
} from './options';

/**
 * The full config of a partial one: the options given (undefined counts as not given), then the defaults that
 * depend on them (DEPENDENT_DEFAULTS, in their order, e.g. the attention method follows the model unless chosen),
 * then the fixed ones; validated.
 */
export function resolveConfig(partial: Partial<TrainConfig>): TrainConfig {
  const given = stripUndefined(partial);
  const c: TrainConfig = { ...PAPER_DEFAULTS, ...given };
  for (const [key, d] of Object.entries(DEPENDENT_DEFAULTS) as [keyof TrainConfig, DependentDefault<unknown>][]) {
    if (key in given) continue;
    const v = d.of(c);
    if (v !== undefined) (c as Record<string, unknown>)[key] = v;
  }
  validateConfig(c);
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Each option's own type and range (from the declaration), then the rules between options. */
export function validateConfig(c: TrainConfig): void {
  for (const o of TRAIN_OPTION_LIST) {
    const problem = optionProblem(o, (c as Record<string, unknown>)[o.key]);
    if (problem) throw new UserError(problem);
  }
  validatePrompts(c);
  if (c.attention === 'cam' && c.model !== 'lenet-gap' && c.method === 'align') {
    throw new UserError(`--attention cam needs a global-average-pooling model (lenet-gap); '${c.model}' has none: use gradcam or inputgrad`);
  }
}

/** What the prompt options need from the others. */
function validatePrompts(c: TrainConfig): void {
  const spatial = hasSpatialPrompts(c);
  if (c.method === 'rrr' && c.rrrMode === 'prompt' && !spatial && c.attributePrompt === null) {
    throw new UserError('--rrr-mode prompt needs --prompt, --negative-prompt or --attribute-prompt');
  }
  if (sourceUsesPrompt(c.maps) && !spatial) {
    throw new UserError(`--maps ${c.maps} makes maps from a prompt: give --prompt (e.g. "a digit")`);
  }
  if (c.method === 'align' && sourceUsesPrompt(c.maps) && c.prompt === null) {
    throw new UserError(`--method align with --maps ${c.maps} needs --prompt: the positive prompt's maps are the targets`);
  }
  if (c.select === 'val-rr' && !spatial && c.attributePrompt === null) {
    throw new UserError('--select val-rr scores validation epochs with the prompts\' penalty: give --prompt, --negative-prompt or --attribute-prompt');
  }
  if (c.select === 'val-cf' && !spatial && c.attributePrompt === null) {
    throw new UserError('--select val-cf varies validation images where the prompts say nothing may matter: give --prompt, --negative-prompt or --attribute-prompt');
  }
  if (c.augment === 'prompt' && !spatial && c.attributePrompt === null) {
    throw new UserError('--augment prompt varies training images where the prompts say nothing may matter: give --prompt, --negative-prompt or --attribute-prompt');
  }
}

/**
 * Keys whose values differ between two configs. A key one config lacks counts as its default
 * (PAPER_DEFAULTS), so run folders written before an option existed still resume when it is unset.
 */
export function configDiff(a: TrainConfig, b: TrainConfig): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const value = (c: TrainConfig, k: string) => JSON.stringify(k in c ? (c as Record<string, unknown>)[k] : (PAPER_DEFAULTS as Record<string, unknown>)[k]);
  return [...keys].filter((k) => value(a, k) !== value(b, k)).sort();
}
