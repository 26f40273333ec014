import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShortcutDataset } from '../data/types';
import { loadDataset } from '../data';
import { initBackend, type BackendInfo } from '../backend';
import { createRng, permutation } from '../util/rng';
import { UserError } from '../util/errors';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic';
import { initialWeights, modelGrid, modelInputSize } from '../models';
import { DEFAULT_OPTIMIZER, type StepPhase, type TrainEngine } from './engine';
import { configDiff, resolveConfig, type TrainConfig } from './config';
import { planEpoch } from './schedule';
import { buildTargets, type TargetMaps } from './map-source';
import { gatherRows, prepareImages, prepareLabels, prepareRrrMasks } from './data';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { getEngineFactory } from './registry';
import { NonFiniteLossError } from './engine';
import { rrrModePenalty } from '../losses/rrr';
import './tfjs-factory';
import '../fast/register'; // --engine fused (lib/fast: LeNet-GAP + CAM + KL in one wasm kernel)

export interface EpochRecord {
  epoch: number;
  phase: StepPhase;
  lambda: number;
  lr: number;
  /** Means over the epoch's batches (as torch_ref prints). */
  loss: number;
  ce: number;
  att: number;
  valAcc: number;
  /** val acc x exp(-beta * mean reverse KL(p || q)) on validation targets; = valAcc when there are none. */
  valScore: number;
  valAttKl: number | null;
  testAcc: number;
  /** Training seconds of this epoch (no evaluation). */
  seconds: number;
  evalSeconds: number;
  imagesPerSecond: number;
}

export interface TrainResult {
  config: TrainConfig;
  backend: string;
  threads: number;
  engine: string;
  parameters: number;
  trainImages: number;
  valImages: number;
  testImages: number;
  targets: { source: string; empty: number } | null;
  selectBy: TrainConfig['select'];
  selectedEpoch: number;
  valAccSelected: number;
  valScoreSelected: number;
  testAccSelected: number;
  valAccFinal: number;
  testAccFinal: number;
  epochs: EpochRecord[];
  trainSeconds: number;
  imagesPerSecond: number;
  /** Epoch the run resumed after (null if it ran from the start). */
  resumedAfterEpoch: number | null;
  finishedAt: string;
}

export interface RunOptions {
  /** Run folder: config.json, epochs.jsonl, checkpoint.bin, result.json. Rerunning resumes. */
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
}

/** Thrown by runTraining when opts.haltAfterEpoch stops it. */
/** The result fields of the epoch validation selects (and of the last epoch), from the epoch records. */
export function selectionSummary(history: readonly EpochRecord[], select: TrainConfig['select']): Pick<TrainResult,
  'selectBy' | 'selectedEpoch' | 'valAccSelected' | 'valScoreSelected' | 'testAccSelected' | 'valAccFinal' | 'testAccFinal'> {
  const sel = selectEpoch(history, select);
  const last = history[history.length - 1];
  return {
    selectBy: select, selectedEpoch: sel,
    valAccSelected: history[sel].valAcc, valScoreSelected: history[sel].valScore, testAccSelected: history[sel].testAcc,
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

const files = (dir: string) => ({
  config: path.join(dir, 'config.json'),
  log: path.join(dir, 'epochs.jsonl'),
  checkpoint: path.join(dir, 'checkpoint.bin'),
  result: path.join(dir, 'result.json'),
});

/**
 * The epoch the validation metric picks (ties: the earliest). Reads validation numbers only.
 * When the run has a combined phase (align, RRR after epoch A), only those epochs compete: an
 * epoch from the CE-only warm-up is a vanilla model and must not be reported as the method's.
 */
export function selectEpoch(
  epochs: ReadonlyArray<Pick<EpochRecord, 'valAcc' | 'valScore'> & { phase?: StepPhase }>,
  by: TrainConfig['select'],
): number {
  const value = (e: number) => (by === 'val-acc' ? epochs[e].valAcc : epochs[e].valScore);
  const combined = epochs.some((e) => e.phase === 'combined');
  let best = -1;
  for (let e = 0; e < epochs.length; e++) {
    if (combined && epochs[e].phase !== 'combined') continue;
    if (best < 0 || value(e) > value(best)) best = e;
  }
  return Math.max(best, 0);
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
  const f = opts.outDir ? files(opts.outDir) : undefined;

  // --- resume or start
  let resume: ReturnType<typeof readCheckpoint<EpochRecord>> | undefined;
  if (f) {
    fs.mkdirSync(opts.outDir!, { recursive: true });
    if (fs.existsSync(f.config)) {
      let old: TrainConfig;
      try { old = JSON.parse(fs.readFileSync(f.config, 'utf8')); } catch { throw new UserError(`${f.config} is not valid JSON`); }
      const diff = configDiff(old, config);
      if (diff.length) {
        throw new UserError(`--out ${opts.outDir} holds a run with a different configuration (${diff.map((k) => `${k}: ${JSON.stringify((old as any)[k])} there, ${JSON.stringify((config as any)[k])} now`).join('; ')}); use another --out folder or delete this one`);
      }
      if (fs.existsSync(f.checkpoint)) resume = readCheckpoint<EpochRecord>(f.checkpoint);
      if (resume && resume.meta.epoch + 1 >= config.epochs && fs.existsSync(f.result)) {
        log(`run in ${opts.outDir} is already complete (${config.epochs} epochs); returning its result`);
        return JSON.parse(fs.readFileSync(f.result, 'utf8')) as TrainResult;
      }
    }
    writeJsonAtomic(f.config, config);
  }

  const backend: BackendInfo = await initBackend();
  const ds = opts.dataset ?? loadDataset(config.dataset, { dir: opts.mnistDir, seed: config.dataSeed });
  if (opts.dataset && ds.seed !== config.dataSeed) throw new UserError(`the dataset given was built with data seed ${ds.seed}, the config says ${config.dataSeed}`);

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
  const spec = { maps: config.maps, postprocess: config.postprocess, threshold: config.mapThreshold, seed: config.seed, grid };
  let targets: TargetMaps | undefined, valTargets: TargetMaps | undefined;
  if (usesTargets) {
    targets = await buildTargets(spec, ds, ds.train, nTrain);
    valTargets = await buildTargets(spec, ds, ds.val, nVal);
    if (targets!.empty) log(`warning: ${targets!.empty} of ${nTrain} target maps are empty (their attention term is 0)`);
  }
  let rrrMasks: Float32Array | undefined;
  const penalty = config.method === 'rrr' ? rrrModePenalty(config.rrrMode) : undefined;
  if (penalty?.spatial) {
    rrrMasks = prepareRrrMasks(ds.train, nTrain, size);
    if (!rrrMasks) throw new UserError(`--method rrr with spatial masks needs a spatial shortcut (decoy patch); ${ds.name} has none: use --rrr-mode colour`);
  }

  // --- engine
  const engine: TrainEngine = getEngineFactory(config.engine, config).create({
    config,
    optimizer: { ...DEFAULT_OPTIMIZER, kind: config.optimizer, momentum: config.momentum, weightDecay: config.weightDecay },
    initialWeights: initialWeights(config.model, config.seed),
    penalty,
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
    log(`resuming ${opts.outDir} from its checkpoint after epoch ${resume.meta.epoch} (${startEpoch} of ${config.epochs} epochs done)`);
    writeFileAtomic(f!.log, history.map((h) => JSON.stringify(h) + '\n').join(''));
  } else if (f) {
    writeFileAtomic(f.log, '');
  }

  const B = config.batch;
  const rowX = size * size * 3, nGrid = grid.height * grid.width, rowM = size * size;
  const bx = new Float32Array(B * rowX), by = new Int32Array(B);
  const bt = usesTargets ? new Float32Array(B * nGrid) : undefined;
  const bm = rrrMasks ? new Float32Array(B * rowM) : undefined;

  try {
    for (let e = startEpoch; e < config.epochs; e++) {
      const plan = planEpoch(config, e);
      if (plan.resetOptimizer) engine.resetOptimizer();
      const order = permutation(nTrain, createRng(`${config.seed}:order:${e}`));
      let sl = 0, sc = 0, sa = 0, nb = 0;
      const t0 = performance.now();
      for (let s = 0; s < nTrain; s += B) {
        const n = Math.min(B, nTrain - s);
        const idx = order.subarray(s, s + n);
        gatherRows(trainX, rowX, idx, bx);
        for (let k = 0; k < n; k++) by[k] = trainY[idx[k]];
        if (bt) gatherRows(targets!.data, nGrid, idx, bt);
        if (bm) gatherRows(rrrMasks!, rowM, idx, bm);
        let r;
        try {
          r = engine.trainStep({
            size: n, images: bx.subarray(0, n * rowX), labels: by.subarray(0, n),
            targets: bt?.subarray(0, n * nGrid), rrrMask: bm?.subarray(0, n * rowM),
          }, { phase: plan.phase, lambda: plan.lambda, lr: plan.lr });
        } catch (err) {
          if (err instanceof NonFiniteLossError) {
            const kept = f && fs.existsSync(f.checkpoint) ? `the last good checkpoint (after epoch ${history.length - 1}) is kept in ${opts.outDir}` : 'no checkpoint was written yet';
            throw new TrainingDiverged(`training diverged at epoch ${e}, batch ${s / B}: ${err.message}; lower --lr or --lambda; ${kept}`);
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
      const v = engine.evaluate({ size: nVal, images: valX, labels: valY, targets: valTargets?.data });
      const t = engine.evaluate({ size: nTest, images: testX, labels: testY });
      const valAcc = v.correct / v.count;
      const valAttKl = v.attKlSum !== undefined ? v.attKlSum / v.count : null;
      const rec: EpochRecord = {
        epoch: e, phase: plan.phase, lambda: plan.lambda, lr: plan.lr,
        loss: sl / nb, ce: sc / nb, att: sa / nb,
        valAcc, valScore: valAttKl === null ? valAcc : valAcc * Math.exp(-config.scoreBeta * valAttKl), valAttKl,
        testAcc: t.correct / t.count,
        seconds, evalSeconds: (performance.now() - t1) / 1000, imagesPerSecond: nTrain / seconds,
      };
      history.push(rec);
      if (f) {
        writeCheckpoint(f.checkpoint, { epoch: e, rng: { seed: config.seed, nextEpoch: e + 1 }, history, trainSeconds, imagesTrained }, engine.getState());
        fs.appendFileSync(f.log, JSON.stringify(rec) + '\n');
      }
      opts.onEpoch?.(rec, config.epochs);
      if (opts.haltAfterEpoch === e && e + 1 < config.epochs) throw new TrainingHalted(e);
    }
  } finally {
    engine.dispose();
  }

  const result: TrainResult = {
    config, backend: backend.name, threads: backend.threads, engine: engine.name,
    parameters,
    trainImages: nTrain, valImages: nVal, testImages: nTest,
    targets: targets ? { source: targets.source, empty: targets.empty } : null,
    ...selectionSummary(history, config.select),
    epochs: history, trainSeconds, imagesPerSecond: imagesTrained / trainSeconds,
    resumedAfterEpoch: resume ? resume.meta.epoch : null,
    finishedAt: new Date().toISOString(),
  };
  if (f) writeJsonAtomic(f.result, result);
  return result;
}

