import * as tf from '@tensorflow/tfjs';
import { ChannelWeightedAttention, oneHotLabels } from './base';
import type { AttentionContext } from './types';
import { UserError } from '../util/errors';

/** CAM (Zhou et al. 2016), the paper's choice: channel weights = the true class's linear weights. */
export class CamAttention extends ChannelWeightedAttention {
  readonly name = 'cam' as const;
  readonly needsSecondOrder = false;
  protected channelWeights(ctx: AttentionContext): tf.Tensor2D {
    if (!ctx.model.camWeights) throw new UserError(`CAM needs a global-average-pooling model; '${ctx.model.name}' has none (use --attention gradcam or inputgrad)`);
    // W is [C, classes]; the label's column for each image -> [B, C], as onehot x W^T (a matrix
    // product rather than gather: gather's gradient needs UnsortedSegmentSum, absent from tfjs-wasm)
    const w = ctx.model.camWeights();
    return tf.matMul(oneHotLabels(ctx.labels, w.shape[1]), w, false, true) as tf.Tensor2D;
  }
}
