/**
 * The compute engine behind the trainer: one training step on a prepared batch, batched evaluation,
 * and state for checkpoints. The trainer (lib/train/trainer.ts) owns data order, the schedule
 * (lambda, learning rate, optimizer resets), logging, checkpoint files and model selection; an engine
 * owns only the numbers. Two implementations plug in here: the generic tfjs one
 * (lib/engines/tfjs/engine.ts: any model x attention x loss) and a fused fast one for
 * LeNet-GAP + CAM + KL.
 *
 * Layouts (all row-major):
 *  - images: [B, H, W, C] NHWC float32, already resized to the model's input size and scaled to [-1, 1]
 *    (grey images already expanded to 3 identical channels). See lib/train/data.ts.
 *  - targets: [B, gh, gw] float32, each image's target distribution on the model's attention grid
 *    (sums to 1), present when the step uses an attention loss.
 *  - rrrMask: [B, H, W] float32 per-pixel weights w of the input-gradient penalty (1 where input
 *    gradients are penalised), present when the run's penalty has a per-pixel term (InputGradPenalty).
 */

/** The input-gradient penalty is defined with the losses (lib/losses/penalty.ts). */
export { IDENTITY3, OFF_GREY3, type InputGradPenalty } from '../losses/penalty';
import type { InputGradPenalty } from '../losses/penalty';

/** What the loss of one step is made of. */
export type StepPhase =
  /** cross-entropy only (vanilla, or phase 1 in 'ce' mode). */
  | 'ce'
  /** the attention loss only (phase 1 in 'attention' mode). */
  | 'attention'
  /** CE + lambda * attention loss (phase 2). */
  | 'combined';

export interface TrainBatch {
  /** Number of images in the batch (the last batch of an epoch may be smaller). */
  readonly size: number;
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly targets?: Float32Array;
  readonly rrrMask?: Float32Array;
  /** Names this batch within the run (the trainer: epoch and first position), for methods that draw random numbers
   * per step (EG's references, CDEP's pixels): the draws follow from the run's seed and this key, so a resumed run
   * draws as an uninterrupted one. */
  readonly drawKey?: string;
}

export interface StepOptions {
  phase: StepPhase;
  /** Weight of the attention (or RRR) term in phase 'combined'. */
  lambda: number;
  /** Learning rate for this step (the trainer applies StepLR). */
  lr: number;
}

/** Whether a step computes the attention (or RRR) term: the trainer's plan, for any method but vanilla. */
export function usesAttentionTerm(opts: StepOptions, method: string): boolean {
  return method !== 'vanilla' && (opts.phase === 'attention' || (opts.phase === 'combined' && opts.lambda !== 0));
}

/** Mean losses of one step (numbers on the host; the trainer sums them per epoch). */
export interface StepLosses {
  /** The loss that was minimised. */
  loss: number;
  /** Cross-entropy (computed in every phase, for logging). */
  ce: number;
  /** The attention term before lambda (KL, or the RRR penalty); 0 when it was not computed. */
  att: number;
}

export interface EvalInput {
  readonly size: number;
  readonly images: Float32Array;
  readonly labels: Int32Array;
  /** Target distributions; when given, evaluate also returns the attention divergence. */
  readonly targets?: Float32Array;
  /** Per-pixel penalty weights [B, H, W] (as TrainBatch.rrrMask); with `penalty`, evaluate also returns
   * the share of input-gradient energy that the penalty excludes (the right-reasons score). */
  readonly rrrMask?: Float32Array;
  /** The penalty whose excluded share is measured (may differ from the run's own; e.g. for vanilla runs). */
  readonly penalty?: InputGradPenalty;
}

export interface EvalResult {
  /** Number of correct argmax predictions. */
  correct: number;
  count: number;
  /** Sum over images of the reverse KL(p || q) between the model's attention distribution p and the
   * target q (only when targets were given). Used for the validation score. */
  attKlSum?: number;
  /** Sum over images of R(x) / sum_p |g_p|^2: the share of the input-gradient energy on what the penalty
   * excludes (only when EvalInput.penalty was given; an image with g = 0 counts 0). */
  excludedShareSum?: number;
}

/** A named float tensor, for checkpoints. */
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

/** Everything needed to continue training bit-identically: weights and optimizer state. */
export interface EngineState {
  /** Parameter name -> value. */
  weights: Record<string, NamedArray>;
  /** Optimizer slot name (e.g. 'momentum/conv1.w', 'adam.m/fc.b') -> value. */
  slots: Record<string, NamedArray>;
  /** Optimizer step count (Adam's bias correction). */
  step: number;
}

export interface TrainEngine {
  /** 'tfjs' | 'fused' | ... */
  readonly name: string;
  /** Model input size and attention grid, so the trainer prepares matching data and targets. */
  readonly inputSize: number;
  readonly grid: { height: number; width: number };
  /** One optimizer step on the batch. */
  trainStep(batch: TrainBatch, opts: StepOptions): StepLosses;
  /** Predictions (and optionally the attention divergence) on a batch; no parameter change. */
  evaluate(input: EvalInput): EvalResult;
  /** Zeroes the optimizer state (momentum buffers, Adam moments and step count): the paper re-creates
   * the optimizer at the attention epoch. */
  resetOptimizer(): void;
  getState(): EngineState;
  setState(state: EngineState): void;
  /** Number of trainable parameters. */
  parameterCount(): number;
  dispose(): void;
}

/** Optimizer settings shared by engines (PyTorch semantics). */
export interface OptimizerConfig {
  kind: 'sgd' | 'adam';
  /** SGD momentum (torch.optim.SGD: buf = m*buf + g; p -= lr*buf; no dampening, no Nesterov). */
  momentum: number;
  /** L2 weight decay added to the gradient (torch semantics, also for Adam: not AdamW). */
  weightDecay: number;
  /** Adam betas and eps (torch defaults 0.9, 0.999, 1e-8). */
  beta1: number;
  beta2: number;
  eps: number;
}

export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  kind: 'sgd', momentum: 0.98, weightDecay: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8,
};

/** Thrown when a step's loss is NaN or infinite; no parameter was changed by that step. */
export class NonFiniteLossError extends Error {
  constructor(readonly losses: StepLosses) {
    super(`loss is not finite (loss ${losses.loss}, ce ${losses.ce}, att ${losses.att})`);
    this.name = 'NonFiniteLossError';
  }
}

/**
 * The settings of a run that engines read. The trainer's TrainConfig (lib/train/options.ts) has them all; engines
 * name only these, so they do not import the trainer's types (train imports engines, not the other way round).
 */
export interface EngineRunConfig {
  model: 'lenet-gap' | 'cdep';
  method: 'vanilla' | 'align' | 'rrr' | 'cdep' | 'eg';
  attention: 'cam' | 'gradcam' | 'inputgrad';
  loss: 'kl' | 'kl-dist';
  temperature: number;
  optimizer: 'sgd' | 'adam';
  seed: number;
  /** Method 'eg': reference images per training image. */
  egReferences: number;
  /** Images per step (the trainer's: at most the training images); engines that keep a whole step in memory check it. */
  batch?: number;
}

