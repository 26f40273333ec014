import type * as tf from '@tensorflow/tfjs';

export type ModelName = 'lenet-gap' | 'cdep';

export interface ForwardOptions {
  /** Use max pooling whose gradient is itself differentiable (needed when a loss is built from
   * gradients: Grad-CAM, input gradients, RRR). Slower, same values. */
  secondOrder?: boolean;
}

export interface ForwardResult {
  logits: tf.Tensor2D;
  /** The raw output of the layer attention is read from, [B, gh, gw, C] (before its ReLU). */
  features: tf.Tensor4D;
}

/**
 * A CNN with a declared attention layer. Parameters are plain tf.Variables in a fixed order
 * (checkpoints and optimizers rely on the names).
 */
export interface Model {
  readonly name: ModelName;
  /** Input is [B, inputSize, inputSize, 3] in [-1, 1]. */
  readonly inputSize: number;
  /** Spatial size of the attention layer's output. */
  readonly grid: { height: number; width: number };
  /** Channels of the attention layer. */
  readonly featureChannels: number;
  readonly params: ReadonlyArray<{ name: string; variable: tf.Variable }>;
  forward(x: tf.Tensor4D, opts?: ForwardOptions): ForwardResult;
  /** Logits from the attention layer's raw output (the rest of the network), for Grad-CAM. */
  head(features: tf.Tensor4D, opts?: ForwardOptions): tf.Tensor2D;
  /**
   * For global-average-pooling nets: the linear classifier weights [C, classes] that map pooled
   * features to logits, so CAM = sum_c W[c, y] * A_c. Undefined for nets without GAP (no CAM).
   */
  camWeights?(): tf.Tensor2D;
  dispose(): void;
}
