import type { EngineState, EvalInput, EvalResult, StepLosses, StepOptions, TrainBatch, TrainEngine, OptimizerConfig, NamedArray, InputGradPenalty, EngineRunConfig } from '../types';
import { NonFiniteLossError, usesAttentionTerm } from '../types';
import { FusedLeNetGap, PARAM_ORDER, PARAM_COUNT, INPUT_FLOATS, INPUT_PIXELS, GRID_CELLS, flattenParams, unflattenParams, type FusedAttention } from './kernel';
import { MODEL_SHAPES } from '../../models/specs';
import { drawPixels, type CdepRegion } from '../../losses/cdep';
import { createRng } from '../../util/rng';

const FUSED_ATTENTION: readonly FusedAttention[] = ['cam', 'gradcam', 'inputgrad'];

/** Why the fused engine cannot run a config (undefined: it can). It implements LeNet-GAP with vanilla CE, the
 * paper's KL on a CAM, Grad-CAM or input-gradient map, every input-gradient penalty of method 'rrr', and CDEP
 * (both of its regions); SGD and Adam. */
export function fusedUnsupported(c: Pick<EngineRunConfig, 'model' | 'method' | 'attention' | 'loss' | 'optimizer'>): string | undefined {
  if (c.model !== 'lenet-gap') return `it implements only the lenet-gap model, not '${c.model}'`;
  if (c.method !== 'vanilla' && c.method !== 'align' && c.method !== 'rrr' && c.method !== 'cdep') return `it has no '${c.method}' method`;
  if (c.method === 'align' && !FUSED_ATTENTION.includes(c.attention)) return `it implements cam, gradcam and inputgrad attention for align, not '${c.attention}'`;
  if (c.method === 'align' && c.loss !== 'kl') return `it implements only the paper's 'kl' loss, not '${c.loss}'`;
  if (c.optimizer !== 'sgd' && c.optimizer !== 'adam') return `it implements SGD and Adam, not '${c.optimizer}'`;
  return undefined;
}

export interface FusedEngineOptions {
  method: 'vanilla' | 'align' | 'rrr' | 'cdep';
  optimizer: OptimizerConfig;
  initialWeights: Record<string, NamedArray>;
  /** Softmax temperature of the paper KL (1 in the paper). */
  temperature?: number;
  /** Method 'align': the attention map (default 'cam'). */
  attention?: FusedAttention;
  /** Method 'rrr': the input-gradient penalty. */
  penalty?: InputGradPenalty;
  /** Method 'cdep': what the decomposition calls relevant. */
  cdep?: CdepRegion;
  /** Seed of CDEP's pixel draws (with each batch's drawKey), as the tfjs engine's drawSeed: the same pixels. */
  drawSeed?: number;
}

/** Optimizer slot names of the fused engine, as the tfjs engine names them (checkpoints move between engines). */
const SLOT_KINDS = { sgd: ['momentum'], adam: ['adam.m', 'adam.v'] } as const;

/**
 * TrainEngine over the fused wasm kernel (lib/engines/fused/wasm/lenet_gap.c). Same numbers as TfjsEngine up to float
 * rounding (test/engines-fused-kernel.test.ts), several times faster. Batches larger than the kernel's maximum
 * are split into chunks whose gradients are summed with the right weights before one optimizer update, so any
 * --batch works (CDEP's pixels are drawn once per step, for all of its chunks, as the tfjs engine draws them once
 * per batch).
 */
export class FusedEngine implements TrainEngine {
  readonly name = 'fused';
  readonly inputSize = MODEL_SHAPES['lenet-gap'].inputSize;
  readonly grid = { ...MODEL_SHAPES['lenet-gap'].grid };
  private readonly k: FusedLeNetGap;
  private readonly o: FusedEngineOptions;
  private steps = 0;
  /** The penalty loaded into the kernel (evaluation may measure another one). */
  private loadedPenalty?: InputGradPenalty;

  constructor(o: FusedEngineOptions) {
    if (o.method === 'rrr' && !o.penalty) throw new Error('method rrr needs an input-gradient penalty');
    if (o.method === 'cdep' && !o.cdep) throw new Error('method cdep needs its region (what the decomposition calls relevant)');
    this.o = o;
    this.k = FusedLeNetGap.createSync();
    this.k.setParams(flattenParams(o.initialWeights));
    if (o.penalty) this.usePenalty(o.penalty);
  }

  /** Loads CDEP's region for a step: the mask split's penalty, or this step's pixels, drawn as the tfjs engine
   * draws them (lib/engines/tfjs/engine.ts attentionTerm: the same stream, so the same pixels). */
  private prepareCdep(batch: TrainBatch): void {
    const region = this.o.cdep!;
    if (region.kind === 'mask') {
      this.usePenalty(region.penalty);
      this.k.setCdepPixels(null);
    } else {
      const rng = createRng(`${this.o.drawSeed ?? 0}:cdep:${batch.drawKey ?? `step ${this.steps}`}`);
      this.k.setCdepPixels(drawPixels(region.probabilities, region.count, rng));
    }
  }

  private usePenalty(p: InputGradPenalty): void {
    if (this.loadedPenalty === p) return;
    this.k.setPenalty(p);
    this.loadedPenalty = p;
  }

  parameterCount(): number {
    return PARAM_COUNT;
  }

  trainStep(batch: TrainBatch, opts: StepOptions): StepLosses {
    const useAtt = usesAttentionTerm(opts, this.o.method);
    const rrr = useAtt && this.o.method === 'rrr';
    const cdep = useAtt && this.o.method === 'cdep';
    if (useAtt && !rrr && !cdep && !batch.targets) throw new Error('align needs targets');
    if (rrr) this.usePenalty(this.o.penalty!);
    if (cdep) this.prepareCdep(batch);
    const masked = rrr || (cdep && this.o.cdep!.kind === 'mask');
    const ceWeight = opts.phase === 'attention' ? 0 : 1;
    const lambda = !useAtt ? 0 : opts.phase === 'attention' ? 1 : opts.lambda;
    const step = (n: number, s: number) => this.k.computeGradients(n, batch.images.subarray(s * INPUT_FLOATS), batch.labels.subarray(s),
      useAtt && !rrr && !cdep ? batch.targets!.subarray(s * GRID_CELLS) : undefined,
      { ceWeight, lambda, temperature: this.o.temperature, attention: this.o.attention, penalty: rrr, cdep, masks: masked ? batch.rrrMask?.subarray(s * INPUT_PIXELS) : undefined });
    const max = this.k.maxBatch;
    let r;
    if (batch.size <= max) {
      r = step(batch.size, 0);
    } else {
      // chunked: each chunk's gradient is a mean over the chunk; weight by its share of the batch
      const sum = new Float64Array(PARAM_COUNT);
      let loss = 0, ce = 0, kl = 0, correct = 0;
      for (let s = 0; s < batch.size; s += max) {
        const n = Math.min(max, batch.size - s);
        const c = step(n, s);
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
    this.steps++;
    if (oc.kind === 'adam') {
      this.k.applyAdam({ lr: opts.lr, beta1: oc.beta1, beta2: oc.beta2, eps: oc.eps, weightDecay: oc.weightDecay, step: this.steps });
    } else {
      this.k.applySgd({ lr: opts.lr, momentum: oc.momentum, weightDecay: oc.weightDecay });
    }
    return losses;
  }

  evaluate(input: EvalInput): EvalResult {
    const wantKl = !!input.targets && this.o.method === 'align';
    const wantShare = !!input.penalty;
    if (wantShare) this.usePenalty(input.penalty!);
    const max = this.k.maxBatch;
    let correct = 0, klSum = 0, shareSum = 0;
    for (let s = 0; s < input.size; s += max) {
      const n = Math.min(max, input.size - s);
      const r = this.k.evaluate(n, input.images.subarray(s * INPUT_FLOATS), input.labels.subarray(s),
        wantKl ? input.targets!.subarray(s * GRID_CELLS) : undefined, this.o.temperature ?? 1,
        wantShare ? { masks: input.rrrMask?.subarray(s * INPUT_PIXELS) } : undefined, this.o.attention);
      correct += r.correct;
      klSum += r.klSum ?? 0;
      shareSum += r.excludedShareSum ?? 0;
    }
    return { correct, count: input.size, ...(wantKl ? { attKlSum: klSum } : {}), ...(wantShare ? { excludedShareSum: shareSum } : {}) };
  }

  resetOptimizer(): void {
    this.k.resetMomentum();
    this.steps = 0;
  }

  getState(): EngineState {
    const slots: EngineState['slots'] = {};
    const moments = [this.k.getMomentum(), this.k.getSecondMoment()];
    SLOT_KINDS[this.o.optimizer.kind].forEach((kind, i) => {
      for (const [name, v] of Object.entries(unflattenParams(moments[i]))) slots[`${kind}/${name}`] = v;
    });
    return { weights: unflattenParams(this.k.getParams()), slots, step: this.steps };
  }

  setState(state: EngineState): void {
    this.k.setParams(flattenParams(state.weights));
    const kinds = SLOT_KINDS[this.o.optimizer.kind];
    const flat = kinds.map((kind) => {
      const named: Record<string, NamedArray> = {};
      for (const p of PARAM_ORDER) {
        const s = state.slots[`${kind}/${p.name}`];
        if (!s) throw new Error(`checkpoint lacks optimizer slot ${kind}/${p.name} (the fused engine uses ${this.o.optimizer.kind})`);
        named[p.name] = s;
      }
      return flattenParams(named);
    });
    this.k.setMomentum(flat[0]);
    this.k.setSecondMoment(flat[1] ?? new Float32Array(PARAM_COUNT));
    this.steps = state.step;
  }

  dispose(): void {
    /* the wasm instance is garbage-collected with this object */
  }
}
