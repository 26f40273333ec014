import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '../data/types';
import { createModel, initialWeights, modelInputSize } from '../models';
import { readCheckpoint } from '../train/checkpoint';
import { runWeightsFile } from '../train/run-folder';
import { prepareImages } from '../train/data';
import type { TrainConfig } from '../train/config';
import { rrrInputGradient } from '../losses/rrr';
import { resizeBilinearRaw } from '../maps/postprocess';
import { dilateMask } from '../maps/morphology';
import { subsetSplit } from '../data/subset';

/**
 * Where a trained net's input gradients are, at the input's own resolution (the pictures and the numbers of
 * notebooks 04 and 05). g is the gradient the RRR penalties constrain and the validation excluded share measures:
 * d/dx of the summed log-probabilities of every class (lib/losses/rrr.ts), on the model's 32x32 input grid. Per pixel
 * its energy |g_p|^2, and the part of it off the grey axis (|g_p|^2 - (sum_c g_pc)^2 / 3: what reacts to hue, not
 * intensity). Test images are only measured here, never used to choose anything.
 */
export interface InputGradients {
  count: number;
  /** The model's input grid (32 for LeNet-GAP). */
  size: number;
  /** [count, size, size]: |g_p|^2. */
  energy: Float32Array;
  /** [count, size, size]: the energy off the grey axis (colour). */
  offGrey: Float32Array;
}

/** Which weights of a run folder: its validation-selected epoch (lib/train/run-folder's runWeightsFile) unless 'final'. */
export type RunWeights = 'initial' | { runDir: string; epoch?: 'selected' | 'final' };

/** The weights file a run folder's figures use (see RunWeights). */
export { runWeightsFile };

/** The epoch (0-based) whose weights a run folder's figures use. */
export function runWeightsEpoch(runDir: string, epoch: 'selected' | 'final' = 'selected'): number {
  return (readCheckpoint(runWeightsFile(runDir, epoch)).meta as { epoch: number }).epoch;
}

export function inputGradients(config: Pick<TrainConfig, 'model' | 'seed'>, weights: RunWeights, split: ImageSplit, indices: ArrayLike<number>): InputGradients {
  const w = weights === 'initial' ? initialWeights(config.model, config.seed) : (readCheckpoint(runWeightsFile(weights.runDir, weights.epoch)).state.weights as ReturnType<typeof initialWeights>);
  const model = createModel(config.model, config.seed, w);
  const size = modelInputSize(config.model);
  const sub = subsetSplit(split, indices);
  const energy = new Float32Array(sub.count * size * size);
  const offGrey = new Float32Array(sub.count * size * size);
  const images = prepareImages(sub, sub.count, size);
  const batch = 100;
  try {
    for (let i = 0; i < sub.count; i += batch) {
      const b = Math.min(batch, sub.count - i);
      const g = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(i * size * size * 3, (i + b) * size * size * 3), [b, size, size, 3]);
        return rrrInputGradient(model, x, true);
      });
      const d = g.dataSync() as Float32Array;
      g.dispose();
      for (let p = 0; p < b * size * size; p++) {
        const r = d[3 * p], gg = d[3 * p + 1], bl = d[3 * p + 2];
        const e = r * r + gg * gg + bl * bl;
        const s = r + gg + bl;
        energy[i * size * size + p] = e;
        offGrey[i * size * size + p] = Math.max(0, e - (s * s) / 3);
      }
    }
  } finally {
    model.dispose();
  }
  return { count: sub.count, size, energy, offGrey };
}

/** Image k's energy map (or its off-grey part) as a map batch entry for the image grids. */
export function gradientMap(g: InputGradients, k: number, part: 'energy' | 'offGrey' = 'energy'): { data: Float32Array; width: number; height: number } {
  const n = g.size * g.size;
  return { data: (part === 'energy' ? g.energy : g.offGrey).subarray(k * n, (k + 1) * n), width: g.size, height: g.size };
}

/** 0/1 masks [count, h, w] moved onto the input grid (bilinear; a pixel at least half covered counts). */
function masksOnGrid(masks: Uint8Array, count: number, h: number, w: number, size: number): Uint8Array {
  const r = resizeBilinearRaw(masks, count, h, w, 1, size, size);
  const out = new Uint8Array(r.length);
  for (let i = 0; i < r.length; i++) out[i] = r[i] >= 0.5 ? 1 : 0;
  return out;
}

/** Shares of input-gradient energy over some images (energy summed over images, then divided). */
export interface GradientShares {
  images: number;
  /** On the split's shortcut pixels (a decoy patch or frame); null for a non-spatial shortcut. */
  onShortcut: number | null;
  /** Off the grey axis (hue), over all pixels; null for grey images. */
  offGrey: number | null;
  /** On the object: the digit mask dilated by 2 px (as the map quality metric counts "on the digit"). */
  onDigit: number;
}

export function gradientShares(g: InputGradients, split: ImageSplit, indices: ArrayLike<number>): GradientShares {
  const { height: h, width: w } = split;
  const hw = h * w;
  const idx = Array.from(indices);
  const digit = new Uint8Array(idx.length * hw);
  const tmp = new Uint8Array(hw), out = new Uint8Array(hw);
  idx.forEach((i, k) => digit.set(dilateMask(split.digitMasks.subarray(i * hw, (i + 1) * hw), h, w, 2, out, tmp), k * hw));
  const digitGrid = masksOnGrid(digit, idx.length, h, w, g.size);
  let shortcutGrid: Uint8Array | null = null;
  if (split.shortcutMasks) {
    const s = new Uint8Array(idx.length * hw);
    idx.forEach((i, k) => s.set(split.shortcutMasks!.subarray(i * hw, (i + 1) * hw), k * hw));
    shortcutGrid = masksOnGrid(s, idx.length, h, w, g.size);
  }
  let tot = 0, onS = 0, onD = 0, off = 0;
  for (let p = 0; p < g.energy.length; p++) {
    const e = g.energy[p];
    tot += e; off += g.offGrey[p];
    if (digitGrid[p]) onD += e;
    if (shortcutGrid?.[p]) onS += e;
  }
  const share = (v: number) => (tot > 0 ? v / tot : 0);
  return { images: idx.length, onShortcut: shortcutGrid ? share(onS) : null, offGrey: split.channels === 3 ? share(off) : null, onDigit: share(onD) };
}

/**
 * The share of a net's input-gradient energy on the shortcut, on test images: on the shortcut's pixels for a
 * spatial shortcut (decoy patch or frame), off the grey axis for a colour shortcut. An objective reading (it uses
 * the data builder's masks), for reporting only; the training-time measure with prompts alone is valExcludedShare.
 */
export function shortcutShare(s: GradientShares): number {
  return s.onShortcut ?? s.offGrey ?? 0;
}

/** What shortcutShare measures on a split, in words. */
export function shortcutShareLabel(split: ImageSplit): string {
  return split.shortcutMasks ? 'on the shortcut pixels' : split.channels === 3 ? 'off the grey axis (colour)' : 'none (no shortcut)';
}
