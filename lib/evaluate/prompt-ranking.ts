import type { ImageSplit } from '../data/types';
import type { MapGenerator } from '../maps/types';
import { UserError } from '../util/errors';
import { createRng, permutation } from '../util/rng';
import { mapQuality, type MapQuality } from './map-quality';

export type PromptSpec = string | { prompt: string; background?: string[] };

export interface RankPromptsOptions {
  /** Background prompts for specs that give none. */
  background?: string[];
  /** Validation images to evaluate on (a seeded random sample; default 500, at most the split). */
  sample?: number;
  /** Seed of the sample (default 0). The same sample is used for every prompt. */
  seed?: number;
  dilate?: number;
  threshold?: number;
  onProgress?: (done: number, total: number, prompt: string) => void;
}

export interface PromptResult {
  rank: number;
  prompt: string;
  background: string[];
  /** digitMass - decoyMass (decoyMass counts 0 when the split has no spatial shortcut). */
  score: number;
  quality: MapQuality;
  seconds: number;
}

/** The seeded sample of validation images prompts are ranked on (sorted split indices). */
export function promptSampleIndices(count: number, sample: number, seed = 0): Int32Array {
  return permutation(count, createRng(`prompt-sample:${seed}`)).slice(0, Math.min(sample, count)).sort();
}

/**
 * Evaluates each prompt on a sample of the validation split and ranks them by
 * score = (mass share on the dilated digit) - (mass share on the decoy patch), higher first;
 * ties (within 1e-9) broken by IoU, then by the order given. Only the validation split is
 * accepted: the prompt is a choice, and the test set never selects anything.
 */
export async function rankPrompts(generator: MapGenerator, split: ImageSplit, prompts: PromptSpec[], opts: RankPromptsOptions = {}): Promise<PromptResult[]> {
  if (split.split !== 'val') throw new UserError(`prompts are ranked on the validation split only, not on ${split.split}`);
  if (prompts.length === 0) throw new UserError('no prompts to rank');
  const n = Math.min(opts.sample ?? 500, split.count);
  if (!(n > 0)) throw new UserError('the prompt-ranking sample is empty');
  const indices = promptSampleIndices(split.count, n, opts.seed);
  const results: Omit<PromptResult, 'rank'>[] = [];
  for (const spec of prompts) {
    const prompt = typeof spec === 'string' ? spec : spec.prompt;
    const background = (typeof spec === 'string' ? undefined : spec.background) ?? opts.background ?? [];
    const t0 = performance.now();
    const maps = await generator.generate({
      split, indices, prompt, background, seed: opts.seed,
      onProgress: opts.onProgress ? (d, t) => opts.onProgress!(d, t, prompt) : undefined,
    });
    const seconds = (performance.now() - t0) / 1000;
    const quality = mapQuality(maps, split, { indices, dilate: opts.dilate, threshold: opts.threshold });
    results.push({ prompt, background, score: quality.digitMass - (quality.decoyMass ?? 0), quality, seconds });
  }
  const order = results.map((r, i) => ({ r, i }));
  order.sort((a, b) => {
    if (Math.abs(a.r.score - b.r.score) > 1e-9) return b.r.score - a.r.score;
    if (Math.abs(a.r.quality.iou - b.r.quality.iou) > 1e-9) return b.r.quality.iou - a.r.quality.iou;
    return a.i - b.i;
  });
  return order.map(({ r }, k) => ({ rank: k + 1, ...r }));
}
