import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJson } from '../util/canonical-json';
import { UserError } from '../util/errors';
import { readLock, tryAcquireLock, type LockOptions, type RunLock } from '../util/lock';
import { readSealedJson } from '../util/sealed';
import { readCheckpoint } from './checkpoint';
import type { TrainConfig } from './config';
import type { DivergedRun, EpochRecord, TrainResult } from './result';
import { selectEpoch } from './selection';

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
  /** The finished run's TrainResult, sealed: with intact selected weights (checkSelectedWeights), the run is complete. */
  result: 'result.json',
  /** A run that diverged: its DivergedRun record, sealed (completed epochs, the selection among them, why it stopped). */
  diverged: 'diverged.json',
  /** The prompts' maps a prompt-guided run used (generator identity, cache keys, digests). */
  prompts: 'prompts.json',
  /** The trainer's console output, where a script keeps it (scripts/results-study.ts). */
  trainLog: 'train.log',
  /** The trainer that writes the folder now (lib/util/lock; lockRunFolder): a second trainer is refused, not run twice. */
  lock: 'train.lock',
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

/** What a run records about the epoch validation selected: result.json, or diverged.json (null: no epoch completed). */
export type SelectionRecord = { selectedEpoch: number | null; epochs: readonly EpochRecord[] };

/**
 * Checks a run folder's selected.safetensors against what the run recorded (`recorded`; none for an unfinished run):
 * the file must exist, be intact (its own checksums), and hold the recorded selected epoch with the recorded epochs up
 * to it. result.json keeps no checksum of the file, so those epochs are what binds it to the run. A UserError names
 * the file and what to do; another file never stands in for it (a wrong model would be reported as the selected one).
 */
export function checkSelectedWeights(dir: string, recorded: SelectionRecord | undefined, recordedIn = recordName(dir)): void {
  const f = runFiles(dir);
  const sel = recorded?.selectedEpoch ?? null;
  const advice = selectedWeightsAdvice(dir, recorded);
  if (!fs.existsSync(f.selected)) {
    checkNoOldCheckpoint(dir, 'selected');
    throw new UserError(`${f.selected} is missing: ${sel === null ? 'the run\'s validation-selected weights are gone' : `the weights of epoch ${sel + 1}, which validation selected, are gone`}; ${advice}`);
  }
  const { meta } = readCheckpoint<EpochRecord>(f.selected, { hint: advice });
  if (sel === null) return;
  if (meta.epoch !== sel) {
    throw new UserError(`${f.selected} holds the weights of epoch ${meta.epoch + 1}, not of epoch ${sel + 1} that validation selected (${recordedIn}); ${advice}`);
  }
  if (canonicalJson(meta.history) !== canonicalJson(recorded!.epochs.slice(0, sel + 1))) {
    throw new UserError(`${f.selected} is not this run's: its epoch records differ from those in ${recordedIn}; ${advice}`);
  }
}

/**
 * Before a resume trains on: the weights of the epoch validation has selected so far (from the checkpoint's epoch
 * records) must be intact in selected.safetensors, else the remaining epochs would be trained for a run that can never
 * be complete. One state is fine: selected.safetensors holding the epoch after the checkpoint's, written just before a
 * kill (it is written before the checkpoint); that epoch is trained again and both files are written anew.
 */
export function checkSelectionSoFar(dir: string, history: readonly EpochRecord[], select: TrainConfig['select']): void {
  if (history.length === 0) return;
  const f = runFiles(dir);
  if (fs.existsSync(f.selected)) {
    let epoch: number | undefined;
    try { epoch = readCheckpoint<EpochRecord>(f.selected).meta.epoch; } catch { /* damaged: checkSelectedWeights says so */ }
    if (epoch === history.length) return;
  }
  checkSelectedWeights(dir, { selectedEpoch: selectEpoch(history, select), epochs: history }, `the epoch records of ${RUN_FILE_NAMES.checkpoint}`);
}

function recordName(dir: string): string {
  return fs.existsSync(runFiles(dir).result) ? RUN_FILE_NAMES.result : RUN_FILE_NAMES.diverged;
}

/** What to do about missing or damaged selected weights. Only a byte-identical copy is offered: the run keeps its last
 * epoch's checkpoint alone, so a resume cannot retrain an earlier epoch, and the weights of the selected epoch written
 * by the trainer are that checkpoint's when the selected epoch is the last. */
function selectedWeightsAdvice(dir: string, recorded: SelectionRecord | undefined): string {
  const f = runFiles(dir);
  const sel = recorded?.selectedEpoch ?? null;
  if (recorded && sel !== null && sel === recorded.epochs.length - 1 && fs.existsSync(f.checkpoint)) {
    return `the selected epoch is the last one, whose weights ${RUN_FILE_NAMES.checkpoint} also holds: copy ${f.checkpoint} to ${f.selected}`
      + ' (it is checked when read), or delete the folder and retrain';
  }
  return `no resume can rebuild them (the run keeps only its last epoch's checkpoint): delete ${dir} and retrain the run, or restore the file from a copy`;
}

/**
 * The weights file a run folder's figures use: its validation-selected epoch's (selected.safetensors, checked against
 * the run's record: checkSelectedWeights) unless 'final' (the last epoch's checkpoint).
 */
export function runWeightsFile(dir: string, epoch: 'selected' | 'final' = 'selected'): string {
  const f = runFiles(dir);
  if (epoch === 'selected') {
    const recorded = readRunResult(dir) ?? readRunDiverged(dir);
    if (!recorded && !fs.existsSync(f.selected) && !fs.existsSync(f.checkpoint)) {
      checkNoOldCheckpoint(dir, 'selected');
      checkNoOldCheckpoint(dir);
      throw new UserError(`no checkpoint in ${dir}: train the run first`);
    }
    if (recorded?.selectedEpoch === null) throw new UserError(`${dir} holds a run that diverged before completing an epoch: it has no weights to use`);
    checkSelectedWeights(dir, recorded);
    return f.selected;
  }
  checkNoOldCheckpoint(dir);
  if (!fs.existsSync(f.checkpoint)) throw new UserError(`no checkpoint in ${dir}: train the run first`);
  return f.checkpoint;
}

/**
 * Takes the run folder's lock (train.lock) for a trainer, the sweep's lock with its stale-lock takeover: a lock whose
 * process is gone (killed) is taken over; one whose process lives is a UserError naming it, so two trainers never
 * write one folder. The lock names this process as its trainer (childPid): the epochs run synchronously and cannot
 * refresh the heartbeat in between, so on this host liveness, not the heartbeat, keeps it; the caller beats after
 * each epoch for other hosts, and releases the lock when training ends.
 */
export function lockRunFolder(dir: string, opts: LockOptions = {}): RunLock {
  const file = runFiles(dir).lock;
  const lock = tryAcquireLock(file, opts);
  if (!lock) {
    const holder = readLock(file);
    const who = holder ? `process ${holder.pid} on ${holder.hostname} (since ${holder.startedAt})` : `another process (${file} is being written or taken over)`;
    throw new UserError(`run folder ${dir} is in use by ${who}: wait for that training to end, or stop it; a lock left by a killed process is taken over (if no training of this folder runs anywhere, delete ${file})`);
  }
  lock.setChildPid(process.pid);
  return lock;
}
