import * as tf from '@tensorflow/tfjs';
import type { AttentionLoss } from './types';

/**
 * sum_i q_i (log q_i - log p_i) / B, with 0 log 0 = 0 (PyTorch kl_div, reduction 'batchmean').
 * q is a constant target, so only the cross term carries gradient.
 */
export function klDivBatchmean(logp: tf.Tensor2D, q: tf.Tensor2D): tf.Scalar {
  const qlogq = tf.where(tf.greater(q, 0), tf.mul(q, tf.log(tf.maximum(q, 1e-30))), tf.zerosLike(q));
  return tf.div(tf.sum(tf.sub(qlogq, tf.mul(q, logp))), logp.shape[0]) as tf.Scalar;
}

/**
 * The paper's loss: the map is min-max normalised per image to s in [0, 1] (eps 1e-8), then
 * p = softmax(s / T) over the cells (T = 1 in the paper), and KL(q || p). With T = 1 the softmax is
 * flat (max/min ratio <= e) so p can never match a peaked q; a lower T (e.g. 0.1) lets it.
 */
export class PaperKlLoss implements AttentionLoss {
  readonly name = 'kl' as const;
  constructor(readonly temperature = 1) {}
  logDistribution(map: tf.Tensor3D): tf.Tensor2D {
    const [b, h, w] = map.shape;
    const m = tf.reshape(map, [b, h * w]);
    const mn = tf.min(m, 1, true), mx = tf.max(m, 1, true);
    let s = tf.div(tf.sub(m, mn), tf.add(tf.sub(mx, mn), 1e-8));
    if (this.temperature !== 1) s = tf.div(s, this.temperature);
    return tf.logSoftmax(s, 1) as tf.Tensor2D;
  }
  loss(map: tf.Tensor3D, target: tf.Tensor2D): tf.Scalar {
    return klDivBatchmean(this.logDistribution(map), target);
  }
}
