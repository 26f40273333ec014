import type { TrainConfig, TrainResult } from '../train';

/** One training run of a notebook: a label for plots and tables, and the (partial) config. */
export interface RunSpec {
  label: string;
  config: Partial<TrainConfig>;
}

/** Where a finished net's input gradients are on test images (its validation-selected epoch; lib/evaluate/saliency.ts). */
export interface RunLooks {
  /** The epoch (0-based) whose weights were measured. */
  epoch: number;
  images: number;
  /** Share of input-gradient energy on the shortcut: its pixels (decoy), or off the grey axis (colour). */
  shortcut: number;
  /** What `shortcut` measures, in words. */
  shortcutIs: string;
  /** Share on the digit (mask dilated by 2 px). */
  digit: number;
}

export interface FinishedRun {
  label: string;
  config: TrainConfig;
  dir: string;
  /** For a diverged run: its completed epochs, the epoch selected among them. */
  result: TrainResult;
  /** Set when training diverged (non-finite loss): the trainer's message. */
  diverged?: string;
  /** Input-gradient shares on test images (set by trainAll / trainAblations). */
  looks?: RunLooks;
}

/** One point of an ablation: which factor is varied, to which value, all else at the defaults. */
export interface AblationSpec extends RunSpec {
  factor: 'prompt' | 'attribute prompt' | 'lambda' | 'map source';
  value: string;
}

/** An ablation run: its factor and value (AblationSpec), trained. */
export interface AblationRun extends FinishedRun {
  factor: AblationSpec['factor'];
  value: string;
}
