import * as tf from '@tensorflow/tfjs';
import type { AttentionLoss } from './types';
import { klDivBatchmean } from './kl';

/**
 * Our alternative ('kl-dist'): the non-negative map itself, sum-normalised, is the distribution,
 *   p = (map + eps * mean(map)) / sum(...),   eps = 1e-3 (keeps log p finite on cells the ReLU zeroed),
 * and KL(q || p). Unlike the paper's softmax of a [0, 1] map, p can reach any target, including
 * exact zeros outside the object, so the loss can go to ~0 and its gradient does not stay large
 * when the map is already right. Scale-invariant in the map, like the min-max step.
 */
export class DistKlLoss implements AttentionLoss {
  readonly name = 'kl-dist' as const;
  constructor(readonly eps = 1e-3) {}
  logDistribution(map: tf.Tensor3D): tf.Tensor2D {
    const [b, h, w] = map.shape;
    const r = tf.relu(tf.reshape(map, [b, h * w]));
    // eps relative to the map's mean keeps the loss scale-invariant and bounds -log p by ~log(n/eps)
    const m = tf.add(r, tf.add(tf.mul(tf.mean(r, 1, true), this.eps), 1e-12));
    return tf.sub(tf.log(m), tf.log(tf.sum(m, 1, true))) as tf.Tensor2D;
  }
  loss(map: tf.Tensor3D, target: tf.Tensor2D): tf.Scalar {
    return klDivBatchmean(this.logDistribution(map), target);
  }
}
