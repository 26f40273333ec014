import { DEFAULT_OPTIMIZER, type TrainBatch, type TrainEngine } from '../../engines/types';
import { getEngineFactory } from '../../engines/registry';
import { initialWeights } from '../../models';
import type { TrainConfig } from '../config';
import { gatherRows } from '../data';
import { counterfactualBatch, type RunCounterfactuals } from '../counterfactuals';
import type { RunData } from './data';
import type { RunMaps } from './maps';
import type { RunPenalty } from './penalty';
import '../../engines'; // registers the engines: tfjs, fused (lib/engines/fused: LeNet-GAP's vanilla, align, rrr, eg and cdep in one wasm kernel) and auto

/** One training step: the engine (model, loss, penalty, optimizer) and the batches it is fed. */
export interface TrainStep {
  engine: TrainEngine;
  parameters: number;
  batches: StepBatches;
}

/** Stage 6, the step: the engine the config names, from the seeded initial weights, with the run's penalty. */
export function buildStep(config: TrainConfig, d: RunData, maps: RunMaps, p: RunPenalty, cf: RunCounterfactuals): TrainStep {
  const engine = getEngineFactory(config.engine, config).create({
    config,
    optimizer: { ...DEFAULT_OPTIMIZER, kind: config.optimizer, momentum: config.momentum, weightDecay: config.weightDecay },
    initialWeights: initialWeights(config.model, config.seed),
    penalty: p.penalty,
    cdep: p.cdep,
  });
  return { engine, parameters: engine.parameterCount(), batches: new StepBatches(config, d, maps, p, cf) };
}

/**
 * The batches of a step, in buffers made once: the images (gathered, or varied where the prompts say nothing may
 * matter when the run augments, lib/train/counterfactuals.ts), labels, align's targets and the penalty's masks.
 */
export class StepBatches {
  private readonly rowX: number;
  private readonly nGrid: number;
  private readonly rowM: number;
  private readonly bx: Float32Array;
  private readonly by: Int32Array;
  private readonly bt?: Float32Array;
  private readonly bm?: Float32Array;

  constructor(private readonly config: TrainConfig, private readonly d: RunData, private readonly maps: RunMaps,
    private readonly p: RunPenalty, private readonly cf: RunCounterfactuals) {
    const B = config.batch;
    this.rowX = d.size * d.size * 3;
    this.nGrid = d.grid.height * d.grid.width;
    this.rowM = d.size * d.size;
    this.bx = new Float32Array(B * this.rowX);
    this.by = new Int32Array(B);
    this.bt = maps.targets ? new Float32Array(B * this.nGrid) : undefined;
    this.bm = p.rrrMasks ? new Float32Array(B * this.rowM) : undefined;
  }

  /** The batch of training rows `idx` (its draws keyed on `key`: epoch and first position). */
  batch(idx: Int32Array, key: string): TrainBatch {
    const n = idx.length;
    // varied images are a view of the counterfactual batch step's memory (the engine copies the batch in anyway)
    const images = this.cf.train ? counterfactualBatch(this.cf.train, idx, n, this.config.seed, key)
      : gatherRows(this.d.trainX, this.rowX, idx, this.bx).subarray(0, n * this.rowX);
    for (let k = 0; k < n; k++) this.by[k] = this.d.trainY[idx[k]];
    if (this.bt) gatherRows(this.maps.targets!.data, this.nGrid, idx, this.bt);
    if (this.bm) gatherRows(this.p.rrrMasks!, this.rowM, idx, this.bm);
    return {
      size: n, images, labels: this.by.subarray(0, n),
      targets: this.bt?.subarray(0, n * this.nGrid), rrrMask: this.bm?.subarray(0, n * this.rowM), drawKey: key,
    };
  }
}
