import * as tf from '@tensorflow/tfjs';
import type { Model } from '../models/types';
import { logitGradient } from '../models/ops';
import { IDENTITY3, OFF_GREY3, type InputGradPenalty } from './penalty';

/**
 * What the classic RRR modes penalise (both are special cases of InputGradPenalty, lib/engines/types.ts):
 *  - 'spatial' (Ross et al. 2017): input gradients inside an annotation mask (DecoyMNIST: the decoy
 *    patch);
 *  - 'colour' (our choice for ColorMNIST, where the shortcut is colour, not location): at every
 *    pixel, the part of the input gradient that is orthogonal to the grey direction (1,1,1), i.e.
 *    g - mean_c(g): the model may use intensity (shape) but is penalised for reacting to hue.
 */
export type RrrMode = 'spatial' | 'colour';

/** The penalty matrices of a classic RRR mode. */
export function rrrModePenalty(mode: RrrMode): InputGradPenalty {
  return mode === 'colour' ? { spatial: null, global: OFF_GREY3 } : { spatial: IDENTITY3, global: null };
}

/**
 * The input gradient that RRR constrains: g = d/dx of the summed log-probabilities of every class,
 * sum_k log softmax(z)_k, [B, H, W, C]. With u = d score / d logits = 1 - K softmax(z), g = J^T u; it is computed as
 * the gradient of <z(x), u> with u made from `logits` (the same forward pass's logits, on the caller's tape) held
 * fixed inside the inner gradient. An outer tape then differentiates u once, through the softmax, instead of
 * differentiating the softmax's gradient: tfjs's gradients of exp/logSoftmax read their saved outputs, which an
 * outer tape does not differentiate correctly (found against finite differences, test/engines-fused-rrr.test.ts).
 * tfjs nests tapes by sharing one, so the inner gradient is taken at a copy of x with no history: otherwise it would
 * also follow u's own dependence on x.
 */
export function rrrInputGradient(model: Model, x: tf.Tensor4D, secondOrder = true, logits?: tf.Tensor2D): tf.Tensor4D {
  const z = logits ?? model.forward(x, { secondOrder }).logits;
  const u = tf.sub(1, tf.mul(tf.softmax(z, 1), z.shape[1]));
  return logitGradient((xx: tf.Tensor4D) => model.forward(xx, { secondOrder }).logits, tf.tensor4d(x.dataSync() as Float32Array, x.shape), u as tf.Tensor2D);
}

/** Per image and pixel, g_p^T M g_p for a symmetric 3x3 M: [B, H, W]. */
function quadratic(g: tf.Tensor4D, m: readonly number[]): tf.Tensor3D {
  const [b, h, w, c] = g.shape;
  const flat = tf.reshape(g, [b * h * w, c]) as tf.Tensor2D;
  const gm = tf.matMul(flat, tf.tensor2d(m as number[], [3, 3]));
  return tf.reshape(tf.sum(tf.mul(flat, gm), 1), [b, h, w]) as tf.Tensor3D;
}

/** R(x) per image (InputGradPenalty's formula) for input gradients g [B, H, W, 3]: [B]. */
export function penaltyPerImage(g: tf.Tensor4D, penalty: InputGradPenalty, weights?: tf.Tensor3D): tf.Tensor1D {
  const b = g.shape[0];
  let r: tf.Tensor1D = tf.zeros([b]);
  if (penalty.spatial) {
    if (!weights) throw new Error('an input-gradient penalty with a per-pixel term needs per-pixel weights (rrrMask)');
    r = tf.add(r, tf.sum(tf.mul(quadratic(g, penalty.spatial), weights), [1, 2]));
  }
  if (penalty.global) r = tf.add(r, tf.sum(quadratic(g, penalty.global), [1, 2]));
  return r;
}

/**
 * "Right for the right reasons" penalty, generalised: mean over the batch of R(x) (RRR sums over the
 * batch; the mean keeps lambda independent of the batch size). With S = I and a binary mask it is
 * RRR's sum of squared masked gradients; soft weights multiply the squared gradient (w, not w^2).
 */
export function rrrPenalty(model: Model, x: tf.Tensor4D, penalty: InputGradPenalty, weights?: tf.Tensor3D, logits?: tf.Tensor2D): tf.Scalar {
  const g = rrrInputGradient(model, x, true, logits);
  return tf.div(tf.sum(penaltyPerImage(g, penalty, weights)), x.shape[0]) as tf.Scalar;
}
