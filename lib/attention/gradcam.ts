import * as tf from '@tensorflow/tfjs';
import { ChannelWeightedAttention, oneHotLabels } from './base';
import type { AttentionContext } from './types';
import { logitGradient } from '../models/ops';

/**
 * Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of d(true-class logit)/dA.
 * The gradient is taken inside the outer tape, so training against the map back-propagates through
 * it (PyTorch's create_graph=True in bench/torch_bench.py).
 */
export class GradCamAttention extends ChannelWeightedAttention {
  readonly name = 'gradcam' as const;
  readonly needsSecondOrder = true;
  protected channelWeights(ctx: AttentionContext): tf.Tensor2D {
    const onehot = oneHotLabels(ctx.labels, ctx.forward.logits.shape[1]);
    const g = logitGradient((a: tf.Tensor4D) => ctx.model.head(a, { secondOrder: ctx.training }), ctx.forward.features, onehot);
    return tf.mean(g, [1, 2]) as tf.Tensor2D;
  }
}
