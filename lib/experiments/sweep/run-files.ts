import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../util/errors';
import { readSealedJson, parseOptionallySealed, SEAL_KEY } from '../../util/sealed';
import { RUN_FILE_NAMES, SWEEP_FILE_NAMES, checkSelectedWeights, type SelectionRecord } from '../../train/run-folder';
import type { RunState } from './runner';

/** Where a sweep keeps its runs, and what it reads back from a run's folder: its result and its sweep state. */

export const RUNS_DIR = 'runs';
/** The files of a run folder a sweep reads and writes (all named in lib/train/run-folder). */
export const RUN_FILES = { ...SWEEP_FILE_NAMES, result: RUN_FILE_NAMES.result } as const;

export function runDir(outDir: string, id: string): string {
  return path.join(outDir, RUNS_DIR, id);
}

/**
 * A run's result.json: `result` when it is a non-empty JSON object (one carrying a checksum, as
 * `ltl train` writes it, must match it); `error` says why a file that exists is not a result.
 * A result `ltl train` wrote (sealed, with its epochs) counts only with the run's selected weights intact, as for
 * `ltl train` itself (lib/train/stages/open.ts): else `error` is checkSelectedWeights' message and `incomplete` is
 * set, since no rerun rebuilds those weights (the trainer refuses the folder), so the run is failed, not pending.
 */
export function inspectResult(dir: string): { result?: Record<string, unknown>; error?: string; incomplete?: true } {
  const file = path.join(dir, RUN_FILES.result);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  let v: Record<string, unknown>, sealed: boolean;
  try {
    // A custom trainer's result may carry no checksum; one that carries it must match it.
    ({ value: v, sealed } = parseOptionallySealed<Record<string, unknown>>(text, file, 'result'));
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (Object.keys(v).length === 0) return { error: `result ${file} is not a non-empty JSON object` };
  // Only a custom trainer may leave an unsealed result: in a folder `ltl train` wrote (its sealed config.json or
  // checkpoint is there), a result without its checksum has been edited or damaged, and is not taken.
  if (!sealed && writtenByLtlTrain(dir)) {
    return { error: `result ${file} has no '${SEAL_KEY}' checksum, though ltl train wrote this run folder (its sealed ${RUN_FILE_NAMES.config} or its ${RUN_FILE_NAMES.checkpoint} is there): it was edited or damaged; delete it (a rerun rebuilds it from the checkpoint) or restore it` };
  }
  if (sealed && Array.isArray(v.epochs)) {
    try {
      checkSelectedWeights(dir, v as unknown as SelectionRecord);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      return { error: e.message, incomplete: true };
    }
  }
  return { result: v };
}

/** Whether `ltl train` wrote this run folder: its checkpoint, or a config.json carrying ltl's checksum, is there. */
function writtenByLtlTrain(dir: string): boolean {
  if (fs.existsSync(path.join(dir, RUN_FILE_NAMES.checkpoint))) return true;
  try {
    const c = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILE_NAMES.config), 'utf8')) as unknown;
    return typeof c === 'object' && c !== null && SEAL_KEY in c;
  } catch {
    return false;
  }
}

/** A finished run's result.json, or undefined (missing, torn, invalid, or failing its checksum). */
export function readResult(dir: string): Record<string, unknown> | undefined {
  return inspectResult(dir).result;
}

/** A run's sweep-state.json (sealed); undefined when missing, a UserError naming the file when damaged. */
export function readState(dir: string): RunState | undefined {
  return readSealedJson<RunState>(path.join(dir, RUN_FILES.state), 'sweep state');
}
