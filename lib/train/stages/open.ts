import * as fs from 'node:fs';
import { UserError, withAdvice } from '../../util/errors';
import { removeStaleTemporaries } from '../../util/atomic';
import { pidAlive } from '../../util/lock';
import { readSealedJson } from '../../util/sealed';
import { readCheckpoint, type CheckpointMeta } from '../checkpoint';
import { configDiff, type TrainConfig } from '../config';
import type { EngineState } from '../../engines/types';
import type { EpochRecord, TrainResult } from '../result';
import { checkNoOldCheckpoint, checkSelectedWeights, checkSelectionSoFar, runFiles, RUN_FILE_NAMES, type RunFiles } from '../run-folder';

/** A run's last checkpoint, to resume from. */
export interface ResumePoint {
  meta: CheckpointMeta<EpochRecord>;
  state: EngineState;
}

/** How a run starts: a finished run's result, or a run folder (if any) and the checkpoint to resume from (if any). */
export type RunStart = { finished: TrainResult } | { finished?: undefined; files?: RunFiles; resume?: ResumePoint };

/**
 * Stage 1, resume or start: reads the run folder (when there is one) and decides. A folder with another config is
 * refused once it holds a checkpoint or a result; a finished run with the same config is returned (its last checkpoint
 * is not needed, nor read; its selected weights must be intact; the trainer checks its inputs); a checkpoint with the
 * same config is resumed from. Writes nothing (it only removes the temporary files of a killed writer): nothing is
 * written before the data and maps are known to be good.
 */
export function openRun(config: TrainConfig, outDir: string | undefined, log: (msg: string) => void): RunStart {
  if (!outDir) return {};
  const f = runFiles(outDir);
  // a run killed while writing left its temporary files (the folder's lock is held: no other trainer writes here)
  const left = removeStaleTemporaries(outDir, pidAlive);
  if (left.length) log(`removed ${left.length} temporary file(s) a killed run left in ${outDir}`);
  const old = withAdvice(() => readSealedJson<TrainConfig>(f.config, 'run config'), `use another --out folder or delete ${outDir}`);
  const hasCheckpoint = fs.existsSync(f.checkpoint), hasResult = fs.existsSync(f.result);
  if (!old && (hasCheckpoint || hasResult)) {
    throw new UserError(`--out ${outDir} holds ${hasCheckpoint ? RUN_FILE_NAMES.checkpoint : RUN_FILE_NAMES.result} but no ${RUN_FILE_NAMES.config}: it cannot be resumed safely; restore config.json, use another --out folder or delete this one`);
  }
  if (!old) return { files: f };
  const diff = configDiff(old, config);
  if (diff.length && (hasCheckpoint || hasResult)) {
    const was = old as unknown as Record<string, unknown>, now = config as unknown as Record<string, unknown>;
    throw new UserError(`--out ${outDir} holds a run with a different configuration (${diff.map((k) => `${k}: ${JSON.stringify(was[k])} there, ${JSON.stringify(now[k])} now`).join('; ')}); use another --out folder or delete this one`);
  }
  if (diff.length) {
    log(`${outDir} holds a run that never completed an epoch, with another configuration (${diff.join(', ')}): starting afresh`);
    return { files: f };
  }
  if (hasResult) {
    const done = withAdvice(() => readSealedJson<TrainResult>(f.result, 'run result'),
      hasCheckpoint ? `delete it to rebuild it from ${f.checkpoint}` : `delete ${outDir} to rerun`);
    if (done && done.epochs?.length === config.epochs) {
      // Complete only with the selected epoch's weights intact: the result reports that model. (Its inputs are
      // checked once the data and maps are read: lib/train/trainer.ts finishedRun.)
      checkSelectedWeights(outDir, done);
      return { finished: done };
    }
  }
  checkNoOldCheckpoint(outDir);
  const resume = hasCheckpoint ? readCheckpoint<EpochRecord>(f.checkpoint) : undefined;
  if (resume) checkSelectionSoFar(outDir, resume.meta.history, config.select);
  return { files: f, resume };
}
