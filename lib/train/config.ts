import { UserError } from '../util/errors';
import { MODEL_NAMES } from '../models';
import { ATTENTION_NAMES } from '../attention';
import { LOSS_NAMES } from '../losses';
import { getShortcut, resolveDataset } from '../data/registry';

export type TrainMethod = 'vanilla' | 'align' | 'rrr';

/** Everything that determines a run's numbers (stored as config.json; resuming requires equality). */
export interface TrainConfig {
  dataset: string;
  /** Seed of the dataset build (validation split, decoy positions). */
  dataSeed: number;
  method: TrainMethod;
  model: 'lenet-gap' | 'cdep';
  attention: 'cam' | 'gradcam' | 'inputgrad';
  loss: 'kl' | 'kl-dist';
  /** Softmax temperature of the 'kl' loss (paper: 1). */
  temperature: number;
  /** 'oracle' | 'uniform' | 'random' | path of a map file. */
  maps: string;
  /** Target chain: 'paper' (outline band) or 'raw' (area-resize + normalise). */
  postprocess: 'paper' | 'raw';
  /** Threshold of the paper chain's first step. */
  mapThreshold: number;
  /** RRR: 'spatial' (decoy-patch mask), 'colour' (gradient off the grey axis, everywhere) or 'prompt'
   * (masks and matrix from the prompts below: lib/train/prompt-constraint.ts). */
  rrrMode: 'spatial' | 'colour' | 'prompt';
  /** Positive prompt: where the evidence is ('a digit'); its maps come from `maps`. null: none. */
  prompt: string | null;
  /** Negative prompts: where the evidence must not come from ('a square'). */
  negativePrompts: string[];
  /** Attribute prompt ('colour'): a global matrix of input directions derived from the embedded VLM. null: none. */
  attributePrompt: string | null;
  /** Prompt masks: map threshold, and dilation radius (px on the map's grid) of positive and negative regions. */
  promptThreshold: number;
  /** Prompt masks by mass instead of threshold: the positive region is the smallest set of map pixels that holds this
   * share of the map's mass (then dilated). null: threshold the map at promptThreshold. */
  promptMass: number | null;
  promptDilate: number;
  negativeDilate: number;
  /** How the attribute matrix is used: 'moment' (C = M / lambda_max) or 'free-axis' (I - v v^T, v its least direction). */
  attributeForm: 'moment' | 'free-axis';
  lambda: number;
  attentionEpoch: number;
  phase1: 'ce' | 'attention';
  epochs: number;
  seed: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  weightDecay: number;
  lrStep: number;
  lrGamma: number;
  batch: number;
  /** First N training images (null: all). */
  limit: number | null;
  /** First N validation and test images evaluated each epoch (null: all). */
  evalLimit: number | null;
  /** What picks the reported epoch (validation only): 'val-acc', 'val-score' (val acc x exp(-beta KL(p||q)))
   * or 'val-rr' (val acc x (1 - excluded share of input-gradient energy under the prompts' penalty)). */
  select: 'val-acc' | 'val-score' | 'val-rr';
  scoreBeta: number;
  /** Compute engine: 'tfjs' (generic) or a registered fast engine. */
  engine: string;
}

export const PAPER_DEFAULTS: TrainConfig = {
  dataset: 'colormnist', dataSeed: 37, method: 'align', model: 'lenet-gap', attention: 'cam', loss: 'kl', temperature: 1,
  maps: 'oracle', postprocess: 'paper', mapThreshold: 0.5, rrrMode: 'spatial',
  prompt: null, negativePrompts: [], attributePrompt: null, promptThreshold: 0.5, promptMass: null, promptDilate: 2, negativeDilate: 1, attributeForm: 'moment',
  lambda: 160, attentionEpoch: 11, phase1: 'ce', epochs: 30, seed: 37,
  optimizer: 'sgd', lr: 1e-3, momentum: 0.98, weightDecay: 1e-4, lrStep: 7, lrGamma: 0.1, batch: 32,
  limit: null, evalLimit: null, select: 'val-acc', scoreBeta: 0.3, engine: 'auto',
};

/** RRR's DecoyMNIST weight (Ross et al. 2017 used 1000 with a summed, not averaged, penalty). */
export const RRR_DEFAULT_LAMBDA = 1000;
/** Prompt mode's weight: its mask covers most of the image (everything off the object), not a 25-pixel patch. */
export const RRR_PROMPT_DEFAULT_LAMBDA = 10;
/** Map sources that make maps from a prompt (a prompt is required with them). */
const PROMPT_GENERATORS = ['embedded', 'clipseg'];

/**
 * Fills defaults that depend on other choices and validates. `given` lists the keys the user set
 * explicitly (so e.g. the attention method follows the model unless chosen).
 */
export function resolveConfig(partial: Partial<TrainConfig>): TrainConfig {
  const c: TrainConfig = { ...PAPER_DEFAULTS, ...stripUndefined(partial) };
  if (partial.attention === undefined && c.model === 'cdep') c.attention = 'gradcam';
  const spatialPrompts = c.prompt !== null || c.negativePrompts.length > 0;
  if (partial.maps === undefined && spatialPrompts) c.maps = 'embedded';
  if (partial.rrrMode === undefined && c.method === 'rrr' && (spatialPrompts || c.attributePrompt !== null)) c.rrrMode = 'prompt';
  if (partial.lambda === undefined && c.method === 'rrr') c.lambda = c.rrrMode === 'prompt' ? RRR_PROMPT_DEFAULT_LAMBDA : RRR_DEFAULT_LAMBDA;
  if (partial.postprocess === undefined && c.maps === 'uniform') c.postprocess = 'raw';
  if (partial.rrrMode === undefined && c.rrrMode !== 'prompt' && !spatialShortcut(c.dataset)) c.rrrMode = 'colour';
  validateConfig(c);
  return c;
}

/** Whether a dataset's shortcut sits somewhere in the image (a patch) rather than in its colours. */
function spatialShortcut(dataset: string): boolean {
  try {
    return getShortcut(resolveDataset(dataset).shortcut).spatial;
  } catch {
    return !/color|colour/i.test(dataset); // a dataset built in memory under a name the registry does not know
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function validateConfig(c: TrainConfig): void {
  const oneOf = (k: keyof TrainConfig, vals: readonly string[]) => {
    if (!vals.includes(c[k] as string)) throw new UserError(`--${kebab(k)} must be one of ${vals.join(', ')}, not '${String(c[k])}'`);
  };
  oneOf('method', ['vanilla', 'align', 'rrr']);
  oneOf('model', MODEL_NAMES);
  oneOf('attention', ATTENTION_NAMES);
  oneOf('loss', LOSS_NAMES);
  oneOf('postprocess', ['paper', 'raw']);
  oneOf('rrrMode', ['spatial', 'colour', 'prompt']);
  oneOf('attributeForm', ['moment', 'free-axis']);
  oneOf('phase1', ['ce', 'attention']);
  oneOf('optimizer', ['sgd', 'adam']);
  oneOf('select', ['val-acc', 'val-score', 'val-rr']);
  const int = (k: keyof TrainConfig, min: number) => {
    const v = c[k] as number;
    if (!(Number.isInteger(v) && v >= min)) throw new UserError(`--${kebab(k)} must be an integer >= ${min}, not '${String(v)}'`);
  };
  const num = (k: keyof TrainConfig, min: number, strict = false) => {
    const v = c[k] as number;
    if (!(typeof v === 'number' && Number.isFinite(v) && (strict ? v > min : v >= min))) throw new UserError(`--${kebab(k)} must be a number ${strict ? '>' : '>='} ${min}, not '${String(v)}'`);
  };
  int('epochs', 1); int('seed', 0); int('dataSeed', 0); int('batch', 1); int('attentionEpoch', 0); int('lrStep', 1);
  num('lambda', 0); num('lr', 0, true); num('momentum', 0); num('weightDecay', 0); num('lrGamma', 0, true); num('temperature', 0, true);
  num('mapThreshold', 0); num('scoreBeta', 0);
  validatePrompts(c);
  if (c.limit !== null) int('limit', 1);
  if (c.evalLimit !== null) int('evalLimit', 1);
  if (c.attention === 'cam' && c.model !== 'lenet-gap' && c.method === 'align') {
    throw new UserError(`--attention cam needs a global-average-pooling model (lenet-gap); '${c.model}' has none: use gradcam or inputgrad`);
  }
}

/** The prompt options: texts, mask settings, and what needs them. */
function validatePrompts(c: TrainConfig): void {
  const text = (v: unknown, flag: string) => {
    if (typeof v !== 'string' || !v.trim()) throw new UserError(`${flag} must be a non-empty text, not ${JSON.stringify(v)}`);
  };
  if (c.prompt !== null) text(c.prompt, '--prompt');
  if (!Array.isArray(c.negativePrompts)) throw new UserError('--negative-prompt must be a list of texts');
  c.negativePrompts.forEach((p) => text(p, '--negative-prompt'));
  if (c.attributePrompt !== null) text(c.attributePrompt, '--attribute-prompt');
  if (!(typeof c.promptThreshold === 'number' && c.promptThreshold >= 0 && c.promptThreshold < 1)) {
    throw new UserError(`--prompt-threshold must be a number in [0, 1), not '${String(c.promptThreshold)}'`);
  }
  if (!(c.promptMass === null || (typeof c.promptMass === 'number' && c.promptMass > 0 && c.promptMass <= 1))) {
    throw new UserError(`--prompt-mass must be a number in (0, 1], not '${String(c.promptMass)}'`);
  }
  for (const k of ['promptDilate', 'negativeDilate'] as const) {
    if (!(Number.isInteger(c[k]) && c[k] >= 0)) throw new UserError(`--${kebab(k)} must be an integer >= 0, not '${String(c[k])}'`);
  }
  const spatial = c.prompt !== null || c.negativePrompts.length > 0;
  if (c.method === 'rrr' && c.rrrMode === 'prompt' && !spatial && c.attributePrompt === null) {
    throw new UserError('--rrr-mode prompt needs --prompt, --negative-prompt or --attribute-prompt');
  }
  if (PROMPT_GENERATORS.includes(c.maps) && !spatial) {
    throw new UserError(`--maps ${c.maps} makes maps from a prompt: give --prompt (e.g. "a digit")`);
  }
  if (c.method === 'align' && PROMPT_GENERATORS.includes(c.maps) && c.prompt === null) {
    throw new UserError(`--method align with --maps ${c.maps} needs --prompt: the positive prompt's maps are the targets`);
  }
  if (c.select === 'val-rr' && !spatial && c.attributePrompt === null) {
    throw new UserError('--select val-rr scores validation epochs with the prompts\' penalty: give --prompt, --negative-prompt or --attribute-prompt');
  }
}

function kebab(k: string): string {
  return k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}

/**
 * Keys whose values differ between two configs. A key one config lacks counts as its default
 * (PAPER_DEFAULTS), so run folders written before an option existed still resume when it is unset.
 */
export function configDiff(a: TrainConfig, b: TrainConfig): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const value = (c: TrainConfig, k: string) => JSON.stringify(k in c ? (c as any)[k] : (PAPER_DEFAULTS as any)[k]);
  return [...keys].filter((k) => value(a, k) !== value(b, k)).sort();
}
