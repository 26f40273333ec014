import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { readSealedJson } from '../util/sealed';
import { readCheckpoint } from './checkpoint';
import type { TrainConfig } from './config';
import type { DivergedRun, EpochRecord, TrainResult } from './result';

/**
 * A training run's folder (`ltl train --out DIR`, a sweep's runs/<id>/, a notebook's cached run):
 * the one place that names its files. The trainer writes them; sweeps, reports and scripts read
 * them through the helpers here.
 */
export const RUN_FILE_NAMES = {
  /** The resolved TrainConfig, sealed: a resume must find the same. */
  config: 'config.json',
  /** One JSON line per finished epoch: a log for people (rewritten from the checkpoint on resume, never read back). */
  epochs: 'epochs.jsonl',
  /** The last epoch's weights, optimizer state and history (tensor file, lib/train/checkpoint). */
  checkpoint: 'checkpoint.safetensors',
  /** The weights of the epoch that validation selects, written when that epoch is trained (same format). */
  selected: 'selected.safetensors',
  /** The finished run's TrainResult, sealed: its presence means the run is complete. */
  result: 'result.json',
  /** A run that diverged: its DivergedRun record, sealed (completed epochs, the selection among them, why it stopped). */
  diverged: 'diverged.json',
  /** The prompts' maps a prompt-guided run used (generator identity, cache keys, digests). */
  prompts: 'prompts.json',
  /** The trainer's console output, where a script keeps it (scripts/results-study.ts). */
  trainLog: 'train.log',
} as const;

/**
 * What a sweep (lib/experiments/sweep/runner) adds to a run folder, named apart from the trainer's files: the
 * trainer checks its own config.json on resume.
 */
export const SWEEP_FILE_NAMES = {
  /** The run's config as the sweep planned it, sealed. */
  run: 'sweep-run.json',
  /** Outcome, attempts, timings: sealed. */
  state: 'sweep-state.json',
  /** The worker that runs it now. */
  lock: 'sweep.lock',
  /** The trainer's stdout and stderr. */
  log: 'sweep-train.log',
} as const;

/** Checkpoints of the format before tensor files (magic LTLCKPT2): recognised only to say so. */
export const OLD_CHECKPOINT_NAMES = { checkpoint: 'checkpoint.bin', selected: 'selected.bin' } as const;

export type RunFiles = { [K in keyof typeof RUN_FILE_NAMES]: string };

/** The paths of a run folder's files. */
export function runFiles(dir: string): RunFiles {
  return Object.fromEntries(Object.entries(RUN_FILE_NAMES).map(([k, f]) => [k, path.join(dir, f)])) as RunFiles;
}

/** A UserError when `dir` holds a checkpoint of the old format where the new one is needed, else nothing. */
export function checkNoOldCheckpoint(dir: string, which: keyof typeof OLD_CHECKPOINT_NAMES = 'checkpoint'): void {
  const old = path.join(dir, OLD_CHECKPOINT_NAMES[which]);
  if (!fs.existsSync(path.join(dir, RUN_FILE_NAMES[which])) && fs.existsSync(old)) {
    throw new UserError(`${old} is a checkpoint in the old format (before tensor files in the safetensors layout): this ltl cannot read it; `
      + `finish or inspect the run with the ltl version that wrote it, or delete ${OLD_CHECKPOINT_NAMES[which]} to retrain the run from its first epoch`);
  }
}

/** The run's sealed config, or undefined when it has none (a UserError when it is damaged). */
export function readRunConfig(dir: string): TrainConfig | undefined {
  return readSealedJson<TrainConfig>(runFiles(dir).config, 'run config');
}

/** The finished run's sealed result, or undefined when it has none (a UserError when it is damaged). */
export function readRunResult(dir: string): TrainResult | undefined {
  return readSealedJson<TrainResult>(runFiles(dir).result, 'run result');
}

/** The record of a run that diverged, or undefined when it has none (a UserError when it is damaged). */
export function readRunDiverged(dir: string): DivergedRun | undefined {
  return readSealedJson<DivergedRun>(runFiles(dir).diverged, 'diverged-run record');
}

/** The epochs a run has completed so far (from its checksummed checkpoint), or undefined without one. */
export function readRunEpochs(dir: string): EpochRecord[] | undefined {
  const file = runFiles(dir).checkpoint;
  if (!fs.existsSync(file)) {
    checkNoOldCheckpoint(dir);
    return undefined;
  }
  return readCheckpoint<EpochRecord>(file).meta.history;
}

/**
 * The weights file a run folder's figures use: its validation-selected epoch (selected weights; the
 * last epoch's checkpoint for runs made before those were kept) unless 'final'.
 */
export function runWeightsFile(dir: string, epoch: 'selected' | 'final' = 'selected'): string {
  const f = runFiles(dir);
  if (epoch !== 'final' && fs.existsSync(f.selected)) return f.selected;
  if (epoch !== 'final') checkNoOldCheckpoint(dir, 'selected');
  checkNoOldCheckpoint(dir);
  if (!fs.existsSync(f.checkpoint)) throw new UserError(`no checkpoint in ${dir}: train the run first`);
  return f.checkpoint;
}
