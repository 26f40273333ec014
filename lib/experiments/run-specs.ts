import type { TrainConfig } from '../train';
import { getShortcut, resolveDataset } from '../data/registry';
import { MAP_SOURCE } from '../maps/registry';
import type { Profile } from './profiles';
import type { AblationSpec, RunSpec } from './run-types';

/**
 * The recipes of the notebooks' runs: the config a profile trains for a dataset and method (every notebook builds its
 * configs here), the prompts every run measures, notebook 04's four methods and notebook 05's ablations.
 */

/**
 * The config a notebook trains with for a dataset and method under a profile. Every notebook builds
 * its configs here, so the same run in two notebooks has the same config, hence the same cache folder,
 * and is trained once (notebook 04's runs add the measuring prompts, so its vanilla nets are not notebook 01's).
 */
export function profileConfig(profile: Profile, dataset: string, method: TrainConfig['method'], seed = profile.seeds[0], overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  return {
    // RRR penalises from the first epoch (Ross et al.); the two-phase schedule is the paper's alignment recipe.
    dataset, method, seed, epochs: profile.epochs, attentionEpoch: method === 'rrr' ? 0 : profile.attentionEpoch,
    limit: profile.trainImages, evalLimit: profile.evalImages, ...overrides,
  };
}

/** The prompt every notebook run measures on validation (and the prompt-guided runs train with). */
export const DIGIT_PROMPT = 'a digit';
/** The attribute prompt of colour datasets. */
export const COLOUR_ATTRIBUTE_PROMPT = 'colour of a digit';

/** Whether a dataset's shortcut is a colour (no pixels of its own) rather than a patch or frame. */
export function isColourShortcut(dataset: string): boolean {
  try {
    return !getShortcut(resolveDataset(dataset).shortcut).spatial;
  } catch {
    return /colou?r/i.test(dataset);
  }
}

/**
 * The prompts a run names so that it records the validation excluded share (EpochRecord.valExcludedShare), and the
 * rule that selects its epoch: "a digit", plus the attribute "colour of a digit" on a colour dataset; val-rr. As in
 * the full-length study (scripts/results-study.ts): one rule for every method, baselines included.
 */
export function measuringPrompts(dataset: string): Partial<TrainConfig> {
  return { prompt: DIGIT_PROMPT, ...(isColourShortcut(dataset) ? { attributePrompt: COLOUR_ATTRIBUTE_PROMPT } : {}), select: 'val-rr' };
}

/** RRR's weight with the annotation: Ross et al.'s 1000 for a mask; 10 for the colour mode (1000 diverges on
 * ColorMNIST, 10 moved it most towards shape in docs/findings.md section 2). */
export function annotationLambda(dataset: string): number {
  return isColourShortcut(dataset) ? 10 : 1000;
}

/** The labels of notebook 04's four methods. */
export const METHOD_LABELS = {
  vanilla: 'vanilla',
  align: "align (the paper's method)",
  annotation: 'RRR with the annotation',
  prompt: 'prompt-guided RRR',
} as const;

/**
 * Notebook 04's runs of one dataset and seed: vanilla; the paper's alignment to the embedded VLM's maps of
 * "a digit"; RRR with the annotation (the decoy's mask, or the colour mode); prompt-guided RRR (embedded maps of
 * "a digit": input gradients off the digit penalised; on a colour dataset also the attribute prompt "colour of a
 * digit"). Every run measures the same prompts on validation and selects its epoch by val-rr.
 */
export function methodRunSpecs(profile: Profile, dataset: string, seed = profile.seeds[0]): RunSpec[] {
  const m = measuringPrompts(dataset);
  const colour = isColourShortcut(dataset);
  return [
    { label: METHOD_LABELS.vanilla, config: profileConfig(profile, dataset, 'vanilla', seed, m) },
    { label: METHOD_LABELS.align, config: profileConfig(profile, dataset, 'align', seed, { ...m, maps: MAP_SOURCE.embedded }) },
    { label: METHOD_LABELS.annotation, config: profileConfig(profile, dataset, 'rrr', seed, { ...m, rrrMode: colour ? 'colour' : 'spatial', lambda: annotationLambda(dataset) }) },
    { label: METHOD_LABELS.prompt, config: profileConfig(profile, dataset, 'rrr', seed, { ...m, rrrMode: 'prompt', maps: MAP_SOURCE.embedded }) },
  ];
}

/** methodRunSpecs for every dataset and seed of a profile (datasets outer, seeds inner). */
export function methodSpecs(profile: Profile, datasets: readonly string[] = profile.datasets, seeds: readonly number[] = profile.seeds): RunSpec[] {
  return datasets.flatMap((d) => seeds.flatMap((seed) => methodRunSpecs(profile, d, seed)));
}

/** The prompt-guided default of the ablations (RRR, prompt mode, embedded-VLM maps of "a digit", from epoch 0, val-rr). */
export function ablationDefault(profile: Profile, dataset = profile.ablation.dataset, seed = profile.ablation.seeds[0]): Partial<TrainConfig> {
  const a = profile.ablation;
  return {
    dataset, method: 'rrr', rrrMode: 'prompt', maps: MAP_SOURCE.embedded, prompt: DIGIT_PROMPT, lambda: a.lambda, attentionEpoch: 0,
    seed, epochs: a.epochs, limit: a.trainImages, evalLimit: a.evalImages, select: 'val-rr',
  };
}

/**
 * The prompts compared: on the ablation dataset the positive "a digit", with and without the negative "a square",
 * the negative alone, and "a bar" (known words that name nothing in these images: its maps stay below the threshold,
 * so it constrains nothing); on the colour dataset "a digit", with and without the attribute "colour of a digit",
 * and the attribute alone.
 */
export const ABLATION_PROMPTS: readonly { factor: 'prompt' | 'attribute prompt'; value: string; config: Partial<TrainConfig> }[] = [
  { factor: 'prompt', value: '"a digit" (default)', config: {} },
  { factor: 'prompt', value: '"a digit", negative "a square"', config: { negativePrompts: ['a square'] } },
  { factor: 'prompt', value: 'negative "a square" only', config: { prompt: null, negativePrompts: ['a square'] } },
  { factor: 'prompt', value: '"a bar" (names nothing there)', config: { prompt: 'a bar' } },
  { factor: 'attribute prompt', value: '"a digit"', config: {} },
  { factor: 'attribute prompt', value: `"a digit", attribute "${COLOUR_ATTRIBUTE_PROMPT}"`, config: { attributePrompt: COLOUR_ATTRIBUTE_PROMPT } },
  // no spatial prompt: no maps (the default 'oracle' is not used by the attribute term)
  { factor: 'attribute prompt', value: `attribute "${COLOUR_ATTRIBUTE_PROMPT}" only`, config: { prompt: null, maps: undefined, attributePrompt: COLOUR_ATTRIBUTE_PROMPT } },
];

/**
 * The ablation runs of a profile: one factor at a time around the prompt-guided default (ablationDefault): prompts
 * (ABLATION_PROMPTS; the attribute prompt on the profile's colour dataset), lambda (0: the penalty measured, not
 * applied), map source (embedded, oracle = the annotation's digit mask, uniform and random controls), for every
 * seed of profile.ablation.seeds (seeds outer). Runs equal to the default share its cache folder.
 */
export function ablationSpecs(profile: Profile, seeds: readonly number[] = profile.ablation.seeds): AblationSpec[] {
  return seeds.flatMap((seed) => ablationSeedSpecs(profile, seed));
}

/** The ablation runs of one seed (ablationSpecs). */
function ablationSeedSpecs(profile: Profile, seed: number): AblationSpec[] {
  const a = profile.ablation;
  const base = ablationDefault(profile, a.dataset, seed);
  const specs: AblationSpec[] = [];
  const add = (factor: AblationSpec['factor'], value: string, o: Partial<TrainConfig>, dataset = a.dataset) => {
    const config: Partial<TrainConfig> = { ...base, dataset, ...o };
    for (const k of Object.keys(config) as (keyof TrainConfig)[]) if (config[k] === undefined) delete config[k];
    specs.push({ factor, value, label: `${factor} = ${value}`, config });
  };
  for (const p of ABLATION_PROMPTS) add(p.factor, p.value, p.config, p.factor === 'attribute prompt' ? a.colourDataset : a.dataset);
  for (const l of [...new Set([...a.lambdas, a.lambda])].sort((x, y) => x - y)) add('lambda', String(l) + (l === a.lambda ? ' (default)' : ''), { lambda: l });
  for (const s of a.mapSources) add('map source', s + (s === MAP_SOURCE.embedded ? ' (default)' : ''), { maps: s });
  return specs;
}
