import * as tf from '@tensorflow/tfjs';
import type { Model } from '../models/types';

/**
 * What RRR penalises:
 *  - 'spatial' (Ross et al. 2017): input gradients inside an annotation mask (DecoyMNIST: the decoy
 *    patch), mask [B, H, W];
 *  - 'colour' (our choice for ColorMNIST, where the shortcut is colour, not location): at every
 *    pixel, the part of the input gradient that is orthogonal to the grey direction (1,1,1), i.e.
 *    g - mean_c(g): the model may use intensity (shape) but is penalised for reacting to hue.
 */
export type RrrMode = 'spatial' | 'colour';

/**
 * "Right for the right reasons" penalty: the gradient of the summed log-probabilities (all classes,
 * as in RRR) with respect to the input, masked, squared, summed per image and averaged over the
 * batch (RRR sums over the batch; the mean keeps lambda independent of the batch size).
 */
export function rrrPenalty(model: Model, x: tf.Tensor4D, mode: RrrMode, mask?: tf.Tensor3D): tf.Scalar {
  const f = (xx: tf.Tensor) => tf.sum(tf.logSoftmax(model.forward(xx as tf.Tensor4D, { secondOrder: true }).logits, 1)) as tf.Scalar;
  const g = tf.grad(f)(x) as tf.Tensor4D;
  const b = x.shape[0];
  let r: tf.Tensor;
  if (mode === 'colour') {
    r = tf.sub(g, tf.mean(g, 3, true));
  } else {
    if (!mask) throw new Error('RRR spatial mode needs an annotation mask');
    r = tf.mul(g, tf.expandDims(mask, 3));
  }
  return tf.div(tf.sum(tf.square(r)), b) as tf.Scalar;
}
