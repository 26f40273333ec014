import * as tf from '@tensorflow/tfjs';
import type { Model } from '../models/types';
import { maxPool2x2Parts } from '../models/ops';
import type { InputGradPenalty } from './penalty';
import type { Rng } from '../util/rng';

/**
 * CDEP, "contextual decomposition explanation penalization" (Rieger et al., ICML 2020). Contextual decomposition
 * (CD; Murdoch et al. 2018, Singh et al. 2019) carries an input split x = rel + irr through the network as two
 * streams whose sum is, at every layer, that layer's output; the logits' relevant part is how much the relevant
 * input contributes to each logit. CDEP penalises the relevant part of what the model must not use (the decoy's
 * region, or single pixels for colour) against the rest.
 *
 * Layer rules (as in CDEP's public cd.py, written here from the rules):
 *  - conv / linear: each stream through the weights without the bias; the bias b split between them in
 *    proportion to their magnitudes, rel' = W rel + b |W rel| / (|W rel| + |W irr|), irr' likewise.
 *    Where both are exactly 0 (a dead window after ReLU) the proportion is undefined; we give that unit's bias to
 *    the streams in the proportion of their total magnitudes over the layer's whole input for that image
 *    (CDEP's stabilising 1e-19 drops the bias there instead, so its parts no longer sum to the output). With this
 *    convention the parts sum to the output exactly, an all-irrelevant input gives a relevant part that is exactly
 *    0 at every layer, and an all-relevant input gives the full logits.
 *  - ReLU: rel' = relu(rel), irr' = relu(rel + irr) - relu(rel) (the relevant part first, as CD).
 *  - 2x2 max pool: both streams taken at the positions where rel + irr has its window's maximum (the first one, as
 *    the pooling itself routes ties).
 *  - global average pool, reshape: linear without bias, applied to each stream.
 * Layers go in the net's own order (ReLU before pooling); CDEP's MNIST code pools before the ReLU, which gives the
 * same forward values and a decomposition that differs only where a window's maximum is negative.
 */

/** The two streams of a decomposed activation; rel + irr is the activation. */
export interface Decomposition<T extends tf.Tensor = tf.Tensor> {
  rel: T;
  irr: T;
}

/**
 * a / (a + b) for magnitudes a, b >= 0, and `tie` where both are exactly 0. Where the tie is taken is a constant
 * read from the values (a fresh tensor without history: tfjs has no gradient for comparisons, and the choice of
 * branch has none anyway); the denominator is floored at 1e-12 so the unused branch's gradient stays finite.
 */
function share(a: tf.Tensor, b: tf.Tensor, tie: tf.Tensor | number): tf.Tensor {
  const tot = tf.add(a, b);
  const dead = tf.tidy(() => tf.equal(tot, 0).dataSync());
  const isDead = tf.tensor(dead, tot.shape, 'bool');
  return tf.where(isDead, tf.mul(tf.onesLike(tot), tie), tf.div(a, tf.maximum(tot, 1e-12)));
}

/** Per image, the relevant share of the total magnitude of a layer's input, shaped to broadcast over its output. */
function relevantShare(d: Decomposition, outRank: number): tf.Tensor {
  const axes = d.rel.shape.slice(1).map((_, i) => i + 1);
  const s = share(tf.sum(tf.abs(d.rel), axes), tf.sum(tf.abs(d.irr), axes), 0.5);
  return tf.reshape(s, [d.rel.shape[0], ...new Array(outRank - 1).fill(1)]);
}

/** Splits a bias between two bias-free outputs in proportion to their magnitudes (see the file comment). */
function splitBias(input: Decomposition, rel: tf.Tensor, irr: tf.Tensor, bias: tf.Tensor): Decomposition {
  const p = share(tf.abs(rel), tf.abs(irr), relevantShare(input, rel.rank));
  return { rel: tf.add(rel, tf.mul(p, bias)), irr: tf.add(irr, tf.mul(tf.sub(1, p), bias)) };
}

/** CD through a 'valid' stride-1 convolution (weights HWIO) with bias. */
export function cdConv(d: Decomposition<tf.Tensor4D>, w: tf.Tensor, b: tf.Tensor): Decomposition<tf.Tensor4D> {
  const f = (t: tf.Tensor4D) => tf.conv2d(t, w as tf.Tensor4D, 1, 'valid');
  return splitBias(d, f(d.rel), f(d.irr), b) as Decomposition<tf.Tensor4D>;
}

/** CD through a dense layer x W + b (W [in, out]). */
export function cdDense(d: Decomposition<tf.Tensor2D>, w: tf.Tensor, b: tf.Tensor): Decomposition<tf.Tensor2D> {
  const f = (t: tf.Tensor2D) => tf.matMul(t, w as tf.Tensor2D);
  return splitBias(d, f(d.rel), f(d.irr), b) as Decomposition<tf.Tensor2D>;
}

/** CD through a ReLU. */
export function cdRelu<T extends tf.Tensor>(d: Decomposition<T>): Decomposition<T> {
  const rel = tf.relu(d.rel);
  return { rel: rel as T, irr: tf.sub(tf.relu(tf.add(d.rel, d.irr)), rel) as T };
}

/** CD through a 2x2 / stride 2 max pool. */
export function cdMaxPool(d: Decomposition<tf.Tensor4D>): Decomposition<tf.Tensor4D> {
  const [rel, irr] = maxPool2x2Parts([d.rel, d.irr]);
  return { rel, irr };
}

/** CD through global average pooling ([B, H, W, C] -> [B, C]). */
export function cdGlobalAverage(d: Decomposition<tf.Tensor4D>): Decomposition<tf.Tensor2D> {
  return { rel: tf.mean(d.rel, [1, 2]) as tf.Tensor2D, irr: tf.mean(d.irr, [1, 2]) as tf.Tensor2D };
}

/**
 * The contextual decomposition of a model's logits for the input split x = rel + irr ([B, S, S, 3] each):
 * [B, classes] twice, summing to model.forward(rel + irr).logits. Both of the project's nets (lib/models).
 */
export function decomposeLogits(model: Model, input: Decomposition<tf.Tensor4D>): Decomposition<tf.Tensor2D> {
  const v = (i: number) => model.params[i].variable as tf.Tensor;
  let d = cdMaxPool(cdRelu(cdConv(input, v(0), v(1))));
  d = cdMaxPool(cdRelu(cdConv(d, v(2), v(3))));
  if (model.name === 'lenet-gap') return cdDense(cdGlobalAverage(d), v(4), v(5));
  if (model.name === 'cdep') {
    const flat = (t: tf.Tensor4D) => tf.reshape(t, [t.shape[0], t.shape[1] * t.shape[2] * t.shape[3]]) as tf.Tensor2D;
    const h = cdRelu(cdDense({ rel: flat(d.rel), irr: flat(d.irr) }, v(4), v(5)));
    return cdDense(h, v(6), v(7));
  }
  throw new Error(`contextual decomposition is not written for model '${model.name}'`);
}

/**
 * CDEP's penalty for one input split: the mean over images and classes of softmax([rel, irr])[0] =
 * sigmoid(rel - irr) of the logits' parts (CDEP's score_funcs.cdep): 0 when the relevant part contributes nothing
 * against the rest, 1/2 when both contribute alike.
 */
export function cdepScore(model: Model, x: tf.Tensor4D, relevant: tf.Tensor4D): tf.Scalar {
  const d = decomposeLogits(model, { rel: relevant, irr: tf.sub(x, relevant) as tf.Tensor4D });
  return tf.mean(tf.sigmoid(tf.sub(d.rel, d.irr))) as tf.Scalar;
}

/**
 * What CDEP calls relevant in the input, i.e. what the model must not use:
 *  - 'mask': from the InputGradPenalty that RRR and the prompt constraint use, so annotation masks and prompt maps
 *    both work: rel = w x + (1 - w) x C per pixel, w the per-pixel weights (the decoy's region, or where the prompts
 *    say the evidence is not; 0 without a per-pixel term), C the global 3x3 matrix (an attribute prompt's colour
 *    directions; none: 0). With a binary w and no C this is CDEP's DecoyMNIST split.
 *  - 'pixels': CDEP's ColorMNIST prior: `count` single pixels per step, drawn with probability proportional to how
 *    often the pixel is foreground in training (pixelProbabilities); each is a split of its own (that pixel, all
 *    channels, relevant) and the penalty is the sum of their scores, as CDEP sums its 8 blobs. A colour shortcut is
 *    carried by every digit pixel alone, while the digit's shape needs pixels together: penalising what single
 *    pixels contribute on their own removes the first and leaves the second.
 */
export type CdepRegion =
  | { kind: 'mask'; penalty: InputGradPenalty }
  | { kind: 'pixels'; count: number; probabilities: Float32Array };

/** CDEP's number of single-pixel blobs per step on ColorMNIST (its train_mnist_color.py: num_blobs = 8). */
export const CDEP_COLOUR_PIXELS = 8;

/** The relevant input of the 'mask' region: w x + (1 - w) x C (see CdepRegion). */
export function maskedRelevant(x: tf.Tensor4D, penalty: InputGradPenalty, weights?: tf.Tensor3D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const wx = penalty.spatial ? tf.expandDims(weights!, 3) : tf.zeros([b, h, w, 1]);
  const colour = penalty.global
    ? tf.reshape(tf.matMul(tf.reshape(x, [b * h * w, c]) as tf.Tensor2D, tf.tensor2d(penalty.global as number[], [3, 3])), [b, h, w, c])
    : tf.zerosLike(x);
  return tf.add(tf.mul(wx, x), tf.mul(tf.sub(1, wx), colour)) as tf.Tensor4D;
}

/**
 * CDEP's penalty of a batch: the score of the 'mask' split, or the sum of the scores of `count` drawn pixels.
 * `weights` [B, S, S] are the batch's per-pixel weights (mask region with a per-pixel term); `rng` draws the pixels.
 */
export function cdepPenalty(model: Model, x: tf.Tensor4D, region: CdepRegion, weights?: tf.Tensor3D, rng?: Rng): tf.Scalar {
  if (region.kind === 'mask') {
    if (region.penalty.spatial && !weights) throw new Error('a CDEP mask region with a per-pixel term needs per-pixel weights (rrrMask)');
    return cdepScore(model, x, maskedRelevant(x, region.penalty, weights));
  }
  if (!rng) throw new Error("CDEP's pixel prior needs a random stream for its pixels");
  // all drawn pixels in one decomposition: the batch repeated once per pixel (each row is its own split, and every
  // layer rule works per row), so one pass instead of `count`; the sum of the per-pixel means is count x the mean
  const [b, h, w] = x.shape;
  const pixels = drawPixels(region.probabilities, region.count, rng);
  const blobs = new Float32Array(pixels.length * b * h * w);
  pixels.forEach((p, k) => { for (let i = 0; i < b; i++) blobs[(k * b + i) * h * w + p] = 1; });
  const xs = tf.tile(x, [pixels.length, 1, 1, 1]) as tf.Tensor4D;
  const rel = tf.mul(xs, tf.tensor4d(blobs, [pixels.length * b, h, w, 1])) as tf.Tensor4D;
  return tf.mul(cdepScore(model, xs, rel), pixels.length) as tf.Scalar;
}

/** `count` pixel indices drawn (with replacement) from a probability vector. */
export function drawPixels(probabilities: Float32Array, count: number, rng: Rng): number[] {
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    let u = rng.next(), i = 0;
    for (; i < probabilities.length - 1; i++) {
      u -= probabilities[i];
      if (u < 0) break;
    }
    out.push(i);
  }
  return out;
}

/**
 * Per pixel of the model's input grid, the share of training images where it is foreground (any channel above
 * the black background, -1 after scaling), normalised to sum to 1: CDEP's sampling distribution for its pixel
 * blobs (it counts pixels whose channels are not all background). images: [N, S, S, 3] in [-1, 1].
 */
export function pixelProbabilities(images: Float32Array, count: number, size: number): Float32Array {
  const hw = size * size;
  const p = new Float32Array(hw);
  for (let n = 0; n < count; n++) {
    const base = n * hw * 3;
    for (let q = 0; q < hw; q++) {
      const o = base + 3 * q;
      if (images[o] > -1 + 1e-6 || images[o + 1] > -1 + 1e-6 || images[o + 2] > -1 + 1e-6) p[q]++;
    }
  }
  const sum = p.reduce((a, b) => a + b, 0);
  if (sum === 0) p.fill(1 / hw); else for (let q = 0; q < hw; q++) p[q] /= sum;
  return p;
}
