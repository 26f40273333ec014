import type { EngineState, EvalInput, EvalResult, StepLosses, StepOptions, TrainBatch, TrainEngine, OptimizerConfig, NamedArray, InputGradPenalty, EngineRunConfig } from '../types';
import { NonFiniteLossError, usesAttentionTerm } from '../types';
import { FusedLeNetGap, PARAM_ORDER, PARAM_COUNT, INPUT_FLOATS, INPUT_PIXELS, GRID_CELLS, flattenParams, unflattenParams, type FusedAttention } from './kernel';
import { MODEL_SHAPES } from '../../models/specs';
import { drawPixels, type CdepRegion } from '../../losses/cdep';
import { drawReferences, type EgDraws } from '../../losses/expected-gradients';
import { createRng } from '../../util/rng';

const FUSED_ATTENTION: readonly FusedAttention[] = ['cam', 'gradcam', 'inputgrad'];

/** Why the fused engine cannot run a config (undefined: it can). It implements LeNet-GAP with vanilla CE, the
 * paper's KL on a CAM, Grad-CAM or input-gradient map, every input-gradient penalty of method 'rrr', the same
 * penalties on expected-gradients attributions (method 'eg', any number of references), and CDEP (method 'cdep', both
 * of its regions); SGD and Adam. */
export function fusedUnsupported(c: Pick<EngineRunConfig, 'model' | 'method' | 'attention' | 'loss' | 'optimizer'> & Partial<Pick<EngineRunConfig, 'egReferences'>>): string | undefined {
  if (c.model !== 'lenet-gap') return `it implements only the lenet-gap model, not '${c.model}'`;
  if (c.method !== 'vanilla' && c.method !== 'align' && c.method !== 'rrr' && c.method !== 'eg' && c.method !== 'cdep') return `it has no '${c.method}' method`;
  if (c.method === 'align' && !FUSED_ATTENTION.includes(c.attention)) return `it implements cam, gradcam and inputgrad attention for align, not '${c.attention}'`;
  if (c.method === 'align' && c.loss !== 'kl') return `it implements only the paper's 'kl' loss, not '${c.loss}'`;
  if (c.optimizer !== 'sgd' && c.optimizer !== 'adam') return `it implements SGD and Adam, not '${c.optimizer}'`;
  if (c.method === 'eg' && (c.egReferences ?? 1) > FUSED_MAX_EG_REFERENCES) return `it runs at most ${FUSED_MAX_EG_REFERENCES} EG references per image, not ${c.egReferences}`;
  return undefined;
}

/** The most EG references per image one kernel call holds: an image and its k references share the kernel's 1024
 * batch rows (MAXB), so k <= 1023 (its 8192 draws per call then still fit one image's). Checked against the built
 * kernel in test/engines-fused-eg.test.ts; `--engine auto` falls back to tfjs above it. */
export const FUSED_MAX_EG_REFERENCES = 1023;

export interface FusedEngineOptions {
  method: 'vanilla' | 'align' | 'rrr' | 'eg' | 'cdep';
  optimizer: OptimizerConfig;
  initialWeights: Record<string, NamedArray>;
  /** Softmax temperature of the paper KL (1 in the paper). */
  temperature?: number;
  /** Method 'align': the attention map (default 'cam'). */
  attention?: FusedAttention;
  /** Methods 'rrr' and 'eg': the input-gradient penalty (for 'eg' applied to the attributions). */
  penalty?: InputGradPenalty;
  /** Method 'eg': reference draws per image and step (default 1). */
  egReferences?: number;
  /** Method 'cdep': what the decomposition calls relevant. */
  cdep?: CdepRegion;
  /** Seed of the per-step draws of EG (references, alphas) and of CDEP's pixel prior (with each batch's drawKey): the
   * tfjs engine's drawSeed, so both engines draw the same ones for one run. */
  drawSeed?: number;
}

/** Optimizer slot names of the fused engine, as the tfjs engine names them (checkpoints move between engines). */
const SLOT_KINDS = { sgd: ['momentum'], adam: ['adam.m', 'adam.v'] } as const;

/**
 * TrainEngine over the fused wasm kernel (lib/engines/fused/wasm/lenet_gap.c). Same numbers as TfjsEngine up to float
 * rounding (test/engines-fused-kernel.test.ts, engines-fused-rrr, engines-fused-eg, engines-fused-cdep), several
 * times faster. Batches larger than the kernel's maximum are split into chunks whose gradients are summed with the
 * right weights before one optimizer update, so any --batch works. EG draws its references from the whole batch (as
 * the tfjs engine does) before any split; a chunk then carries copies of the reference images from outside it
 * (egChunk). CDEP's pixels are likewise drawn once per step, for all of its chunks.
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
    if ((o.method === 'rrr' || o.method === 'eg') && !o.penalty) throw new Error(`method ${o.method} needs an input-gradient penalty`);
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
    const rrr = useAtt && this.o.method === 'rrr', eg = useAtt && this.o.method === 'eg', cdep = useAtt && this.o.method === 'cdep';
    if (useAtt && !rrr && !eg && !cdep && !batch.targets) throw new Error('align needs targets');
    if (rrr || eg) this.usePenalty(this.o.penalty!);
    if (cdep) this.prepareCdep(batch);
    const masked = rrr || (cdep && this.o.cdep!.kind === 'mask');
    const ceWeight = opts.phase === 'attention' ? 0 : 1;
    const lambda = !useAtt ? 0 : opts.phase === 'attention' ? 1 : opts.lambda;
    // EG's draws as the tfjs engine makes them (TfjsEngine.attentionTerm): same seed, key and step count, whole batch
    const draws = eg ? drawReferences(batch.size, this.o.egReferences ?? 1,
      createRng(`${this.o.drawSeed ?? 0}:eg:${batch.drawKey ?? `step ${this.steps}`}`)) : undefined;
    const step = (n: number, s: number) => draws ? this.egChunk(batch, s, n, draws, ceWeight, lambda)
      : this.k.computeGradients(n, batch.images.subarray(s * INPUT_FLOATS), batch.labels.subarray(s),
        useAtt && !rrr && !cdep ? batch.targets!.subarray(s * GRID_CELLS) : undefined,
        { ceWeight, lambda, temperature: this.o.temperature, attention: this.o.attention, penalty: rrr, cdep, masks: masked ? batch.rrrMask?.subarray(s * INPUT_PIXELS) : undefined });
    const max = draws ? this.egChunkSize(batch.size, draws.references.length / batch.size) : this.k.maxBatch;
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

  /** Images per kernel call for an EG step of `size` images with k draws each: the whole batch when it fits (its
   * images and draws), else chunks of n images whose n k references fit beside them as extra rows. */
  private egChunkSize(size: number, k: number): number {
    if (size <= this.k.maxBatch && size * k <= this.k.maxEgDraws) return size;
    const n = Math.min(Math.floor(this.k.maxBatch / (k + 1)), Math.floor(this.k.maxEgDraws / k));
    if (n < 1) throw new Error(`the fused engine cannot run ${k} EG references per image (at most ${Math.min(this.k.maxBatch - 1, this.k.maxEgDraws)})`);
    return n;
  }

  /** One kernel call of an EG step: images [s, s + n) of the batch with their draws. A chunk of a larger batch gets
   * its images followed by copies of the reference images from outside it, and its draws renumbered to those rows. */
  private egChunk(batch: TrainBatch, s: number, n: number, draws: EgDraws, ceWeight: number, lambda: number) {
    const masks = batch.rrrMask?.subarray(s * INPUT_PIXELS);
    if (s === 0 && n === batch.size) return this.k.computeEgGradients(n, batch.images, batch.labels, draws, { ceWeight, lambda, masks });
    const k = draws.references.length / batch.size;
    const refs = draws.references.subarray(s * k, (s + n) * k);
    const local = new Int32Array(refs.length), outside = new Map<number, number>();
    refs.forEach((r, i) => {
      if (r >= s && r < s + n) { local[i] = r - s; return; }
      let row = outside.get(r);
      if (row === undefined) outside.set(r, row = n + outside.size);
      local[i] = row;
    });
    const rows = n + outside.size, images = new Float32Array(rows * INPUT_FLOATS);
    images.set(batch.images.subarray(s * INPUT_FLOATS, (s + n) * INPUT_FLOATS));
    for (const [r, row] of outside) images.set(batch.images.subarray(r * INPUT_FLOATS, (r + 1) * INPUT_FLOATS), row * INPUT_FLOATS);
    return this.k.computeEgGradients(n, images, batch.labels.subarray(s), { references: local, alphas: draws.alphas.subarray(s * k, (s + n) * k) },
      { ceWeight, lambda, masks, rows });
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
