import { NonFiniteLossError, type TrainEngine } from '../../engines/types';
import { createRng, permutation } from '../../util/rng';
import type { TrainConfig } from '../config';
import type { RunCounterfactuals } from '../counterfactuals';
import type { EpochRecord } from '../result';
import type { RunOptions } from '../run-options';
import { planEpoch, type EpochPlan } from '../schedule';
import { MAX_ABS_WEIGHT, TrainingHalted, largestWeight } from '../stops';
import type { RunData } from './data';
import type { RunMaps } from './maps';
import type { RunProgress, RunRecorder } from './record';
import type { TrainStep } from './step';

/** Everything the epochs read: the config, the prepared data, maps and counterfactuals, the step, the run folder. */
export interface LoopContext {
  config: TrainConfig;
  data: RunData;
  maps: RunMaps;
  cf: RunCounterfactuals;
  step: TrainStep;
  recorder: RunRecorder;
  opts: Pick<RunOptions, 'onEpoch' | 'onBatch' | 'haltAfterEpoch'>;
}

/**
 * Stage 7, the loop: each epoch trains on the training images in a seeded order, evaluates, checks the weights and
 * records itself (checkpoint, selected weights, log line); `progress` grows with each.
 */
export function trainEpochs(ctx: LoopContext, progress: RunProgress): void {
  const { config, step, recorder, opts } = ctx;
  for (let e = progress.nextEpoch; e < config.epochs; e++) {
    const plan = planEpoch(config, e);
    if (plan.resetOptimizer) step.engine.resetOptimizer();
    const trained = trainEpoch(ctx, plan, progress);
    progress.trainSeconds += trained.seconds;
    progress.imagesTrained += ctx.data.nTrain;
    const rec = evaluateEpoch(ctx, plan, trained);
    const state = step.engine.getState();
    const worst = largestWeight(state.weights);
    if (!(worst <= MAX_ABS_WEIGHT)) {
      throw recorder.diverged(e, `training diverged in epoch ${e + 1} of ${config.epochs}: a weight reached ${Number.isFinite(worst) ? `|w| = ${worst.toExponential(1)} (limit ${MAX_ABS_WEIGHT.toExponential(0)})` : 'a non-finite value'}`, progress.history, step.engine.name);
    }
    progress.history.push(rec);
    recorder.epoch(e, rec, progress, state);
    progress.nextEpoch = e + 1;
    opts.onEpoch?.(rec, config.epochs);
    if (opts.haltAfterEpoch === e && e + 1 < config.epochs) throw new TrainingHalted(e);
  }
}

/** What one epoch's training gives: its mean losses over batches and its seconds. */
interface TrainedEpoch {
  loss: number;
  ce: number;
  att: number;
  seconds: number;
}

/** One epoch's steps over the training images in the epoch's seeded order (a non-finite loss is a divergence). */
function trainEpoch(ctx: LoopContext, plan: EpochPlan, progress: RunProgress): TrainedEpoch {
  const { config, step, opts } = ctx;
  const e = plan.epoch, nTrain = ctx.data.nTrain, B = config.batch;
  const order = permutation(nTrain, createRng(`${config.seed}:order:${e}`));
  let sl = 0, sc = 0, sa = 0, nb = 0;
  const t0 = performance.now();
  for (let s = 0; s < nTrain; s += B) {
    const n = Math.min(B, nTrain - s);
    let r;
    try {
      r = step.engine.trainStep(step.batches.batch(order.subarray(s, s + n), `${e}:${s}`), { phase: plan.phase, lambda: plan.lambda, lr: plan.lr });
    } catch (err) {
      if (err instanceof NonFiniteLossError) {
        throw ctx.recorder.diverged(e, `training diverged in epoch ${e + 1} of ${config.epochs}, batch ${s / B + 1}: ${err.message}`, progress.history, step.engine.name);
      }
      throw err;
    }
    sl += r.loss; sc += r.ce; sa += r.att; nb++;
    opts.onBatch?.(s + n, nTrain, e);
  }
  return { loss: sl / nb, ce: sc / nb, att: sa / nb, seconds: (performance.now() - t0) / 1000 };
}

/** The epoch's record: validation (with the prompts' excluded share and align's attention divergence where measured),
 * counterfactual validation, test. */
function evaluateEpoch(ctx: LoopContext, plan: EpochPlan, trained: TrainedEpoch): EpochRecord {
  const { config, data: d, maps, cf } = ctx;
  const engine: TrainEngine = ctx.step.engine;
  const t1 = performance.now();
  const prompts = maps.prompts;
  const share = prompts?.measurable ? { rrrMask: prompts.val, penalty: prompts.measurePenalty } : {};
  const v = engine.evaluate({ size: d.nVal, images: d.valX, labels: d.valY, targets: maps.valTargets?.data, ...share });
  const vcf = cf.val ? engine.evaluate({ size: d.nVal, images: cf.val, labels: d.valY }) : undefined;
  const t = engine.evaluate({ size: d.nTest, images: d.testX, labels: d.testY });
  const valAcc = v.correct / v.count;
  const valAttKl = v.attKlSum !== undefined ? v.attKlSum / v.count : null;
  return {
    epoch: plan.epoch, phase: plan.phase, lambda: plan.lambda, lr: plan.lr,
    loss: trained.loss, ce: trained.ce, att: trained.att,
    valAcc, valScore: valAttKl === null ? valAcc : valAcc * Math.exp(-config.scoreBeta * valAttKl), valAttKl,
    valExcludedShare: v.excludedShareSum !== undefined ? v.excludedShareSum / v.count / prompts!.shareBound : null,
    valCfAcc: vcf ? vcf.correct / vcf.count : null,
    testAcc: t.correct / t.count,
    seconds: trained.seconds, evalSeconds: (performance.now() - t1) / 1000, imagesPerSecond: d.nTrain / trained.seconds,
  };
}
