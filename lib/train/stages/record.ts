import * as fs from 'node:fs';
import type { EngineState } from '../../engines/types';
import { writeFileAtomic } from '../../util/atomic';
import { namingFile } from '../../util/errors';
import { writeSealedJson } from '../../util/sealed';
import { writeCheckpoint, type RunRuntime } from '../checkpoint';
import type { TrainConfig } from '../config';
import { checkPromptRecord, type PromptInfo } from '../prompt-constraint';
import type { DivergedRun, EpochRecord, RunInputs, TrainResult } from '../result';
import type { RunFiles } from '../run-folder';
import { selectEpoch, selectionSummary } from '../selection';
import { TrainingDiverged, TrainingHalted } from '../stops';

/** Where a run stands: the epochs done, the time and images trained so far (carried over a resume). */
export interface RunProgress {
  history: EpochRecord[];
  trainSeconds: number;
  imagesTrained: number;
  /** The next epoch to train (0-based). */
  nextEpoch: number;
}

/**
 * What a run writes to its folder (lib/train/run-folder.ts), in one place; without a folder it writes nothing. A run
 * that fails before its first checkpoint leaves nothing behind (no config.json to refuse a corrected rerun).
 */
export class RunRecorder {
  private checkpointWritten: boolean;

  /** `resuming`: the run goes on from its folder's checkpoint (what begin() and prompts() do depends on it). */
  constructor(private readonly config: TrainConfig, private readonly files: RunFiles | undefined, private readonly outDir: string | undefined,
    private readonly inputs: RunInputs, private readonly resuming: boolean, private readonly runtime: RunRuntime) {
    this.checkpointWritten = resuming;
  }

  /** A fresh run writes its config and an empty epoch log; a resumed one rewrites the log from its checkpoint. */
  begin(progress: RunProgress): void {
    const f = this.files;
    if (!f) return;
    if (this.resuming) {
      writeFileAtomic(f.epochs, progress.history.map((h) => JSON.stringify(h) + '\n').join(''));
    } else {
      writeSealedJson(f.config, this.config);
      writeFileAtomic(f.epochs, '');
    }
  }

  /** The run folder records its prompt maps' digests: a resume with other maps is an error. */
  prompts(info: PromptInfo): void {
    if (this.files) checkPromptRecord(this.files.prompts, info, this.resuming);
  }

  /** After each epoch: the checkpoint, the selected weights when validation picks this epoch, the epoch's log line. */
  epoch(e: number, rec: EpochRecord, progress: RunProgress, state: EngineState): void {
    const f = this.files;
    if (!f) return;
    const meta = { epoch: e, rng: { seed: this.config.seed, nextEpoch: e + 1 }, history: progress.history, trainSeconds: progress.trainSeconds, imagesTrained: progress.imagesTrained, inputs: this.inputs, runtime: this.runtime };
    // The epoch validation selects is the best of a growing prefix, so the final pick was the pick when it was
    // trained: keeping its weights now is all figures of the selected model need (selected.safetensors). Written
    // before the checkpoint: a run killed between the two retrains this epoch on resume and writes both again.
    if (selectEpoch(progress.history, this.config.select) === e) writeCheckpoint(f.selected, meta, state);
    writeCheckpoint(f.checkpoint, meta, state);
    this.checkpointWritten = true;
    namingFile(f.epochs, () => fs.appendFileSync(f.epochs, JSON.stringify(rec) + '\n'));
  }

  /** The error for a run that diverged in epoch e (`what` happened; the advice and the kept checkpoint are added); the
   * run folder keeps a record of it (diverged.json, DivergedRun; its message names no folder, so it can be moved). */
  diverged(e: number, what: string, history: EpochRecord[], engine: string): TrainingDiverged {
    const f = this.files;
    const kept = f && fs.existsSync(f.checkpoint) ? `the last good checkpoint (after epoch ${history.length}) is kept in ${this.outDir}` : 'no checkpoint was written yet';
    const message = `${what}; lower --lr or --lambda; ${kept}`;
    if (f) {
      const sel = history.length ? selectionSummary(history, this.config.select) : undefined;
      const record: DivergedRun = {
        config: this.config, engine, diverged: what, divergedInEpoch: e, selectBy: this.config.select,
        selectedEpoch: sel?.selectedEpoch ?? null, valAccSelected: sel?.valAccSelected ?? null,
        valExcludedShareSelected: sel?.valExcludedShareSelected ?? null, testAccSelected: sel?.testAccSelected ?? null,
        epochs: history, stoppedAt: new Date().toISOString(), inputs: this.inputs,
      };
      writeSealedJson(f.diverged, record);
    }
    return new TrainingDiverged(message);
  }

  /** A run that failed (not halted) before its first checkpoint: its config, log, prompt record and any selected
   * weights written just before that checkpoint go. */
  failed(err: unknown): void {
    const f = this.files;
    if (f && !this.checkpointWritten && !(err instanceof TrainingHalted)) {
      for (const file of [f.config, f.epochs, f.prompts, f.selected]) fs.rmSync(file, { force: true });
    }
  }

  /** The finished run's result, sealed; an earlier attempt's divergence record goes (the run finished this time). */
  seal(result: TrainResult): void {
    if (!this.files) return;
    writeSealedJson(this.files.result, result);
    fs.rmSync(this.files.diverged, { force: true });
  }
}
