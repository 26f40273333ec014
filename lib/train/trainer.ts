import * as fs from 'node:fs';
import type { ShortcutDataset } from '../data/types';
import { loadDataset } from '../data';
import { initBackend, type BackendInfo } from '../backend';
import { createRng, permutation } from '../util/rng';
import { UserError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { readSealedJson, writeSealedJson } from '../util/sealed';
import { sha256 } from '../util/hash';
import { MapStoreReader } from '../maps/store';
import { isMapSource } from '../maps/registry';
import { initialWeights, modelGrid, modelInputSize } from '../models';
import { DEFAULT_OPTIMIZER, type StepPhase, type TrainEngine } from '../engines/types';
import { configDiff, resolveConfig, type TrainConfig } from './config';
import { planEpoch } from './schedule';
import { buildTargets, type TargetMaps } from './targets';
import { gatherRows, prepareImages, prepareLabels, prepareRrrMasks } from './data';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { checkNoOldCheckpoint, runFiles, RUN_FILE_NAMES } from './run-folder';
import { getEngineFactory } from '../engines/registry';
import { NonFiniteLossError } from '../engines/types';
import { rrrModePenalty } from '../losses/rrr';
import { CDEP_COLOUR_PIXELS, pixelProbabilities, type CdepRegion } from '../losses/cdep';
import { buildPromptConstraint, checkPromptRecord, usesPrompts } from './prompt-constraint';
import { buildCounterfactuals, counterfactualBatch } from './counterfactuals';
import '../engines'; // registers the engines: tfjs, fused (lib/engines/fused: LeNet-GAP's vanilla, align, rrr, eg and cdep in one wasm kernel) and auto

import type { DivergedRun, EpochRecord, TrainResult, RunInputs } from './result';
export type { DivergedRun, EpochRecord, TrainResult, RunInputs } from './result';

/** Weights beyond this magnitude are a diverging run (finite, but not a model worth keeping). */
export const MAX_ABS_WEIGHT = 1e6;

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

/** Thrown by runTraining when opts.haltAfterEpoch stops it. */
/** The result fields of the epoch validation selects (and of the last epoch), from the epoch records. */
export function selectionSummary(history: readonly EpochRecord[], select: TrainConfig['select']): Pick<TrainResult,
  'selectBy' | 'selectedEpoch' | 'valAccSelected' | 'valScoreSelected' | 'valExcludedShareSelected' | 'valCfAccSelected' | 'testAccSelected' | 'valAccFinal' | 'testAccFinal'> {
  const sel = selectEpoch(history, select);
  const last = history[history.length - 1];
  return {
    selectBy: select, selectedEpoch: sel,
    valAccSelected: history[sel].valAcc, valScoreSelected: history[sel].valScore, valExcludedShareSelected: history[sel].valExcludedShare ?? null,
    valCfAccSelected: history[sel].valCfAcc ?? null,
    testAccSelected: history[sel].testAcc,
    valAccFinal: last.valAcc, testAccFinal: last.testAcc,
  };
}

/** Training stopped on a NaN or infinite loss; the message says where and which checkpoint is kept. */
export class TrainingDiverged extends UserError {
  constructor(message: string) { super(message); this.name = 'TrainingDiverged'; }
}

export class TrainingHalted extends Error {
  constructor(readonly epoch: number) { super(`halted after epoch ${epoch}`); this.name = 'TrainingHalted'; }
}

/**
 * The epoch the validation metric picks (ties: the earliest). Reads validation numbers only.
 * When the run has a combined phase (align, RRR after epoch A), only those epochs compete: an
 * epoch from the CE-only warm-up is a vanilla model and must not be reported as the method's.
 */
export function selectEpoch(
  epochs: ReadonlyArray<Pick<EpochRecord, 'valAcc' | 'valScore' | 'valExcludedShare' | 'valCfAcc'> & { phase?: StepPhase }>,
  by: TrainConfig['select'],
): number {
  const value = (e: number) => (by === 'val-acc' ? epochs[e].valAcc : by === 'val-rr' ? rightReasonsScore(epochs[e])
    : by === 'val-cf' ? epochs[e].valCfAcc ?? -1 : epochs[e].valScore);
  const combined = epochs.some((e) => e.phase === 'combined');
  let best = -1;
  for (let e = 0; e < epochs.length; e++) {
    if (combined && epochs[e].phase !== 'combined') continue;
    if (best < 0 || value(e) > value(best)) best = e;
  }
  return Math.max(best, 0);
}

/** 'val-rr': val acc x (1 - excluded share) (the share is recorded in [0, 1]; clamped as a guard); a record
 * without a share scores its val acc. */
export function rightReasonsScore(e: Pick<EpochRecord, 'valAcc' | 'valExcludedShare'>): number {
  return e.valAcc * (1 - Math.min(1, Math.max(0, e.valExcludedShare ?? 0)));
}

/**
 * Trains one model with the alignment recipe (or a baseline) and returns the result; with an
 * outDir the run survives interruption: rerunning the same config resumes from the last epoch's
 * checkpoint and gives the same numbers as an uninterrupted run.
 */
export async function runTraining(partial: Partial<TrainConfig>, opts: RunOptions = {}): Promise<TrainResult> {
  const config = resolveConfig(partial);
  const log = opts.log ?? (() => {});
  if (config.method !== 'vanilla' && config.attentionEpoch >= config.epochs) {
    log(`warning: --attention-epoch ${config.attentionEpoch} >= --epochs ${config.epochs}: the ${config.method} loss never applies, this run is vanilla training`);
  }
  const f = opts.outDir ? runFiles(opts.outDir) : undefined;

  // --- resume or start (nothing is written before the data and maps are known to be good)
  let resume: ReturnType<typeof readCheckpoint<EpochRecord>> | undefined;
  if (f) {
    const old = withAdvice(() => readSealedJson<TrainConfig>(f.config, 'run config'), `use another --out folder or delete ${opts.outDir}`);
    const hasCheckpoint = fs.existsSync(f.checkpoint), hasResult = fs.existsSync(f.result);
    if (!old && (hasCheckpoint || hasResult)) {
      throw new UserError(`--out ${opts.outDir} holds ${hasCheckpoint ? RUN_FILE_NAMES.checkpoint : RUN_FILE_NAMES.result} but no ${RUN_FILE_NAMES.config}: it cannot be resumed safely; restore config.json, use another --out folder or delete this one`);
    }
    if (old) {
      const diff = configDiff(old, config);
      if (diff.length && (hasCheckpoint || hasResult)) {
        throw new UserError(`--out ${opts.outDir} holds a run with a different configuration (${diff.map((k) => `${k}: ${JSON.stringify((old as Record<string, unknown>)[k])} there, ${JSON.stringify((config as Record<string, unknown>)[k])} now`).join('; ')}); use another --out folder or delete this one`);
      }
      if (diff.length) log(`${opts.outDir} holds a run that never completed an epoch, with another configuration (${diff.join(', ')}): starting afresh`);
    }
    if (old && hasResult && configDiff(old, config).length === 0) {
      // A finished run returns its result; its checkpoint is not needed (nor read) for that.
      const done = withAdvice(() => readSealedJson<TrainResult>(f.result, 'run result'),
        hasCheckpoint ? `delete it to rebuild it from ${f.checkpoint}` : `delete ${opts.outDir} to rerun`);
      if (done && done.epochs?.length === config.epochs) {
        if (opts.dataset && done.inputs?.datasetChecksum !== opts.dataset.checksum) {
          throw new UserError(`--out ${opts.outDir} holds a finished run on other data (dataset checksum ${String(done.inputs?.datasetChecksum).slice(0, 12)}... there, ${opts.dataset.checksum.slice(0, 12)}... now); use another --out folder or delete this one`);
        }
        log(`run in ${opts.outDir} is already complete (${config.epochs} epochs); returning its result`);
        return done;
      }
    }
    if (old && configDiff(old, config).length === 0) checkNoOldCheckpoint(opts.outDir!);
    if (old && hasCheckpoint && configDiff(old, config).length === 0) resume = readCheckpoint<EpochRecord>(f.checkpoint);
  }

  const backend: BackendInfo = await initBackend();
  const ds = opts.dataset ?? loadDataset(config.dataset, { dir: opts.mnistDir, seed: config.dataSeed, shortcutLabels: config.shortcutLabels });
  if (opts.dataset && ds.seed !== config.dataSeed) throw new UserError(`the dataset given was built with data seed ${ds.seed}, the config says ${config.dataSeed}`);
  if (opts.dataset && (ds.shortcutLabels ?? 'class') !== config.shortcutLabels) throw new UserError(`the dataset given has shortcut labels '${ds.shortcutLabels ?? 'class'}', the config says '${config.shortcutLabels}'`);

  // --- data, made once
  const size = modelInputSize(config.model);
  const grid = modelGrid(config.model);
  const nTrain = Math.min(config.limit ?? ds.train.count, ds.train.count);
  const nVal = Math.min(config.evalLimit ?? ds.val.count, ds.val.count);
  const nTest = Math.min(config.evalLimit ?? ds.test.count, ds.test.count);
  if (nVal === 0) throw new UserError(`dataset ${ds.name} has no validation images: model selection needs a validation split`);
  const trainX = prepareImages(ds.train, nTrain, size), trainY = prepareLabels(ds.train, nTrain);
  const valX = prepareImages(ds.val, nVal, size), valY = prepareLabels(ds.val, nVal);
  const testX = prepareImages(ds.test, nTest, size), testY = prepareLabels(ds.test, nTest);
  const usesTargets = config.method === 'align';
  const spec = { maps: config.maps, postprocess: config.postprocess, threshold: config.mapThreshold, seed: config.seed, grid, prompt: config.prompt, cacheDir: opts.promptCacheDir };
  let targets: TargetMaps | undefined, valTargets: TargetMaps | undefined;
  if (usesTargets) {
    targets = await buildTargets(spec, ds, ds.train, nTrain);
    valTargets = await buildTargets(spec, ds, ds.val, nVal);
    if (targets!.empty) log(`warning: ${targets!.empty} of ${nTrain} target maps are empty (their attention term is 0)`);
  }
  // Prompt-guided constraint: the rrr penalty in prompt mode, and the validation right-reasons score of any run with prompts.
  const prompts = usesPrompts(config)
    ? await buildPromptConstraint(config, ds, nTrain, nVal, size, { cacheDir: opts.promptCacheDir, log, span: config.augment === 'prompt' || config.select === 'val-cf' })
    : undefined;
  if (config.select === 'val-rr' && !prompts?.measurable) throw new UserError(`--select val-rr needs validation maps of the prompts; --maps ${config.maps} has none (a map file holds training maps only)`);
  // rrr, eg and cdep read the same masks: the annotation (decoy region, or colour) or the prompts' (their language twin)
  const penalised = config.method === 'rrr' || config.method === 'eg' || config.method === 'cdep';
  const promptMode = penalised && config.rrrMode === 'prompt';
  if (promptMode && !prompts) throw new UserError(`--method ${config.method} --rrr-mode prompt needs --prompt, --negative-prompt or --attribute-prompt`);
  let rrrMasks: Float32Array | undefined = promptMode ? prompts!.train : undefined;
  const penalty = penalised ? (promptMode ? prompts!.penalty : rrrModePenalty(config.rrrMode as 'spatial' | 'colour')) : undefined;
  // CDEP's colour mode is its own ColorMNIST prior (single foreground pixels), not a matrix
  const cdep: CdepRegion | undefined = config.method !== 'cdep' ? undefined : config.rrrMode === 'colour'
    ? { kind: 'pixels', count: CDEP_COLOUR_PIXELS, probabilities: pixelProbabilities(trainX, nTrain, size) }
    : { kind: 'mask', penalty: penalty! };
  if (penalty?.spatial && !promptMode) {
    rrrMasks = prepareRrrMasks(ds.train, nTrain, size);
    if (!rrrMasks) throw new UserError(`--method ${config.method} with spatial masks needs a spatial shortcut (decoy patch); ${ds.name} has none: use --rrr-mode colour`);
  }

  // Counterfactual augmentation and validation (lib/train/counterfactuals.ts): training and validation images only.
  const cf = buildCounterfactuals(config, { name: ds.name, train: ds.train }, prompts, { nTrain, nVal, size, valX, trainX, batch: config.batch });

  const inputs: RunInputs = {
    dataset: ds.name, datasetChecksum: ds.checksum,
    targetsSha256: targets ? sha256(targets.data, valTargets?.data ?? new Float32Array(0)) : null,
    ...(usesTargets ? mapsFileInputs(config.maps) : {}),
  };
  if (resume) checkInputs(resume.meta.inputs as RunInputs | undefined, inputs, opts.outDir!);

  // --- engine
  const engine: TrainEngine = getEngineFactory(config.engine, config).create({
    config,
    optimizer: { ...DEFAULT_OPTIMIZER, kind: config.optimizer, momentum: config.momentum, weightDecay: config.weightDecay },
    initialWeights: initialWeights(config.model, config.seed),
    penalty,
    cdep,
  });
  const parameters = engine.parameterCount();
  let history: EpochRecord[] = [];
  let trainSeconds = 0, imagesTrained = 0, startEpoch = 0;
  if (resume) {
    engine.setState(resume.state);
    history = resume.meta.history.slice(0, resume.meta.epoch + 1);
    trainSeconds = resume.meta.trainSeconds;
    imagesTrained = resume.meta.imagesTrained;
    startEpoch = resume.meta.epoch + 1;
    log(`resuming ${opts.outDir} from its checkpoint after epoch ${resume.meta.epoch + 1} (${startEpoch} of ${config.epochs} epochs done)`);
    writeFileAtomic(f!.epochs, history.map((h) => JSON.stringify(h) + '\n').join(''));
  } else if (f) {
    writeSealedJson(f.config, config);
    writeFileAtomic(f.epochs, '');
  }
  // A run that fails before its first checkpoint leaves nothing behind (no config.json to refuse a corrected rerun).
  let checkpointWritten = !!resume;

  const B = config.batch;
  const rowX = size * size * 3, nGrid = grid.height * grid.width, rowM = size * size;
  const bx = new Float32Array(B * rowX), by = new Int32Array(B);
  const bt = usesTargets ? new Float32Array(B * nGrid) : undefined;
  const bm = rrrMasks ? new Float32Array(B * rowM) : undefined;

  try {
    // The run folder records its prompt maps' digests: a resume with other maps is an error.
    if (f && prompts) checkPromptRecord(f.prompts, prompts.info, !!resume);
    for (let e = startEpoch; e < config.epochs; e++) {
      const plan = planEpoch(config, e);
      if (plan.resetOptimizer) engine.resetOptimizer();
      const order = permutation(nTrain, createRng(`${config.seed}:order:${e}`));
      let sl = 0, sc = 0, sa = 0, nb = 0;
      const t0 = performance.now();
      for (let s = 0; s < nTrain; s += B) {
        const n = Math.min(B, nTrain - s);
        const idx = order.subarray(s, s + n);
        // the batch's images, varied where the prompts say nothing may matter when the run augments
        if (cf.train) counterfactualBatch(cf.train, idx, n, config.seed, `${e}:${s}`, bx);
        else gatherRows(trainX, rowX, idx, bx);
        for (let k = 0; k < n; k++) by[k] = trainY[idx[k]];
        if (bt) gatherRows(targets!.data, nGrid, idx, bt);
        if (bm) gatherRows(rrrMasks!, rowM, idx, bm);
        let r;
        try {
          r = engine.trainStep({
            size: n, images: bx.subarray(0, n * rowX), labels: by.subarray(0, n),
            targets: bt?.subarray(0, n * nGrid), rrrMask: bm?.subarray(0, n * rowM), drawKey: `${e}:${s}`,
          }, { phase: plan.phase, lambda: plan.lambda, lr: plan.lr });
        } catch (err) {
          if (err instanceof NonFiniteLossError) {
            throw diverged(e, `training diverged in epoch ${e + 1} of ${config.epochs}, batch ${s / B + 1}: ${err.message}`);
          }
          throw err;
        }
        sl += r.loss; sc += r.ce; sa += r.att; nb++;
        opts.onBatch?.(s + n, nTrain, e);
      }
      const seconds = (performance.now() - t0) / 1000;
      trainSeconds += seconds;
      imagesTrained += nTrain;
      const t1 = performance.now();
      const share = prompts?.measurable ? { rrrMask: prompts.val, penalty: prompts.measurePenalty } : {};
      const v = engine.evaluate({ size: nVal, images: valX, labels: valY, targets: valTargets?.data, ...share });
      const vcf = cf.val ? engine.evaluate({ size: nVal, images: cf.val, labels: valY }) : undefined;
      const t = engine.evaluate({ size: nTest, images: testX, labels: testY });
      const valAcc = v.correct / v.count;
      const valAttKl = v.attKlSum !== undefined ? v.attKlSum / v.count : null;
      const rec: EpochRecord = {
        epoch: e, phase: plan.phase, lambda: plan.lambda, lr: plan.lr,
        loss: sl / nb, ce: sc / nb, att: sa / nb,
        valAcc, valScore: valAttKl === null ? valAcc : valAcc * Math.exp(-config.scoreBeta * valAttKl), valAttKl,
        valExcludedShare: v.excludedShareSum !== undefined ? v.excludedShareSum / v.count / prompts!.shareBound : null,
        valCfAcc: vcf ? vcf.correct / vcf.count : null,
        testAcc: t.correct / t.count,
        seconds, evalSeconds: (performance.now() - t1) / 1000, imagesPerSecond: nTrain / seconds,
      };
      const state = engine.getState();
      const worst = largestWeight(state.weights);
      if (!(worst <= MAX_ABS_WEIGHT)) {
        throw diverged(e, `training diverged in epoch ${e + 1} of ${config.epochs}: a weight reached ${Number.isFinite(worst) ? `|w| = ${worst.toExponential(1)} (limit ${MAX_ABS_WEIGHT.toExponential(0)})` : 'a non-finite value'}`);
      }
      history.push(rec);
      if (f) {
        writeCheckpoint(f.checkpoint, { epoch: e, rng: { seed: config.seed, nextEpoch: e + 1 }, history, trainSeconds, imagesTrained, inputs }, state);
        checkpointWritten = true;
        // The epoch validation selects is the best of a growing prefix, so the final pick was the pick when it was
        // trained: keeping its weights now is all figures of the selected model need (selected.safetensors).
        if (selectEpoch(history, config.select) === e) {
          writeCheckpoint(f.selected, { epoch: e, rng: { seed: config.seed, nextEpoch: e + 1 }, history, trainSeconds, imagesTrained, inputs }, state);
        }
        fs.appendFileSync(f.epochs, JSON.stringify(rec) + '\n');
      }
      opts.onEpoch?.(rec, config.epochs);
      if (opts.haltAfterEpoch === e && e + 1 < config.epochs) throw new TrainingHalted(e);
    }
  } catch (err) {
    if (f && !checkpointWritten && !(err instanceof TrainingHalted)) {
      for (const file of [f.config, f.epochs, f.prompts]) fs.rmSync(file, { force: true });
    }
    throw err;
  } finally {
    engine.dispose();
  }

  const result: TrainResult = {
    config, backend: backend.name, threads: backend.threads, engine: engine.name,
    parameters,
    trainImages: nTrain, valImages: nVal, testImages: nTest,
    targets: targets ? { source: targets.source, empty: targets.empty } : null,
    prompts: prompts ? prompts.info : null,
    counterfactual: cf.info,
    ...selectionSummary(history, config.select),
    epochs: history, trainSeconds, imagesPerSecond: imagesTrained / trainSeconds,
    resumedAfterEpoch: resume ? resume.meta.epoch : null,
    finishedAt: new Date().toISOString(),
    inputs,
  };
  if (f) {
    writeSealedJson(f.result, result);
    fs.rmSync(f.diverged, { force: true }); // an earlier attempt's record (the run finished this time)
  }
  return result;

  /** The error for a run that diverged in epoch e (`what` happened; the advice and the kept checkpoint are added); the
   * run folder keeps a record of it (diverged.json, DivergedRun; its message names no folder, so it can be moved). */
  function diverged(e: number, what: string): TrainingDiverged {
    const message = `${what}; lower --lr or --lambda; ${keptCheckpoint()}`;
    if (f) {
      const sel = history.length ? selectionSummary(history, config.select) : undefined;
      const record: DivergedRun = {
        config, engine: engine.name, diverged: what, divergedInEpoch: e, selectBy: config.select,
        selectedEpoch: sel?.selectedEpoch ?? null, valAccSelected: sel?.valAccSelected ?? null,
        valExcludedShareSelected: sel?.valExcludedShareSelected ?? null, testAccSelected: sel?.testAccSelected ?? null,
        epochs: history, stoppedAt: new Date().toISOString(), inputs,
      };
      writeSealedJson(f.diverged, record);
    }
    return new TrainingDiverged(message);
  }

  function keptCheckpoint(): string {
    return f && fs.existsSync(f.checkpoint) ? `the last good checkpoint (after epoch ${history.length}) is kept in ${opts.outDir}` : 'no checkpoint was written yet';
  }
}

/** Runs `read`; a UserError it throws gets `advice` appended (what the user can do about a damaged file). */
function withAdvice<T>(read: () => T, advice: string): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${e.message}; ${advice}`);
    throw e;
  }
}

/** The largest |w| over all weight arrays (NaN or Infinity if any value is not finite). */
function largestWeight(weights: Record<string, { data: Float32Array }>): number {
  let worst = 0;
  for (const { data } of Object.values(weights)) {
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]);
      if (!(a <= worst)) {
        if (!Number.isFinite(a)) return a;
        worst = a;
      }
    }
  }
  return worst;
}

/** The map file's own checksum and prompt, when --maps names a file (for the resume message). */
function mapsFileInputs(maps: string): Pick<RunInputs, 'mapsFile'> {
  if (isMapSource(maps) || !fs.existsSync(maps)) return {};
  const r = MapStoreReader.open(maps, {}, { verify: false });
  try {
    return { mapsFile: { payloadSha256: r.header.payloadSha256, generator: r.header.generator, prompt: r.header.prompt } };
  } finally {
    r.close();
  }
}

/** A resume must find the data and maps its checkpoint was made from (by checksum, not by path). */
function checkInputs(was: RunInputs | undefined, now: RunInputs, outDir: string): void {
  const short = (s: string | null | undefined) => (s ? `${s.slice(0, 12)}...` : 'none');
  if (!was || typeof was.datasetChecksum !== 'string') {
    throw new UserError(`checkpoint in ${outDir} does not record the checksums of its data and maps; delete it to restart the run`);
  }
  if (was.datasetChecksum !== now.datasetChecksum) {
    throw new UserError(`--out ${outDir} was trained on other data: dataset ${was.dataset} had checksum ${short(was.datasetChecksum)}, ${now.dataset} now has ${short(now.datasetChecksum)} (another data seed, base files or shortcut rule?); use another --out folder or delete this one`);
  }
  if (was.targetsSha256 !== now.targetsSha256) {
    const file = (m: RunInputs['mapsFile']) => (m ? ` (${m.generator} maps, prompt ${JSON.stringify(m.prompt)}, payload ${short(m.payloadSha256)})` : '');
    throw new UserError(`--out ${outDir} was trained with other target maps: their checksum was ${short(was.targetsSha256)}${file(was.mapsFile)}, the maps give ${short(now.targetsSha256)} now${file(now.mapsFile)}; restore the map file or use another --out folder`);
  }
}

