import type { EngineState, EvalInput, EvalResult, StepLosses, StepOptions, TrainBatch, TrainEngine, OptimizerConfig, NamedArray } from '../train/engine';
import type { TrainConfig } from '../train/config';
import { NonFiniteLossError, usesAttentionTerm } from '../train/engine';
import { FusedLeNetGap, PARAM_ORDER, PARAM_COUNT, INPUT_FLOATS, GRID_CELLS, flattenParams, unflattenParams } from './lenet-gap-engine';
import { MODEL_SHAPES } from '../models/specs';

/** Why the fused engine cannot run a config (undefined: it can). It implements exactly the paper's net
 * and loss: LeNet-GAP, CAM, the paper KL, SGD; vanilla runs too (it never touches the attention branch). */
export function fusedUnsupported(c: Pick<TrainConfig, 'model' | 'method' | 'attention' | 'loss' | 'optimizer'>): string | undefined {
  if (c.model !== 'lenet-gap') return `it implements only the lenet-gap model, not '${c.model}'`;
  if (c.method === 'rrr') return 'it has no RRR (input-gradient) penalty';
  if (c.method === 'align' && c.attention !== 'cam') return `it implements only CAM attention, not '${c.attention}'`;
  if (c.method === 'align' && c.loss !== 'kl') return `it implements only the paper's 'kl' loss, not '${c.loss}'`;
  if (c.optimizer !== 'sgd') return `it implements only SGD, not '${c.optimizer}'`;
  return undefined;
}

export interface FusedEngineOptions {
  method: 'vanilla' | 'align';
  optimizer: OptimizerConfig;
  initialWeights: Record<string, NamedArray>;
  /** Softmax temperature of the paper KL (1 in the paper). */
  temperature?: number;
}

/**
 * TrainEngine over the fused wasm kernel (lib/fast/wasm/lenet_gap.c). Same numbers as TfjsEngine with
 * lenet-gap + cam + kl + sgd up to float rounding (test/speed-fused-engine.test.ts), several times faster.
 * Batches larger than the kernel's maximum are split into chunks whose gradients are summed with the
 * right weights before one SGD update, so any --batch works.
 */
export class FusedEngine implements TrainEngine {
  readonly name = 'fused';
  readonly inputSize = MODEL_SHAPES['lenet-gap'].inputSize;
  readonly grid = { ...MODEL_SHAPES['lenet-gap'].grid };
  private readonly k: FusedLeNetGap;
  private readonly o: FusedEngineOptions;
  private steps = 0;

  constructor(o: FusedEngineOptions) {
    if (o.optimizer.kind !== 'sgd') throw new Error('the fused engine implements only SGD');
    this.o = o;
    this.k = FusedLeNetGap.createSync();
    this.k.setParams(flattenParams(o.initialWeights));
  }

  parameterCount(): number {
    return PARAM_COUNT;
  }

  trainStep(batch: TrainBatch, opts: StepOptions): StepLosses {
    const useAtt = usesAttentionTerm(opts, this.o.method);
    if (useAtt && !batch.targets) throw new Error('align needs targets');
    const ceWeight = opts.phase === 'attention' ? 0 : 1;
    const lambda = !useAtt ? 0 : opts.phase === 'attention' ? 1 : opts.lambda;
    const max = this.k.maxBatch;
    let r;
    if (batch.size <= max) {
      r = this.k.computeGradients(batch.size, batch.images, batch.labels, useAtt ? batch.targets : undefined, { ceWeight, lambda, temperature: this.o.temperature });
    } else {
      // chunked: each chunk's gradient is a mean over the chunk; weight by its share of the batch
      const sum = new Float64Array(PARAM_COUNT);
      let loss = 0, ce = 0, kl = 0, correct = 0;
      for (let s = 0; s < batch.size; s += max) {
        const n = Math.min(max, batch.size - s);
        const c = this.k.computeGradients(n, batch.images.subarray(s * INPUT_FLOATS), batch.labels.subarray(s),
          useAtt ? batch.targets!.subarray(s * GRID_CELLS) : undefined, { ceWeight, lambda, temperature: this.o.temperature });
        const g = this.k.getGradients(), w = n / batch.size;
        for (let i = 0; i < PARAM_COUNT; i++) sum[i] += g[i] * w;
        loss += c.loss * w; ce += c.ce * w; kl += c.kl * w; correct += c.correct;
      }
      this.k.setGradientsForUpdate(Float32Array.from(sum));
      r = { loss, ce, kl, correct };
    }
    const losses: StepLosses = { loss: r.loss, ce: r.ce, att: useAtt ? r.kl : 0 };
    if (!Number.isFinite(losses.loss)) throw new NonFiniteLossError(losses);
    const oc = this.o.optimizer;
    this.k.applySgd({ lr: opts.lr, momentum: oc.momentum, weightDecay: oc.weightDecay });
    this.steps++;
    return losses;
  }

  evaluate(input: EvalInput): EvalResult {
    const wantKl = !!input.targets && this.o.method === 'align';
    const max = this.k.maxBatch;
    let correct = 0, klSum = 0;
    for (let s = 0; s < input.size; s += max) {
      const n = Math.min(max, input.size - s);
      const r = this.k.evaluate(n, input.images.subarray(s * INPUT_FLOATS), input.labels.subarray(s),
        wantKl ? input.targets!.subarray(s * GRID_CELLS) : undefined, this.o.temperature ?? 1);
      correct += r.correct;
      klSum += r.klSum ?? 0;
    }
    return { correct, count: input.size, ...(wantKl ? { attKlSum: klSum } : {}) };
  }

  resetOptimizer(): void {
    this.k.resetMomentum();
    this.steps = 0;
  }

  getState(): EngineState {
    const slots: EngineState['slots'] = {};
    for (const [name, v] of Object.entries(unflattenParams(this.k.getMomentum()))) slots[`momentum/${name}`] = v;
    return { weights: unflattenParams(this.k.getParams()), slots, step: this.steps };
  }

  setState(state: EngineState): void {
    this.k.setParams(flattenParams(state.weights));
    const mom: Record<string, NamedArray> = {};
    for (const p of PARAM_ORDER) {
      const s = state.slots[`momentum/${p.name}`];
      if (!s) throw new Error(`checkpoint lacks optimizer slot momentum/${p.name} (the fused engine uses SGD)`);
      mom[p.name] = s;
    }
    this.k.setMomentum(flattenParams(mom));
    this.steps = state.step;
  }

  dispose(): void {
    /* the wasm instance is garbage-collected with this object */
  }
}
