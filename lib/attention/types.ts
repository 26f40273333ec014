import type * as tf from '@tensorflow/tfjs';
import type { Model, ForwardResult } from '../models/types';

export type AttentionName = 'cam' | 'gradcam' | 'inputgrad';

export interface AttentionContext {
  model: Model;
  /** The batch input [B, H, W, 3]. */
  x: tf.Tensor4D;
  /** True labels [B] int32 (the paper reads CAM for the true class). */
  labels: tf.Tensor1D;
  /** The forward pass already made for the loss (reused, not recomputed). */
  forward: ForwardResult;
  /** Whether gradients of the map will be taken (training): builds gradient-of-gradient graphs. */
  training: boolean;
}

/**
 * An attention method: a non-negative map per image on the model's attention grid, [B, gh, gw],
 * differentiable with respect to the model's parameters so a loss can pull it towards a target.
 */
export interface AttentionMethod {
  readonly name: AttentionName;
  /** Whether the map is built from gradients, so training needs second-order-safe ops. */
  readonly needsSecondOrder: boolean;
  map(ctx: AttentionContext): tf.Tensor3D;
  /** Releases cached tensors. */
  dispose?(): void;
}
