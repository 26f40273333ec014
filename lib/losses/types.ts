import type * as tf from '@tensorflow/tfjs';

export type AttentionLossName = 'kl' | 'kl-dist';

/**
 * An attention loss turns a non-negative attention map into a distribution p over the grid cells
 * and measures it against the target distribution q.
 */
export interface AttentionLoss {
  readonly name: AttentionLossName;
  /** log p, [B, gh*gw], from the map [B, gh, gw]. */
  logDistribution(map: tf.Tensor3D): tf.Tensor2D;
  /** Forward KL(q || p) averaged over the batch (PyTorch kl_div(log p, q, reduction='batchmean')). */
  loss(map: tf.Tensor3D, target: tf.Tensor2D): tf.Scalar;
}
