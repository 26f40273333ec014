import { initBackend } from '../backend';
import { resolveConfig, type TrainConfig } from './config';
import { buildCounterfactuals } from './counterfactuals';
import type { TrainResult } from './result';
import type { RunRuntime } from './checkpoint';
import type { RunOptions } from './run-options';
import { openRun } from './stages/open';
import { prepareData, type RunData } from './stages/data';
import { prepareMaps, type RunMaps } from './stages/maps';
import { checkPromptInfo } from './prompt-constraint';
import { choosePenalty } from './stages/penalty';
import { checkInputs, runInputs } from './stages/inputs';
import { buildStep } from './stages/step';
import { startProgress } from './stages/progress';
import { RunRecorder } from './stages/record';
import { trainEpochs } from './stages/loop';
import { runResult } from './stages/seal';
import { lockRunFolder } from './run-folder';
import type { RunLock } from '../util/lock';
import { UserError } from '../util/errors';

export type { DivergedRun, EpochRecord, TrainResult, RunInputs } from './result';
export type { RunOptions } from './run-options';
export { selectEpoch, rightReasonsScore, selectionSummary } from './selection';
export { MAX_ABS_WEIGHT, TrainingDiverged, TrainingHalted } from './stops';

/** A log that passes each distinct warning once: the maps of a prompt come from several generators (align's targets of
 * each split, the prompt constraint), each of which warns about how it read the prompt. */
function warningsOnce(log: (msg: string) => void): (msg: string) => void {
  const seen = new Set<string>();
  return (msg) => {
    if (msg.startsWith('warning: ')) {
      if (seen.has(msg)) return;
      seen.add(msg);
    }
    log(msg);
  };
}

/**
 * Trains one model with the alignment recipe (or a baseline) and returns the result; with an
 * outDir the run survives interruption: rerunning the same config resumes from the last epoch's
 * checkpoint and gives the same numbers as an uninterrupted run. The stages, in order (lib/train/stages):
 * resume or start; the data; the maps (align's targets, the prompt constraint); the penalty; the counterfactuals
 * (lib/train/counterfactuals.ts); the step (engine and batches); the epochs; the result.
 */
export async function runTraining(partial: Partial<TrainConfig>, opts: RunOptions = {}): Promise<TrainResult> {
  const config = resolveConfig(partial);
  const log = warningsOnce(opts.log ?? (() => {}));
  if (config.method !== 'vanilla' && config.attentionEpoch >= config.epochs) {
    log(`warning: --attention-epoch ${config.attentionEpoch} >= --epochs ${config.epochs}: the ${config.method} loss never applies, this run is vanilla training`);
  }
  // Held from the first look at the folder to the sealed result: a second trainer would train the same epochs again.
  const lock = opts.outDir !== undefined ? lockRunFolder(opts.outDir) : undefined;
  if (lock?.tookOverFrom) log(`took over the lock of ${opts.outDir} (${lock.tookOverFrom})`);
  try {
    return await trainLocked(config, opts, log, lock);
  } finally {
    lock?.release();
  }
}

/**
 * A finished run's result, returned only when the run was made from the inputs given now (the data, align's targets and
 * the prompt maps, by checksum): a changed base file, map file or VLM is one line naming what changed, never the old
 * result passed off as one of the new inputs. The data and maps are read (from their caches) to know that.
 */
function finishedRun(done: TrainResult, config: TrainConfig, data: RunData, maps: RunMaps, outDir: string, log: (msg: string) => void): TrainResult {
  checkInputs(done.inputs, runInputs(config, data, maps), outDir, 'finished run');
  if (maps.prompts) checkPromptInfo(done.prompts ?? null, maps.prompts.info, outDir);
  log(`run in ${outDir} is already complete (${config.epochs} epochs); returning its result`);
  return done;
}

/**
 * A resume runs on the backend and engine its epochs so far ran on: another one rounds otherwise, and the resumed run
 * would not give the numbers of an uninterrupted one (same seed, same backend, same numbers). A checkpoint written
 * before the runtime was recorded says nothing, and is resumed as before.
 */
function checkRuntime(was: RunRuntime | undefined, now: RunRuntime, outDir: string, lastEpoch: number): void {
  if (!was || (was.backend === now.backend && was.engine === now.engine)) return;
  throw new UserError(`--out ${outDir} trained epochs 1-${lastEpoch + 1} on the ${was.backend} backend with the ${was.engine} engine; this process has the ${now.backend} backend`
    + ` and the ${now.engine} engine, which round differently, so the resumed run would not be the uninterrupted one: resume where it ran (LTL_BACKEND=${was.backend}${was.engine !== now.engine ? `, where the ${was.engine} engine is picked` : ''}) or delete the folder to restart`);
}

/** The stages, under the run folder's lock (when there is a folder). */
async function trainLocked(config: TrainConfig, opts: RunOptions, log: (msg: string) => void, lock: RunLock | undefined): Promise<TrainResult> {
  const start = openRun(config, opts.outDir, log);
  const backend = await initBackend();
  const data = prepareData(config, opts.dataset, opts.mnistDir);
  const maps = await prepareMaps(config, data, opts.promptCacheDir, log);
  if (start.finished) return finishedRun(start.finished, config, data, maps, opts.outDir!, log);
  const penalty = choosePenalty(config, data, maps.prompts);
  // A batch larger than the training set is one batch of all its images (as --limit above the set's size is all of
  // it): the step's buffers are sized to the images there are, not to --batch (1e9 would not fit in memory). The config
  // keeps the value given, so a rerun still resumes and its numbers are the same.
  const stepBatch = Math.min(config.batch, data.nTrain);
  if (stepBatch < config.batch) log(`--batch ${config.batch} is more than the ${data.nTrain} training images: each step takes all ${data.nTrain}`);
  const stepConfig = stepBatch < config.batch ? { ...config, batch: stepBatch } : config;
  // counterfactual augmentation and validation: training and validation images only
  const cf = buildCounterfactuals(config, { name: data.ds.name, train: data.ds.train }, maps.prompts,
    { nTrain: data.nTrain, nVal: data.nVal, size: data.size, valX: data.valX, trainX: data.trainX, batch: stepBatch });
  const inputs = runInputs(config, data, maps);
  if (start.resume) checkInputs(start.resume.meta.inputs as TrainResult['inputs'] | undefined, inputs, opts.outDir!);

  const step = buildStep(stepConfig, data, maps, penalty, cf);
  const runtime: RunRuntime = { backend: backend.name, engine: step.engine.name };
  if (start.resume) {
    try {
      checkRuntime(start.resume.meta.runtime, runtime, opts.outDir!, start.resume.meta.epoch);
    } catch (e) {
      step.engine.dispose();
      throw e;
    }
  }
  const progress = startProgress(config, step.engine, start.resume, opts.outDir, log);
  const recorder = new RunRecorder(config, start.files, opts.outDir, inputs, !!start.resume, runtime);
  recorder.begin(progress);
  // The epochs block the event loop, so the lock's timer cannot beat: each epoch beats it (for other hosts), and a
  // lock another host took over (this run looked stale) stops this run, so one trainer remains.
  const onEpoch: RunOptions['onEpoch'] = (rec, epochs) => {
    lock?.beat();
    if (lock?.lost) throw new UserError(`the lock of run folder ${opts.outDir} was taken over by another process; this run stopped after epoch ${rec.epoch + 1}`);
    opts.onEpoch?.(rec, epochs);
  };
  try {
    if (maps.prompts) recorder.prompts(maps.prompts.info);
    trainEpochs({ config, data, maps, cf, step, recorder, opts: { ...opts, onEpoch } }, progress);
  } catch (err) {
    recorder.failed(err);
    throw err;
  } finally {
    step.engine.dispose();
  }
  const result = runResult(config, backend, data, maps, cf, step, progress, start.resume ? start.resume.meta.epoch : null, inputs);
  recorder.seal(result);
  return result;
}
