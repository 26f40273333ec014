import type { ShortcutDataset } from '../data/types';
import type { TrainConfig } from '../train/config';
import { resolveConfig } from '../train/config';
import { applyRecipe } from '../train/recipes';
import { buildPromptConstraint } from '../train/prompt-constraint';
import { prepareImages } from '../train/data';
import { applyCounterfactual, batchDonors, namedColours, type CounterfactualPlan } from '../counterfactual';
import { showImageGrid, type GridImage, type GridTile } from '../report/image-grid';
import { showTable } from '../report/table';
import { createRng } from '../util/rng';

/**
 * The language recipe's steps on a few training images, for the notebook that tells the story: the prompts' maps, the
 * region where nothing may matter, the colours the VLM names for an attribute, and the counterfactual images a step
 * trains on. The same functions `ltl train --recipe language` runs (lib/train/prompt-constraint.ts,
 * lib/counterfactual), on the first `count` training images, with one batch's draws.
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
  const c = await buildPromptConstraint(config, ds, count, Math.min(count, ds.val.count), size, { span: true });
  const images = prepareImages(ds.train, count, size);
  const regions = c.train ? Uint8Array.from(c.train, (w) => (w > 0 ? 1 : 0)) : undefined;
  const plan: CounterfactualPlan = { size, regions, colours: c.span ? namedColours(c.span) : undefined };
  const varied = images.slice();
  const rows = Int32Array.from({ length: count }, (_, i) => i);
  const rng = createRng(`${seed}:augment:example`);
  applyCounterfactual(plan, varied, rows, count, batchDonors(images, rows, count, rng), 1, rng);
  return {
    dataset: ds.name, prompts, count, size, images, varied, regions,
    ...(c.span ? { colours: { values: c.span.values, counts: c.span.colours.map((g) => g.length), swatches: c.span.colours } } : {}),
  };
}

/** An image of the net's input scale ([-1, 1], [S, S, 3]) as a grid image. */
function inputImage(x: Float32Array, k: number, size: number): GridImage {
  const n = size * size * 3;
  const pixels = Uint8Array.from(x.subarray(k * n, (k + 1) * n), (v) => Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255));
  return { pixels, width: size, height: size, channels: 3 };
}

/** Rows: the images, the region where nothing may matter (white: redrawn), the counterfactual images. */
export async function showCounterfactuals(ex: CounterfactualExamples, caption?: string): Promise<void> {
  const ks = Array.from({ length: ex.count }, (_, k) => k);
  const rows: GridTile[][] = [ks.map((k) => ({ image: inputImage(ex.images, k, ex.size) }))];
  const labels = ['image'];
  if (ex.regions) {
    const hw = ex.size * ex.size;
    rows.push(ks.map((k) => ({ map: { data: ex.regions!.subarray(k * hw, (k + 1) * hw), width: ex.size, height: ex.size } })));
    labels.push('may be redrawn');
  }
  rows.push(ks.map((k) => ({ image: inputImage(ex.varied, k, ex.size) })));
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
