import { UserError } from '../util/errors';
import { flagOf, hasSpatialPrompts, type TrainConfig } from './options';

/**
 * Recipes: named bundles of training options a user starts from (`ltl train --recipe NAME`). A recipe only fills in
 * options the user did not give; config.json records the options that ran, so a run is the same whether it was asked
 * for through a recipe or spelled out.
 */
export interface Recipe {
  name: string;
  /** What it is for, in a line. */
  about: string;
  /** The options it sets. */
  settings: Partial<TrainConfig>;
  /** Options it sets depending on those given (their rule in words for --help, and as code). */
  depends?: { rule: string; of(given: Partial<TrainConfig>): Partial<TrainConfig> };
  /** Why a config built from it cannot run (e.g. no prompt given), or undefined. */
  problem(c: Partial<TrainConfig>): string | undefined;
}

/**
 * 'language': counterfactual augmentation from the prompts, the epoch chosen by counterfactual validation. The prompts
 * say what must not matter (off "a digit", on "a frame", the "colour of a digit"); training images are redrawn and
 * recoloured exactly there, and the validation images likewise, so validation sees the shortcut again. No penalty:
 * a step is a vanilla step on varied images, on the vanilla rows' schedule (the paper's A = 11: learning rate and
 * momentum restart at epoch 11). The mask settings are those of counterfactual validation (CF_MEASURE_MASKS: positive
 * region by mass 0.99, dilated by 2).
 *
 * Chosen on validation in the full-length study (docs/results.md, docs/results/lambda-choices.json): on all five
 * datasets, given the object's prompt and the prompt naming the shortcut (a negative prompt, or the attribute),
 * counterfactual validation preferred, of share 1 / 0.5 / 0, the background swap / every free pixel, A = 0 / 11, the
 * same candidate: share 1, the background swap, A = 11. The redraw depends on the language given: a background swap
 * (only where the other image is free too: no piece of its object comes along) when the language names what must not
 * matter, every free pixel from the other image when it names only the object. Why: with the object's prompt alone,
 * a swap leaves the pixels that either image's map holds unchanged, and where a map reaches into the shortcut (the
 * VLM's "a digit" keeps 11 % of decoymnist-hard's frame) the shortcut survives there (10,000 images / 5 epochs, seed
 * 1: 58.1 % test with the swap against 77.3 % with every free pixel; with "a frame" as well the swap gave 86.8 against
 * 78.3 %).
 */
export const LANGUAGE_RECIPE: Recipe = {
  name: 'language',
  about: 'counterfactual augmentation of what the prompts name, epoch chosen by counterfactual validation',
  settings: { method: 'vanilla', augment: 'prompt', augmentShare: 1, promptMass: 0.99, promptDilate: 2, attentionEpoch: 11, select: 'val-cf' },
  depends: {
    rule: '--augment-redraw background with a --negative-prompt or an --attribute-prompt, image with --prompt alone',
    of: (g) => ({ augmentRedraw: (g.negativePrompts ?? []).length > 0 || (g.attributePrompt ?? null) !== null ? 'background' : 'image' }),
  },
  problem: (c) => (hasSpatialPrompts({ prompt: c.prompt ?? null, negativePrompts: c.negativePrompts ?? [] }) || (c.attributePrompt ?? null) !== null
    ? undefined
    : '--recipe language varies what the prompts name: give --prompt (e.g. "a digit"), --negative-prompt or --attribute-prompt'),
};

export const RECIPES: Readonly<Record<string, Recipe>> = { language: LANGUAGE_RECIPE };

/** The options a recipe sets, as `ltl train` flags ('--method vanilla --augment prompt ...'). */
export function recipeFlags(r: Recipe): string {
  const flags = Object.entries(r.settings).map(([k, v]) => `${flagOf(k)} ${String(v)}`).join(' ');
  return r.depends ? `${flags}; ${r.depends.rule}` : flags;
}

/** A partial config with a recipe's settings under it: the options given win. */
export function applyRecipe(name: string, given: Partial<TrainConfig>): Partial<TrainConfig> {
  const r = RECIPES[name];
  if (!r) throw new UserError(`--recipe must be one of ${Object.keys(RECIPES).join(', ')}, not '${name}'`);
  const out: Partial<TrainConfig> = { ...r.settings, ...(r.depends ? r.depends.of(given) : {}) };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  const problem = r.problem(out);
  if (problem) throw new UserError(problem);
  return out;
}
