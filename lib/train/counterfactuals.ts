import type { ShortcutDataset } from '../data/types';
import type { TrainConfig } from './config';
import type { PromptConstraint } from './prompt-constraint';
import { prepareRrrMasks } from './data';
import { dilateMask } from '../maps/morphology';
import { UserError } from '../util/errors';
import { createRng } from '../util/rng';
import { CounterfactualBatcher, counterfactualSplit, namedColours, randomColours, VAL_CF_SEED, type CounterfactualPlan } from '../counterfactual';

/**
 * The run's counterfactuals (lib/counterfactual): what its training images are varied by (--augment) and the
 * counterfactual validation images (--select val-cf, and the val-cf accuracy a run with prompts records: with an
 * attribute prompt, only when it augments by the prompts or selects by val-cf, since only then are the VLM's colours read).
 *  - 'prompt': the language twin. Regions: where the prompt constraint puts weight (off the positive prompt's region,
 *    on negative prompts' regions; the training mask settings). Colours: those the VLM names with the attribute
 *    prompt's words (lib/vlm/embedded/attribute-span.ts).
 *  - 'annotation': the reference twin. The dataset's annotated shortcut region dilated by 1 pixel when it has one,
 *    else a hand-coded random recolouring (lib/counterfactual/colours.ts).
 * Counterfactual validation always follows the prompts, with one mask setting for every run (CF_MEASURE_MASKS), and
 * reads validation images only.
 */
export interface RunCounterfactuals {
  /** The training augmentation; undefined for --augment none. `batcher` holds the training images and regions and
   * makes each step's batch (lib/counterfactual/kernel.ts). */
  train?: { plan: CounterfactualPlan; share: number; swap: boolean; batcher: CounterfactualBatcher };
  /** Counterfactual validation images [nVal, S, S, 3]; undefined when the prompts cannot say what to vary on
   * validation images (a map file holds training maps only; an attribute prompt without its span). */
  val?: Float32Array;
  info: CounterfactualInfo | null;
}

/** What a run records about its counterfactuals (result.json `counterfactual`). */
export interface CounterfactualInfo {
  augment: TrainConfig['augment'];
  share: number;
  redraw: TrainConfig['augmentRedraw'];
  /** Share of training pixels that may be redrawn (mean over images; null without regions). */
  trainFreeShare: number | null;
  /** How training images are recoloured: the VLM's named colours, a hand-coded random colour, or not at all. */
  colours: 'named' | 'random' | null;
  /** Counterfactual validation: its seed and what it varies (regions as a background swap); null when not measured. */
  valCf: { seed: string; freeShare: number | null; redraw: 'background swap' | null; colours: boolean } | null;
}

type CfConfig = Pick<TrainConfig, 'augment' | 'augmentShare' | 'augmentRedraw' | 'attributePrompt' | 'select'>;

export function buildCounterfactuals(
  c: CfConfig, ds: Pick<ShortcutDataset, 'name' | 'train'>, prompts: PromptConstraint | undefined,
  d: { nTrain: number; nVal: number; size: number; valX: Float32Array; trainX: Float32Array; batch: number },
): RunCounterfactuals {
  const hw = d.size * d.size;
  let train: { plan: CounterfactualPlan; share: number } | undefined;
  let colours: CounterfactualInfo['colours'] = null;
  if (c.augment === 'prompt') {
    if (!prompts) throw new UserError('--augment prompt varies what the prompts name: give --prompt, --negative-prompt or --attribute-prompt');
    const regions = prompts.train ? freeRegions(prompts.train) : undefined;
    const span = c.attributePrompt !== null ? prompts.span : undefined;
    if (c.attributePrompt !== null && !span) throw new Error('the attribute span was not read (buildPromptConstraint needs span: true)');
    if (span) colours = 'named';
    train = { plan: { size: d.size, regions, colours: span ? namedColours(span) : undefined }, share: c.augmentShare };
  } else if (c.augment === 'annotation') {
    const masks = prepareRrrMasks(ds.train, d.nTrain, d.size);
    if (masks) {
      train = { plan: { size: d.size, regions: dilateEach(freeRegions(masks), d.nTrain, d.size, 1) }, share: c.augmentShare };
    } else {
      colours = 'random';
      train = { plan: { size: d.size, colours: randomColours() }, share: c.augmentShare };
    }
  }

  let val: Float32Array | undefined;
  let valInfo: CounterfactualInfo['valCf'] = null;
  const valRegions = prompts?.valCounterfactual ? freeRegions(prompts.valCounterfactual) : undefined;
  const valSpan = c.attributePrompt !== null ? prompts?.span : undefined;
  const measurable = !!prompts && (!prompts.train || !!valRegions) && (c.attributePrompt === null || !!valSpan);
  if (measurable && (valRegions || valSpan)) {
    val = counterfactualSplit({ size: d.size, regions: valRegions, colours: valSpan ? namedColours(valSpan) : undefined }, d.valX, d.nVal);
    valInfo = { seed: VAL_CF_SEED, freeShare: valRegions ? meanOf(valRegions) : null, redraw: valRegions ? 'background swap' : null, colours: !!valSpan };
  }
  if (c.select === 'val-cf' && !val) {
    throw new UserError('--select val-cf needs validation maps of the prompts (a map file holds training maps only)');
  }
  const batcher = train ? new CounterfactualBatcher(d.trainX, d.nTrain, d.size, train.plan.regions, d.batch) : undefined;
  const info: CounterfactualInfo | null = train || valInfo ? {
    augment: c.augment, share: c.augmentShare, redraw: c.augmentRedraw,
    trainFreeShare: train?.plan.regions ? meanOf(train.plan.regions.subarray(0, d.nTrain * hw)) : null,
    colours, valCf: valInfo,
  } : null;
  return { train: train && batcher ? { ...train, swap: c.augmentRedraw === 'background', batcher } : undefined, val, info };
}

/**
 * A training batch, varied (RunCounterfactuals.train): the training rows `rows`, each image varied with the run's
 * share; draws from the run's seed and the batch's key, so a resumed run draws as an uninterrupted one. The images are
 * a view of the batch step's memory, valid until its next batch.
 */
export function counterfactualBatch(train: NonNullable<RunCounterfactuals['train']>, rows: ArrayLike<number>, n: number, seed: number, key: string): Float32Array {
  return train.batcher.batchView(rows, n, train.share, train.plan.colours, createRng(`${seed}:augment:${key}`), train.swap);
}

/** 1 where a weight is > 0 (a pixel the prompts say nothing may come from). */
function freeRegions(weights: Float32Array): Uint8Array {
  const out = new Uint8Array(weights.length);
  for (let i = 0; i < weights.length; i++) out[i] = weights[i] > 0 ? 1 : 0;
  return out;
}

function dilateEach(masks: Uint8Array, count: number, size: number, r: number): Uint8Array {
  const hw = size * size, out = new Uint8Array(masks.length), tmp = new Uint8Array(hw);
  for (let i = 0; i < count; i++) dilateMask(masks.subarray(i * hw, (i + 1) * hw), size, size, r, out.subarray(i * hw, (i + 1) * hw), tmp);
  return out;
}

function meanOf(a: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : 0;
}
