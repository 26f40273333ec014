import * as tf from '@tensorflow/tfjs';
import { DIGIT_NAMES } from '../data/bases/mnist';
import { FASHION_CLASSES } from '../data/bases/fashion-mnist';
import type { GrayImages, ImageSplit } from '../data/types';
import { mapQuality } from './map-quality';
import type { MapBatch } from '../maps/types';
import { UserError } from '../util/errors';
import type { MapDefaults } from '../vlm/embedded/checkpoint';
import { FALLBACK_BACKGROUND, promptMaps, splitImages } from '../vlm/embedded/generator';
import type { VlmModel } from '../vlm/embedded/model';
import { TextEncoder } from '../vlm/embedded/text-encoder';
import type { Vocabulary } from '../vlm/embedded/tokenizer';

/** The gates of the map issue (fractions). */
export const GATES = { zeroShotAccuracy: 0.9, digitPromptDigitMass: 0.8, digitPromptDecoyMass: 0.05, squarePromptPatchMass: 0.5 } as const;
export const ZERO_SHOT_TEMPLATE = 'a handwritten {}';
export const DIGIT_PROMPT = 'a digit';
export const SQUARE_PROMPT = 'a square';

/** Zero-shot classification: the class whose prompt ("a handwritten seven") is nearest the image embedding. */
export function zeroShotPredict(model: VlmModel, vocab: Vocabulary, split: ImageSplit, idx: ArrayLike<number>, template = ZERO_SHOT_TEMPLATE, classes: readonly string[] = DIGIT_NAMES): Int32Array {
  const pred = new Int32Array(idx.length);
  const txt = tf.tidy(() => model.encodeTexts(TextEncoder.bagOfTexts(vocab, classes.map((c) => template.replace('{}', c)), model.config.maxLen)));
  try {
    for (let s = 0; s < idx.length; s += 256) {
      const part = Array.from({ length: Math.min(256, idx.length - s) }, (_, k) => idx[s + k]);
      const am = tf.tidy(() => tf.argMax(tf.matMul(model.encodeImages(splitImages(split, part)).image, txt, false, true), 1));
      pred.set(am.dataSync() as Int32Array, s);
      am.dispose();
    }
  } finally {
    txt.dispose();
  }
  return pred;
}

export interface PromptMass { prompt: string; digitMass: number; decoyMass: number }

export interface VlmEvaluation {
  split: string;
  images: number;
  background: string[];
  temperature: number;
  zeroShotAccuracy: number;
  digitPromptDigitMass: number;
  digitPromptDecoyMass: number;
  squarePromptPatchMass: number;
  /** Share of the image area inside the dilated digit masks and the decoy patches (what a flat map scores). */
  uniformDigitMass: number;
  uniformDecoyMass: number;
  mapsPerSecond: number;
  gates: Record<keyof typeof GATES, boolean>;
  prompts?: PromptMass[];
}

export interface EvaluateOptions {
  limit?: number;
  background?: string[];
  temperature?: number;
  /** Extra prompts to report digit / decoy mass for. */
  prompts?: string[];
  /** Dilation of the digit masks, in pixels (2 by the definition). */
  dilate?: number;
}

/**
 * The figures from maps and predictions already made (pure, so a hand-made case can test it):
 * zero-shot accuracy, "a digit" mass on the dilated digit and on the decoy patch, "a square" mass on the
 * patch (mass shares by lib/evaluate/map-quality's mapQuality), and which gates pass.
 */
export function vlmMetrics(
  split: ImageSplit, idx: ArrayLike<number>, predictions: ArrayLike<number>, digitMaps: MapBatch, squareMaps: MapBatch, dilate = 2,
): Pick<VlmEvaluation, 'images' | 'zeroShotAccuracy' | 'digitPromptDigitMass' | 'digitPromptDecoyMass' | 'squarePromptPatchMass' | 'uniformDigitMass' | 'uniformDecoyMass' | 'gates'> {
  if (!split.shortcutMasks) throw new UserError(`split ${split.split} has no decoy-patch masks: evaluate the VLM on a spatial-shortcut dataset such as decoymnist`);
  const n = idx.length;
  let correct = 0;
  for (let k = 0; k < n; k++) if (predictions[k] === split.labels[idx[k]]) correct++;
  const dq = mapQuality(digitMaps, split, { indices: idx, dilate });
  const sq = mapQuality(squareMaps, split, { indices: idx, dilate });
  const r = {
    images: n,
    zeroShotAccuracy: n ? correct / n : NaN,
    digitPromptDigitMass: dq.digitMass,
    digitPromptDecoyMass: dq.decoyMass ?? NaN,
    squarePromptPatchMass: sq.decoyMass ?? NaN,
    uniformDigitMass: dq.uniformDigitMass,
    uniformDecoyMass: dq.uniformDecoyMass ?? NaN,
  };
  return {
    ...r,
    gates: {
      zeroShotAccuracy: r.zeroShotAccuracy >= GATES.zeroShotAccuracy,
      digitPromptDigitMass: r.digitPromptDigitMass >= GATES.digitPromptDigitMass,
      digitPromptDecoyMass: r.digitPromptDecoyMass <= GATES.digitPromptDecoyMass,
      squarePromptPatchMass: r.squarePromptPatchMass >= GATES.squarePromptPatchMass,
    },
  };
}

/**
 * Evaluates the model on a split with digit masks and decoy-patch masks (DecoyMNIST): zero-shot accuracy,
 * and where the maps of "a digit" and "a square" put their mass. Use the test split only to report.
 */
export function evaluateVlm(vlm: { model: VlmModel; vocab: Vocabulary; meta?: { mapDefaults?: MapDefaults } }, split: ImageSplit, o: EvaluateOptions = {}): VlmEvaluation {
  if (!split.shortcutMasks) throw new UserError(`split ${split.split} has no decoy-patch masks: evaluate the VLM on a spatial-shortcut dataset such as decoymnist`);
  const { model, vocab } = vlm;
  const n = Math.min(o.limit ?? split.count, split.count);
  const idx = Array.from({ length: n }, (_, i) => i);
  const background = o.background ?? vlm.meta?.mapDefaults?.background ?? FALLBACK_BACKGROUND;
  const temperature = o.temperature ?? vlm.meta?.mapDefaults?.temperature ?? 1;
  const dilate = o.dilate ?? 2;
  const pred = zeroShotPredict(model, vocab, split, idx);
  const { r, known } = evaluateSetting(vlm, split, idx, pred, background, temperature, dilate);
  if (o.prompts?.length) {
    r.prompts = o.prompts.map((prompt) => {
      const maps = known.get(prompt) ?? promptMaps(model, vocab, split, idx, { prompt, background, temperature });
      const q = mapQuality(maps, split, { indices: idx, dilate });
      return { prompt, digitMass: q.digitMass, decoyMass: q.decoyMass ?? NaN };
    });
  }
  return r;
}

/** The figures of one map setting, given the zero-shot predictions (which no map setting changes). */
function evaluateSetting(
  vlm: { model: VlmModel; vocab: Vocabulary }, split: ImageSplit, idx: number[], pred: ArrayLike<number>,
  background: string[], temperature: number, dilate: number,
): { r: VlmEvaluation; known: Map<string, MapBatch> } {
  const t0 = Date.now();
  const dm = promptMaps(vlm.model, vlm.vocab, split, idx, { prompt: DIGIT_PROMPT, background, temperature });
  const mapsPerSecond = idx.length / Math.max(1e-3, (Date.now() - t0) / 1000);
  const sm = promptMaps(vlm.model, vlm.vocab, split, idx, { prompt: SQUARE_PROMPT, background, temperature });
  const r: VlmEvaluation = { split: split.split, background, temperature, mapsPerSecond, ...vlmMetrics(split, idx, pred, dm, sm, dilate) };
  return { r, known: new Map([[DIGIT_PROMPT, dm], [SQUARE_PROMPT, sm]]) };
}

/**
 * Chooses the map temperature and background prompts on a validation split (never test): the setting
 * that maximises digit mass - decoy mass of "a digit" plus patch mass of "a square".
 */
export function selectMapDefaults(vlm: { model: VlmModel; vocab: Vocabulary }, valSplit: ImageSplit, limit = 500): MapDefaults & { score: number } {
  if (valSplit.split !== 'val') throw new UserError(`map defaults are chosen on the validation split only, not on ${valSplit.split}`);
  const backgrounds = [FALLBACK_BACKGROUND, [...FALLBACK_BACKGROUND, 'noise', 'grey']];
  const idx = Array.from({ length: Math.min(limit, valSplit.count) }, (_, i) => i);
  const pred = zeroShotPredict(vlm.model, vlm.vocab, valSplit, idx);
  let best: (MapDefaults & { score: number }) | undefined;
  for (const background of backgrounds) {
    for (const temperature of [1, 0.5, 0.3, 0.2]) {
      const e = evaluateSetting(vlm, valSplit, idx, pred, background, temperature, 2).r;
      const score = e.digitPromptDigitMass - e.digitPromptDecoyMass + e.squarePromptPatchMass;
      if (!best || score > best.score) best = { background, temperature, score };
    }
  }
  return best!;
}

/** The prompts the report compares. */
export const COMPARE_PROMPTS = [
  'a digit', 'a number', 'a handwritten digit', 'the digit', 'a white digit', 'a seven', 'writing',
  'handwriting', 'a numeral', 'an object', 'a shape', 'a square', 'a patch', 'a white square', 'a dot', 'a bar',
];

/**
 * The broad corpus's gates (issue 16), on test images the model never saw: Fashion-MNIST zero-shot
 * accuracy over the ten class names; on DecoyMNIST-hard (a frame painted along the border), "a digit" on
 * the dilated digit and on the frame, "a frame" on the frame; on Fashion-MNIST with the same frame,
 * "clothing" on the dilated item.
 */
export const BROAD_GATES = {
  fashionZeroShotAccuracy: 0.85, hardDigitPromptDigitMass: 0.9, hardDigitPromptFrameMass: 0.05, framePromptFrameMass: 0.6, garmentPromptObjectMass: 0.9,
} as const;
export const FASHION_ZERO_SHOT_TEMPLATE = 'a {}';
export const FRAME_PROMPT = 'a frame';
export const GARMENT_PROMPT = 'clothing';

/** The test images of the broad gates. */
export interface BroadSplits {
  /** DecoyMNIST-hard test (shortcut masks: the frame). */
  decoyHard: ImageSplit;
  /** Plain Fashion-MNIST test images. */
  fashion: ImageSplit;
  /** Fashion-MNIST test images with the frame decoy (decoyfashion-hard). */
  fashionFrame: ImageSplit;
}

export interface BroadEvaluation {
  images: number;
  background: string[];
  temperature: number;
  fashionZeroShotAccuracy: number;
  hardDigitPromptDigitMass: number;
  hardDigitPromptFrameMass: number;
  framePromptFrameMass: number;
  /** The same with "the border" (the issue allows either phrasing). */
  borderPromptFrameMass: number;
  garmentPromptObjectMass: number;
  garmentPromptFrameMass: number;
  gates: Record<keyof typeof BROAD_GATES, boolean>;
}

/** A base set's grey images as a test split (object masks: grey > 10), for zero-shot accuracy on plain images. */
export function plainSplit(images: GrayImages): ImageSplit {
  const digitMasks = new Uint8Array(images.images.length);
  for (let i = 0; i < digitMasks.length; i++) digitMasks[i] = images.images[i] > 10 ? 1 : 0;
  return {
    split: 'test', count: images.count, height: images.height, width: images.width, channels: 1, images: images.images,
    labels: images.labels, digitMasks, sourceIndex: Int32Array.from({ length: images.count }, (_, i) => i),
  };
}

/** The broad gates' figures on the first `limit` images of each split (use test splits only to report). */
export function evaluateBroad(vlm: { model: VlmModel; vocab: Vocabulary; meta?: { mapDefaults?: MapDefaults } }, splits: BroadSplits, o: EvaluateOptions = {}): BroadEvaluation {
  const { model, vocab } = vlm;
  const background = o.background ?? vlm.meta?.mapDefaults?.background ?? FALLBACK_BACKGROUND;
  const temperature = o.temperature ?? vlm.meta?.mapDefaults?.temperature ?? 1;
  const dilate = o.dilate ?? 2;
  const first = (s: ImageSplit) => Array.from({ length: Math.min(o.limit ?? s.count, s.count) }, (_, i) => i);
  const mass = (split: ImageSplit, idx: number[], prompt: string) => mapQuality(promptMaps(model, vocab, split, idx, { prompt, background, temperature }), split, { indices: idx, dilate });
  const fi = first(splits.fashion);
  const pred = zeroShotPredict(model, vocab, splits.fashion, fi, FASHION_ZERO_SHOT_TEMPLATE, FASHION_CLASSES);
  let correct = 0;
  fi.forEach((i, k) => (correct += pred[k] === splits.fashion.labels[i] ? 1 : 0));
  const hi = first(splits.decoyHard), gi = first(splits.fashionFrame);
  const digit = mass(splits.decoyHard, hi, DIGIT_PROMPT);
  const frame = mass(splits.decoyHard, hi, FRAME_PROMPT);
  const border = mass(splits.decoyHard, hi, 'the border');
  const garment = mass(splits.fashionFrame, gi, GARMENT_PROMPT);
  const r = {
    images: hi.length,
    background, temperature,
    fashionZeroShotAccuracy: fi.length ? correct / fi.length : NaN,
    hardDigitPromptDigitMass: digit.digitMass,
    hardDigitPromptFrameMass: digit.decoyMass ?? NaN,
    framePromptFrameMass: frame.decoyMass ?? NaN,
    borderPromptFrameMass: border.decoyMass ?? NaN,
    garmentPromptObjectMass: garment.digitMass,
    garmentPromptFrameMass: garment.decoyMass ?? NaN,
  };
  return { ...r, gates: broadGates(r) };
}

/** Which broad gates figures pass ("a frame" or "the border": the issue accepts either phrasing). */
export function broadGates(r: Omit<BroadEvaluation, 'gates' | 'images' | 'background' | 'temperature'>): Record<keyof typeof BROAD_GATES, boolean> {
  return {
    fashionZeroShotAccuracy: r.fashionZeroShotAccuracy >= BROAD_GATES.fashionZeroShotAccuracy,
    hardDigitPromptDigitMass: r.hardDigitPromptDigitMass >= BROAD_GATES.hardDigitPromptDigitMass,
    hardDigitPromptFrameMass: r.hardDigitPromptFrameMass <= BROAD_GATES.hardDigitPromptFrameMass,
    framePromptFrameMass: Math.max(r.framePromptFrameMass, r.borderPromptFrameMass) >= BROAD_GATES.framePromptFrameMass,
    garmentPromptObjectMass: r.garmentPromptObjectMass >= BROAD_GATES.garmentPromptObjectMass,
  };
}
