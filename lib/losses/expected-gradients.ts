import * as tf from '@tensorflow/tfjs';
import type { Model } from '../models/types';
import type { InputGradPenalty } from './penalty';
import type { Rng } from '../util/rng';
import { penaltyPerImage } from './rrr';
import { logitGradient } from '../models/ops';

/**
 * Expected Gradients (Erion et al., Nature Machine Intelligence 2021, "Improving performance of deep learning
 * models with axiomatic attribution priors and expected gradients"): integrated gradients averaged over references
 * drawn from the data. Per image x, k draws of a reference r (another training image) and alpha ~ U(0, 1):
 *
 *     x' = r + alpha (x - r),    a = mean over the k draws of (x - r) * d f_y(x') / d x'
 *
 * with f_y the softmax probability of the image's label (the output CDEP's EG baseline explains). Trained as an
 * attribution prior: the penalty is the InputGradPenalty form (lib/engines/types.ts) applied to a instead of the
 * input gradient, per draw, averaged over the draws:
 *
 *     R(x) = 1/k sum_draws [ sum_p w_p a_p^T S a_p + sum_p a_p^T C a_p ]
 *
 * so the annotation masks (decoy region), the colour prior (C = I - 11^T/3) and the prompts' masks and attribute
 * matrix all apply unchanged. CDEP's EG baseline sums |a| over the region instead (an L1 form); we keep RRR's squared
 * form so the two gradient baselines differ only in what is penalised (attributions vs gradients).
 * References come from the same batch, as in Erion et al.'s and CDEP's training code (the batch is a sample of the
 * training data); a draw may pick the image itself, whose attribution is then 0.
 */

/** Where the k draws of every image come from: reference rows of the batch and interpolation points, [B * k] each,
 * draw d of image i at i * k + d. */
export interface EgDraws {
  references: Int32Array;
  alphas: Float32Array;
}

/** k seeded draws per image of a batch of `size`. */
export function drawReferences(size: number, k: number, rng: Rng): EgDraws {
  const references = new Int32Array(size * k), alphas = new Float32Array(size * k);
  for (let i = 0; i < size * k; i++) {
    references[i] = rng.int(size);
    alphas[i] = rng.next();
  }
  return { references, alphas };
}

/**
 * The expected-gradients attributions of every draw, [B * k, S, S, 3] (draw d of image i at row i * k + d; their
 * mean over d is the attribution of image i). Trainable (double backprop): the inner gradient is taken as the
 * gradient of <z(x'), u> with u = d f_y / d z = p_y (e_y - p) made on the caller's tape from a separate forward pass
 * and held fixed inside, at a copy of x' with no history, and the nets use the differentiable max pooling; the
 * same three precautions as rrrInputGradient (lib/losses/rrr.ts) and for the same reasons.
 */
export function expectedGradients(model: Model, x: tf.Tensor4D, labels: tf.Tensor1D, draws: EgDraws): tf.Tensor4D {
  const n = draws.references.length, b = x.shape[0], k = n / b;
  const own = new Int32Array(n);
  for (let i = 0; i < n; i++) own[i] = Math.floor(i / k);
  const xi = tf.gather(x, own) as tf.Tensor4D;
  const r = tf.gather(x, draws.references) as tf.Tensor4D;
  const alpha = tf.tensor4d(draws.alphas, [n, 1, 1, 1]);
  const diff = tf.sub(xi, r) as tf.Tensor4D;
  const xp = tf.add(r, tf.mul(alpha, diff)) as tf.Tensor4D;
  const z = model.forward(xp, { secondOrder: true }).logits;
  const p = tf.softmax(z, 1);
  const oh = tf.oneHot(tf.gather(labels, own) as tf.Tensor1D, z.shape[1]).toFloat();
  const py = tf.sum(tf.mul(p, oh), 1, true);
  const u = tf.mul(py, tf.sub(oh, p));
  const g = logitGradient((xx: tf.Tensor4D) => model.forward(xx, { secondOrder: true }).logits, tf.tensor4d(xp.dataSync() as Float32Array, xp.shape), u as tf.Tensor2D);
  return tf.mul(diff, g) as tf.Tensor4D;
}

/**
 * The EG penalty of a batch: mean over images of R(x) above. `weights` [B, S, S]: per-pixel weights (needed when the
 * penalty has a per-pixel term); each image's weights apply to all its draws.
 */
export function egPenalty(model: Model, x: tf.Tensor4D, labels: tf.Tensor1D, penalty: InputGradPenalty, draws: EgDraws, weights?: tf.Tensor3D): tf.Scalar {
  const b = x.shape[0], n = draws.references.length;
  const a = expectedGradients(model, x, labels, draws);
  let w: tf.Tensor3D | undefined;
  if (penalty.spatial) {
    if (!weights) throw new Error('an EG penalty with a per-pixel term needs per-pixel weights (rrrMask)');
    const own = new Int32Array(n);
    for (let i = 0; i < n; i++) own[i] = Math.floor(i / (n / b));
    w = tf.gather(weights, own) as tf.Tensor3D;
  }
  return tf.div(tf.sum(penaltyPerImage(a, penalty, w)), n) as tf.Scalar;
}
