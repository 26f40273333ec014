import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '../../data/types';
import { activeBackend, initBackend } from '../../backend';
import { UserError } from '../../util/errors';
import { canonicalJson } from '../../util/canonical-json';
import { sha256 } from '../../util/hash';
import { readSealedJson, writeSealedJson } from '../../util/sealed';
import { TextEncoder } from './text-encoder';
import { attributeSampleIndices, parseAttributePrompt, vlmCheckpointHash } from './attribute';
import type { LoadedVlm } from './checkpoint';

/**
 * What an attribute prompt's words span, read from the embedded VLM itself: for colour, the colours the model names
 * with each of its colour words. Counterfactual augmentation (lib/counterfactual) recolours training images with
 * them, so the colours come from language, not from a palette written for a dataset.
 *
 * How: a grid of candidate colours covering the RGB cube (LEVELS steps per channel, black left out) is painted on a
 * seeded sample of training images, each keeping its own stroke (per pixel its largest channel over the image's
 * largest; lib/counterfactual/recolour.ts paints the same way). For each candidate the model's belief over the value
 * prompts ("red a digit", "green a digit", ...) is
 *     p(v | x) = softmax_v( s * cos(image(x), text(value prompt v)) ),
 * s the model's contrastive logit scale (as lib/vlm/embedded/attribute.ts reads it), averaged over the sample. A
 * colour belongs to the value the model names it with, if it names it with mean probability >= CONFIDENCE; colours
 * the model does not name confidently belong to none. Lightness comes with it: a dark red the model still calls red
 * is red.
 */

/** Steps per channel of the candidate grid: 0, 1/7, ..., 1 (511 colours without black). */
export const SPAN_LEVELS = 8;
/** Sample of training images each candidate colour is painted on, and its seed. */
export const SPAN_SAMPLE = 16;
export const SPAN_SEED = 0;
/** Mean probability at which a colour counts as named by a value word. */
export const SPAN_CONFIDENCE = 0.5;
/** Version of this computation (part of the cache key). */
const SPAN_VERSION = 1;

export interface AttributeSpan {
  attribute: string;
  /** The value prompts the model chose among ("red a digit", ...). */
  values: string[];
  /** Per value prompt, the colours it names (RGB in [0, 1], each channel a multiple of 1 / (levels - 1)). */
  colours: Array<Array<[number, number, number]>>;
  levels: number;
  images: number;
  seed: number;
  confidence: number;
  /** Candidates the model named with none of the values confidently. */
  unnamed: number;
}

/** The candidate colours: every grid colour but black, in a fixed order (red fastest). */
export function spanCandidates(levels = SPAN_LEVELS): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  const step = 1 / (levels - 1);
  for (let b = 0; b < levels; b++) for (let g = 0; g < levels; g++) for (let r = 0; r < levels; r++) {
    if (r + g + b > 0) out.push([r * step, g * step, b * step]);
  }
  return out;
}

/** Raw 0..255 RGB [n, H, W, 3] of `stroke` profiles painted with one colour each. */
function paint(profiles: Float32Array[], hw: number, colours: ReadonlyArray<readonly [number, number, number]>): Float32Array {
  const out = new Float32Array(colours.length * profiles.length * hw * 3);
  let o = 0;
  for (const c of colours) {
    for (const prof of profiles) {
      for (let p = 0; p < hw; p++) {
        out[o++] = 255 * prof[p] * c[0];
        out[o++] = 255 * prof[p] * c[1];
        out[o++] = 255 * prof[p] * c[2];
      }
    }
  }
  return out;
}

/** Per image of a split: its stroke profile (largest channel / the image's largest), in [0, 1]. */
function profileOf(split: ImageSplit, i: number): Float32Array {
  const { height: H, width: W, channels: C } = split;
  const hw = H * W, out = new Float32Array(hw);
  let top = 0;
  for (let p = 0; p < hw; p++) {
    let s = 0;
    for (let c = 0; c < C; c++) s = Math.max(s, split.images[(i * hw + p) * C + c]);
    out[p] = s;
    if (s > top) top = s;
  }
  if (top > 0) for (let p = 0; p < hw; p++) out[p] /= top;
  return out;
}

/** Computes the span (no cache). */
export async function computeAttributeSpan(vlm: LoadedVlm, split: ImageSplit, attribute: string, o: { levels?: number; sample?: number; seed?: number; confidence?: number } = {}): Promise<AttributeSpan> {
  if (!activeBackend()) await initBackend();
  const levels = o.levels ?? SPAN_LEVELS, seed = o.seed ?? SPAN_SEED, confidence = o.confidence ?? SPAN_CONFIDENCE;
  const { prompts } = parseAttributePrompt(attribute, vlm.vocab);
  const idx = attributeSampleIndices(split.count, o.sample ?? SPAN_SAMPLE, seed);
  if (idx.length === 0) throw new UserError('the attribute prompt needs training images; the split is empty');
  const profiles = Array.from(idx, (i) => profileOf(split, i)).filter((p) => p.some((v) => v > 0));
  if (profiles.length === 0) throw new UserError('the sampled training images are all black: there is no stroke to paint colours on');
  const { model, vocab } = vlm;
  const H = split.height, W = split.width, hw = H * W, V = prompts.length;
  const candidates = spanCandidates(levels);
  const logScale = model.params.get('logit_scale');
  if (!logScale) throw new Error('the VLM has no logit_scale parameter');
  const texts = tf.tidy(() => model.encodeTexts(TextEncoder.bagOfTexts(vocab, prompts, model.config.maxLen)));
  const mean = new Float64Array(candidates.length * V);
  try {
    const perBatch = Math.max(1, Math.floor(256 / profiles.length));
    for (let s = 0; s < candidates.length; s += perBatch) {
      const part = candidates.slice(s, s + perBatch);
      const p = tf.tidy(() => {
        const x = tf.tensor4d(paint(profiles, hw, part), [part.length * profiles.length, H, W, 3]);
        const scale = tf.exp(tf.minimum(logScale, Math.log(100)));
        return tf.softmax(tf.mul(tf.matMul(model.encodeImages(x).image, texts, false, true), scale), 1);
      });
      const probs = p.dataSync();
      p.dispose();
      for (let c = 0; c < part.length; c++) {
        for (let k = 0; k < profiles.length; k++) {
          for (let v = 0; v < V; v++) mean[(s + c) * V + v] += probs[(c * profiles.length + k) * V + v] / profiles.length;
        }
      }
    }
  } finally {
    texts.dispose();
  }
  const colours: AttributeSpan['colours'] = prompts.map(() => []);
  let unnamed = 0;
  for (let c = 0; c < candidates.length; c++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (mean[c * V + v] > mean[c * V + best]) best = v;
    if (mean[c * V + best] >= confidence) colours[best].push(candidates[c]);
    else unnamed++;
  }
  return { attribute, values: prompts, colours, levels, images: profiles.length, seed, confidence, unnamed };
}

/**
 * The span of a dataset's training split, cached as sealed JSON under `cacheDir`, keyed on the dataset checksum, the
 * VLM checkpoint, the value prompts and the settings.
 */
export async function attributeSpan(
  vlm: LoadedVlm, ds: { name: string; checksum: string; train: ImageSplit }, attribute: string, cacheDir: string,
): Promise<AttributeSpan & { cacheKey: string; cached: boolean }> {
  const keySpec = {
    v: SPAN_VERSION, dataset: ds.checksum, checkpoint: vlmCheckpointHash(vlm), attribute,
    values: parseAttributePrompt(attribute, vlm.vocab).prompts,
    levels: SPAN_LEVELS, sample: SPAN_SAMPLE, seed: SPAN_SEED, confidence: SPAN_CONFIDENCE,
  };
  const cacheKey = sha256(Buffer.from(canonicalJson(keySpec)));
  const file = path.join(cacheDir, `${ds.name}-span-${cacheKey.slice(0, 16)}.json`);
  if (fs.existsSync(file)) {
    try {
      const hit = readSealedJson<{ cacheKey: string; span: AttributeSpan }>(file, 'attribute span cache')!;
      if (hit.cacheKey === cacheKey && Array.isArray(hit.span?.colours)) return { ...hit.span, cacheKey, cached: true };
    } catch { /* a damaged cache file is recomputed, never used */ }
  }
  const span = await computeAttributeSpan(vlm, ds.train, attribute);
  writeSealedJson(file, { cacheKey, key: keySpec, span });
  return { ...span, cacheKey, cached: false };
}
