import type { ShortcutDataset } from '../data/types';
import type { EpochRecord } from './result';

/** How runTraining runs a config: where it keeps the run, the data it may be given, what it reports. */
export interface RunOptions {
  /** Run folder (lib/train/run-folder: config.json, epochs.jsonl, checkpoint.safetensors, result.json, ...). Rerunning resumes. */
  outDir?: string;
  /** A dataset already in memory (sweeps, notebooks, tests); else loadDataset(config.dataset). */
  dataset?: ShortcutDataset;
  mnistDir?: string;
  onEpoch?: (rec: EpochRecord, epochs: number) => void;
  onBatch?: (doneImages: number, totalImages: number, epoch: number) => void;
  /** Human messages (resume notices, warnings). */
  log?: (msg: string) => void;
  /** Stop (as if killed) after this epoch's checkpoint is written: for resume tests. */
  haltAfterEpoch?: number;
  /** Cache root of generated prompt maps and attribute matrices (default data/cache; lib/train/split-maps.ts). */
  promptCacheDir?: string;
}
