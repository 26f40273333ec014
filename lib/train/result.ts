import type { StepPhase } from '../engines/types';
import type { TrainConfig } from './config';
import type { PromptInfo } from './prompt-constraint';
import type { CounterfactualInfo } from './counterfactuals';

/**
 * What a run records: one record per epoch, and the finished run's result (result.json). Apart from the trainer
 * so the run-folder module reads them without importing the trainer.
 */

export interface EpochRecord {
  epoch: number;
  phase: StepPhase;
  lambda: number;
  lr: number;
  /** Means over the epoch's batches (the mean of batch means, last partial batch included). */
  loss: number;
  ce: number;
  att: number;
  valAcc: number;
  /** val acc x exp(-beta * mean reverse KL(p || q)) on validation targets; = valAcc when there are none. */
  valScore: number;
  valAttKl: number | null;
  /** Mean over validation images of R(x) / |g|^2 under the prompts' penalty (the share of input-gradient
   * energy where the prompts say the evidence is not), divided by the number of penalty terms (per-pixel,
   * global) so it lies in [0, 1]; null when the run names no prompt. */
  valExcludedShare?: number | null;
  /** Accuracy on the counterfactual validation images (the validation images varied where the prompts say nothing may
   * matter; lib/train/counterfactuals.ts); null when the run names no prompt, and when it gives an attribute prompt
   * but neither augments by the prompts nor selects by val-cf (the VLM's colours are read only then); absent in runs
   * made before it existed. */
  valCfAcc?: number | null;
  testAcc: number;
  /** Training seconds of this epoch (no evaluation). */
  seconds: number;
  evalSeconds: number;
  imagesPerSecond: number;
}

export interface TrainResult {
  config: TrainConfig;
  backend: string;
  threads: number;
  engine: string;
  parameters: number;
  trainImages: number;
  valImages: number;
  testImages: number;
  targets: { source: string; empty: number } | null;
  /** The prompt constraint (maps, prompts, cache keys, map digests, attribute matrix); null without prompts. */
  prompts?: PromptInfo | null;
  /** The counterfactual augmentation and validation (null without either). */
  counterfactual?: CounterfactualInfo | null;
  selectBy: TrainConfig['select'];
  /** The epoch validation selects, as a 0-based index into `epochs` (messages and tables print it counted from 1:
   * index 6 is "selected epoch 7"). Kept 0-based: committed run files depend on it. */
  selectedEpoch: number;
  valAccSelected: number;
  valScoreSelected: number;
  valExcludedShareSelected?: number | null;
  valCfAccSelected?: number | null;
  testAccSelected: number;
  valAccFinal: number;
  testAccFinal: number;
  epochs: EpochRecord[];
  trainSeconds: number;
  imagesPerSecond: number;
  /** Epoch the run resumed after (null if it ran from the start). */
  resumedAfterEpoch: number | null;
  finishedAt: string;
  /** Checksums of what the run was made from (RunInputs). */
  inputs: RunInputs;
}

/**
 * What a run was made from, by checksum (not by path): the dataset's images and labels, and the
 * training and validation targets the maps gave. A resume must find the same, so a rebuilt dataset
 * or an overwritten map file is an error, never a run continued on other data.
 */
export interface RunInputs {
  dataset: string;
  datasetChecksum: string;
  /** SHA-256 of the training and validation targets (after post-processing); null without targets. */
  targetsSha256: string | null;
  /** The map file's own payload checksum and prompt, when --maps names a file. */
  mapsFile?: { payloadSha256: string; generator: string; prompt: string };
}

/**
 * A run that stopped on a non-finite loss or weight (the run folder's diverged.json, sealed; it has no result.json):
 * the epochs it completed and the validation selection among them, as a user of the run would pick. There is no final
 * epoch. A diverged run is a result (the setting is unstable at that seed), so studies publish it beside the finished
 * runs instead of dropping it. With no completed epoch the selection fields are null.
 */
export interface DivergedRun {
  config: TrainConfig;
  engine: string;
  /** What happened (where it diverged, what was not finite): the trainer's message without its advice and folder. */
  diverged: string;
  /** The epoch (0-based) that did not finish. */
  divergedInEpoch: number;
  selectBy: TrainConfig['select'];
  /** The selected epoch, a 0-based index into `epochs` as in TrainResult (printed counted from 1); null with none. */
  selectedEpoch: number | null;
  valAccSelected: number | null;
  valExcludedShareSelected: number | null;
  testAccSelected: number | null;
  epochs: EpochRecord[];
  stoppedAt: string;
  inputs: RunInputs;
}
