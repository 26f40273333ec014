import * as tf from '@tensorflow/tfjs';
import type { AttentionContext, AttentionMethod, AttentionName } from './types';

/**
 * The shared work of class-activation methods (as in pytorch-grad-cam's BaseCAM): given per-image
 * channel weights w [B, C] for the attention layer's raw output A [B, h, w, C],
 *   map = ReLU(sum_c w[b, c] * A[b, :, :, c]).
 * Subclasses only say how the channel weights are found.
 */
export abstract class ChannelWeightedAttention implements AttentionMethod {
  abstract readonly name: AttentionName;
  abstract readonly needsSecondOrder: boolean;
  protected abstract channelWeights(ctx: AttentionContext): tf.Tensor2D;

  map(ctx: AttentionContext): tf.Tensor3D {
    const a = ctx.forward.features;
    const w = this.channelWeights(ctx);
    const [b, , , c] = a.shape;
    return tf.relu(tf.sum(tf.mul(a, tf.reshape(w, [b, 1, 1, c])), 3)) as tf.Tensor3D;
  }
}

/** One-hot of the labels, [B, classes]. */
export function oneHotLabels(labels: tf.Tensor1D, classes: number): tf.Tensor2D {
  return tf.oneHot(labels, classes).asType('float32') as tf.Tensor2D;
}
