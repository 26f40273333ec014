import type { ShortcutDataset } from '../data/types';
import type { TrainConfig } from '../train/config';
import { resolveConfig } from '../train/config';
import { applyRecipe } from '../train/recipes';
import { buildPromptConstraint } from '../train/prompt-constraint';
import { prepareImages } from '../train/data';
import { buildCounterfactuals, counterfactualBatch } from '../train/counterfactuals';
import { netInputImage, showImageGrid, type GridImage, type GridTile } from '../report/image-grid';
import { showTable } from '../report/table';

/**
 * The language recipe's steps on a few training images, for the notebook that tells the story: the prompts' maps, the
 * region where nothing may matter, the colours the VLM names for an attribute, and the counterfactual images a step
 * trains on. The same functions `ltl train --recipe language` runs (lib/train/prompt-constraint.ts,
 * lib/train/counterfactuals.ts: the recipe's redraw, swap included), on the first `count` training images as one batch.
 */
export type RecipePrompts = Pick<Partial<TrainConfig>, 'prompt' | 'negativePrompts' | 'attributePrompt'>;

export interface CounterfactualExamples {
  dataset: string;
  prompts: RecipePrompts;
  count: number;
  size: number;
  /** The images as the net reads them [count, S, S, 3] in [-1, 1], and the same images varied as a step varies them. */
  images: Float32Array;
  varied: Float32Array;
  /** 1 where a pixel may be redrawn [count, S, S]; undefined without a region prompt. */
  regions?: Uint8Array;
  /** The attribute's value prompts and how many colours the VLM names with each; undefined without an attribute prompt. */
  colours?: { values: string[]; counts: number[]; swatches: Array<Array<[number, number, number]>> };
}

/** The recipe's counterfactuals of the first `count` training images (maps and colours cached as training caches them). */
export async function counterfactualExamples(ds: ShortcutDataset, prompts: RecipePrompts, count = 8, seed = 1): Promise<CounterfactualExamples> {
  const config = resolveConfig(applyRecipe('language', { dataset: ds.name, ...prompts, seed }));
  const size = 32;
  const nVal = Math.min(count, ds.val.count);
  const c = await buildPromptConstraint(config, ds, count, nVal, size, { span: true });
  const images = prepareImages(ds.train, count, size);
  const cf = buildCounterfactuals(config, ds, c, { nTrain: count, nVal, size, valX: prepareImages(ds.val, nVal, size), trainX: images, batch: count });
  const rows = Int32Array.from({ length: count }, (_, i) => i);
  // the batch step's memory is reused by its next batch: a copy
  const varied = counterfactualBatch(cf.train!, rows, count, seed, 'example').slice();
  const regions = cf.train!.plan.regions;
  return {
    dataset: ds.name, prompts, count, size, images, varied, regions,
    ...(c.span ? { colours: { values: c.span.values, counts: c.span.colours.map((g) => g.length), swatches: c.span.colours } } : {}),
  };
}

/** Rows: the images, the region where nothing may matter (white: redrawn), the counterfactual images. */
export async function showCounterfactuals(ex: CounterfactualExamples, caption?: string): Promise<void> {
  const ks = Array.from({ length: ex.count }, (_, k) => k);
  const rows: GridTile[][] = [ks.map((k) => ({ image: netInputImage(ex.images, ex.size, k) }))];
  const labels = ['image'];
  if (ex.regions) {
    const hw = ex.size * ex.size;
    rows.push(ks.map((k) => ({ map: { data: ex.regions!.subarray(k * hw, (k + 1) * hw), width: ex.size, height: ex.size } })));
    labels.push('may be redrawn');
  }
  rows.push(ks.map((k) => ({ image: netInputImage(ex.varied, ex.size, k) })));
  labels.push('counterfactual');
  await showImageGrid(rows, { scale: 3, rowLabels: labels, normalize: false, caption: caption ?? `${ex.dataset}: what a step of the language recipe trains on` });
}

/** The colours the VLM names with each value word of the attribute prompt: a swatch row per word, and their counts. */
export async function showNamedColours(ex: CounterfactualExamples, perValue = 12): Promise<void> {
  if (!ex.colours) return;
  const swatch = (c: readonly number[]): GridImage => ({
    pixels: Uint8Array.from({ length: 6 * 6 * 3 }, (_, i) => Math.round(255 * c[i % 3])), width: 6, height: 6, channels: 3,
  });
  const used = ex.colours.values.map((v, i) => ({ v, g: ex.colours!.swatches[i] })).filter((x) => x.g.length > 0);
  const rows: GridTile[][] = used.map(({ g }) => Array.from({ length: perValue }, (_, j) => (j < g.length ? { image: swatch(g[Math.floor((j * g.length) / perValue)]) } : {})));
  await showImageGrid(rows, { scale: 3, rowLabels: used.map((x) => x.v), caption: 'colours the VLM names with each of its colour words (a sample of each)' });
  showTable(ex.colours.values.map((v, i) => ({ 'value prompt': v, 'colours it names': ex.colours!.counts[i] })), { caption: 'the attribute\'s span' });
}
