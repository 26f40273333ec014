import * as fs from 'node:fs';
import type { EngineState, NamedArray } from '../engines/types';
import { UserError } from '../util/errors';
import { jsonMetadata, readTensorFile, writeTensorFile, type Tensor } from '../util/tensor-file';

/**
 * One checkpoint file: a tensor file in the safetensors layout (lib/util/tensor-file), so PyTorch
 * reads it with `safetensors.torch.load_file`. Written atomically (a run killed at any moment
 * leaves the previous checkpoint or the new one) and checksummed (a damaged one is an error naming
 * the file, never a resume from different weights).
 *   tensors   'weights/<name>' (float32, e.g. 'weights/conv1.w', kernels [height, width, in, out] as
 *             TensorFlow lays them out) and 'slots/<name>' (the optimizer's state, e.g. 'slots/adam.m/fc.b');
 *   metadata  format 'ltl-cnn-checkpoint', version, and 'checkpoint': the JSON of CheckpointMeta.
 */
export const CHECKPOINT_FORMAT = 'ltl-cnn-checkpoint';
export const CHECKPOINT_VERSION = '3';
const WEIGHTS = 'weights/';
const SLOTS = 'slots/';

export interface CheckpointMeta<H = unknown> {
  /** Last completed epoch (0-based). */
  epoch: number;
  /** The RNG state: every random stream of epoch e is derived from (seed, e), so the seed and the
   * next epoch fix it; stored for the record. */
  rng: { seed: number; nextEpoch: number };
  /** Per-epoch records so far (the jsonl log is rewritten from them on resume). */
  history: H[];
  /** Seconds of training before this point (summed across resumes). */
  trainSeconds: number;
  imagesTrained: number;
  step: number;
  /** Checksums of what the run was made from (dataset, target maps): a resume must find the same. */
  inputs?: unknown;
  /** The tfjs backend and the training engine the epochs ran on: a resume must run on the same (other kernels round
   * otherwise). Absent in checkpoints written before it was recorded. */
  runtime?: RunRuntime;
}

/** Where a run's epochs are computed. */
export interface RunRuntime {
  backend: string;
  engine: string;
}

/** Writes a checkpoint atomically; the optimizer step count is taken from the engine state. */
export function writeCheckpoint<H>(file: string, meta: Omit<CheckpointMeta<H>, 'step'>, state: EngineState): void {
  const tensors: Array<[string, Tensor]> = [
    ...Object.entries(state.weights).map(([k, v]) => [`${WEIGHTS}${k}`, asTensor(v)] as [string, Tensor]),
    ...Object.entries(state.slots).map(([k, v]) => [`${SLOTS}${k}`, asTensor(v)] as [string, Tensor]),
  ];
  const full: CheckpointMeta<H> = { ...meta, step: state.step };
  writeTensorFile(file, tensors, { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, checkpoint: jsonMetadata(full) });
}

function asTensor(v: NamedArray): Tensor {
  return { dtype: 'F32', shape: v.shape, data: v.data };
}

/**
 * Reads and checks a checkpoint. By default it is a run's own last checkpoint (the one a resume reads), so a damaged one
 * is advised away: deleting it restarts the run; `hint` replaces that advice (selected weights need other advice).
 * `given` names the option a user passed the file with (e.g. '--model'): then the file is theirs, not the run's, and
 * another kind of tensor file is said to be that, with no advice to delete it.
 */
export function readCheckpoint<H>(file: string, opts: { given?: string; hint?: string } = {}): { meta: CheckpointMeta<H>; state: EngineState } {
  const hint = opts.hint ?? (opts.given === undefined ? 'delete it to restart the run from its first epoch' : undefined);
  if (!fs.existsSync(file)) throw new UserError(`checkpoint ${file} does not exist`);
  const f = readTensorFile(file, { what: 'checkpoint', ...(hint ? { hint } : {}) });
  const bad = (what: string) => new UserError(`checkpoint ${file} is corrupt: ${what}${hint ? `; ${hint}` : ''}`);
  if (f.metadata.format !== CHECKPOINT_FORMAT) {
    const kind = typeof f.metadata.format === 'string' ? `format ${JSON.stringify(f.metadata.format)}` : 'no format in its metadata';
    if (opts.given !== undefined) {
      throw new UserError(`${opts.given} ${file} is a tensor file of another kind (${kind}), not a CNN checkpoint (format ${JSON.stringify(CHECKPOINT_FORMAT)}: a run's selected.safetensors or checkpoint.safetensors)`);
    }
    throw bad(`it is a tensor file but not a checkpoint (${kind}, expected ${JSON.stringify(CHECKPOINT_FORMAT)})`);
  }
  if (f.metadata.version !== CHECKPOINT_VERSION) throw new UserError(`checkpoint ${file} has version ${f.metadata.version}; this ltl reads version ${CHECKPOINT_VERSION}`);
  const m = f.json<CheckpointMeta<H>>('checkpoint');
  if (!m || !Number.isInteger(m.epoch) || !Number.isInteger(m.step) || !Array.isArray(m.history)) throw bad('its metadata lacks the epoch, step or history');
  const state: EngineState = { weights: {}, slots: {}, step: m.step };
  for (const [name, t] of f.tensors) {
    if (t.dtype !== 'F32') throw bad(`tensor '${name}' is ${t.dtype}, not F32`);
    const into = name.startsWith(WEIGHTS) ? state.weights : name.startsWith(SLOTS) ? state.slots : undefined;
    if (!into) throw bad(`tensor '${name}' is neither weights/ nor slots/`);
    into[name.slice(name.indexOf('/') + 1)] = { shape: t.shape, data: t.data as Float32Array };
  }
  return { meta: m, state };
}
