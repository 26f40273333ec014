import * as tf from '@tensorflow/tfjs';
import { NonFiniteLossError, usesAttentionTerm, type InputGradPenalty, type EngineState, type EvalInput, type EvalResult, type OptimizerConfig, type StepLosses, type StepOptions, type TrainBatch, type TrainEngine } from '../types';
import type { Model } from '../../models/types';
import type { AttentionMethod } from '../../attention/types';
import type { AttentionLoss } from '../../losses/types';
import { penaltyPerImage, rrrInputGradient, rrrPenalty } from '../../losses/rrr';
import { oneHotLabels } from '../../attention/base';
import { cdepPenalty, type CdepRegion } from '../../losses/cdep';
import { drawReferences, egPenalty } from '../../losses/expected-gradients';
import { createRng } from '../../util/rng';
import { UserError } from '../../util/errors';

export interface TfjsEngineOptions {
  model: Model;
  method: 'vanilla' | 'align' | 'rrr' | 'cdep' | 'eg';
  attention?: AttentionMethod;
  loss?: AttentionLoss;
  /** The input-gradient penalty of methods 'rrr' and 'eg' (for 'eg' applied to the attributions). */
  penalty?: InputGradPenalty;
  /** Method 'cdep': what the decomposition calls relevant. */
  cdep?: CdepRegion;
  /** Method 'eg': reference draws per image and step (default 1). */
  egReferences?: number;
  /** Seed of the per-step draws of 'eg' and of CDEP's pixel prior (with each batch's drawKey). */
  drawSeed?: number;
  optimizer: OptimizerConfig;
  /** Images per evaluation forward pass. */
  evalBatch?: number;
}

/** Softmax cross-entropy, mean over the batch (PyTorch F.cross_entropy). */
function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const oh = oneHotLabels(labels, logits.shape[1]);
  return tf.neg(tf.div(tf.sum(tf.mul(oh, tf.logSoftmax(logits, 1))), logits.shape[0])) as tf.Scalar;
}

/**
 * A step too large for memory as the user's error, or undefined for any other error. The wasm backend's memory stops
 * at 4 GiB and a failed allocation there surfaces as a RuntimeError 'memory access out of bounds'; a typed array
 * beyond what JavaScript can allocate is a RangeError. Both scale with what the user chose: the batch and, for EG,
 * its references (each image's k interpolated copies go through the double backprop together).
 */
function outOfMemoryError(e: unknown, batchSize: number, egReferences: number | undefined): UserError | undefined {
  const wasmOom = e instanceof WebAssembly.RuntimeError && /memory access out of bounds/.test(e.message);
  const allocation = e instanceof RangeError && /typed array length|allocation failed/i.test(e.message);
  if (!wasmOom && !allocation) return undefined;
  const size = egReferences === undefined ? `a batch of ${batchSize} images` : `a batch of ${batchSize} images x ${egReferences} EG references (${batchSize * egReferences} interpolated images)`;
  const fewer = egReferences === undefined ? 'a smaller --batch' : 'fewer --eg-references or a smaller --batch';
  return new UserError(`the tfjs engine ran out of memory${wasmOom ? ' (the wasm backend holds at most 4 GiB)' : ''} on ${size}: use ${fewer}`);
}

/**
 * The generic engine: any model x attention method x loss on tfjs (wasm by default). Optimizers are
 * written out (not tf.train.*) so their state can be checkpointed and follows PyTorch exactly:
 *   SGD:  g += wd*p; buf = momentum*buf + g; p -= lr*buf
 *   Adam: g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * m_hat / (sqrt(v_hat) + eps)
 */
export class TfjsEngine implements TrainEngine {
  readonly name = 'tfjs';
  readonly inputSize: number;
  readonly grid: { height: number; width: number };
  private readonly o: TfjsEngineOptions;
  private slots: Map<string, tf.Variable> = new Map();
  private step = 0;

  constructor(o: TfjsEngineOptions) {
    this.o = o;
    this.inputSize = o.model.inputSize;
    this.grid = o.model.grid;
    this.resetOptimizer();
  }

  private get secondOrder(): boolean {
    return this.o.method === 'rrr' || (this.o.method === 'align' && !!this.o.attention?.needsSecondOrder);
  }

  parameterCount(): number {
    return this.o.model.params.reduce((a, p) => a + p.variable.size, 0);
  }

  resetOptimizer(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots = new Map();
    this.step = 0;
    const kinds = this.o.optimizer.kind === 'adam' ? ['adam.m', 'adam.v'] : ['momentum'];
    for (const p of this.o.model.params) {
      for (const k of kinds) this.slots.set(`${k}/${p.name}`, tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)));
    }
  }

  /** The attention term (before lambda) of a batch. */
  private attentionTerm(x: tf.Tensor4D, y: tf.Tensor1D, fwd: ReturnType<Model['forward']>, batch: TrainBatch): tf.Scalar {
    const { model, method } = this.o;
    if (method === 'cdep' || method === 'eg') {
      // the draws of a batch without a key (callers other than the trainer) follow the optimizer step
      const rng = createRng(`${this.o.drawSeed ?? 0}:${method}:${batch.drawKey ?? `step ${this.step}`}`);
      const spatial = method === 'cdep' ? this.o.cdep?.kind === 'mask' && !!this.o.cdep.penalty.spatial : !!this.o.penalty?.spatial;
      const mask = spatial ? tf.tensor3d(batch.rrrMask!, [batch.size, this.inputSize, this.inputSize]) : undefined;
      if (method === 'cdep') {
        if (!this.o.cdep) throw new Error('method cdep needs its region (what the decomposition calls relevant)');
        return cdepPenalty(model, x, this.o.cdep, mask, rng);
      }
      if (!this.o.penalty) throw new Error('method eg needs an input-gradient penalty');
      return egPenalty(model, x, y, this.o.penalty, drawReferences(batch.size, this.o.egReferences ?? 1, rng), mask);
    }
    if (method === 'rrr') {
      const penalty = this.o.penalty;
      if (!penalty) throw new Error('method rrr needs an input-gradient penalty');
      const mask = penalty.spatial ? tf.tensor3d(batch.rrrMask!, [batch.size, this.inputSize, this.inputSize]) : undefined;
      return rrrPenalty(model, x, penalty, mask, fwd.logits);
    }
    if (!this.o.attention || !this.o.loss || !batch.targets) throw new Error('align needs an attention method, a loss and targets');
    const map = this.o.attention.map({ model, x, labels: y, forward: fwd, training: true });
    const q = tf.tensor2d(batch.targets, [batch.size, this.grid.height * this.grid.width]);
    return this.o.loss.loss(map, q);
  }

  trainStep(batch: TrainBatch, opts: StepOptions): StepLosses {
    try {
      return this.unguardedTrainStep(batch, opts);
    } catch (e) {
      throw outOfMemoryError(e, batch.size, this.o.method === 'eg' ? this.o.egReferences ?? 1 : undefined) ?? e;
    }
  }

  private unguardedTrainStep(batch: TrainBatch, opts: StepOptions): StepLosses {
    const { model } = this.o;
    const vars = model.params.map((p) => p.variable);
    const s = this.inputSize;
    const useAtt = usesAttentionTerm(opts, this.o.method);
    let losses: StepLosses = { loss: 0, ce: 0, att: 0 };
    tf.tidy(() => {
      const x = tf.tensor4d(batch.images, [batch.size, s, s, 3]);
      const y = tf.tensor1d(batch.labels, 'int32');
      let ceT: tf.Scalar | undefined, attT: tf.Scalar | undefined;
      const f = (): tf.Scalar => {
        const fwd = model.forward(x, { secondOrder: this.secondOrder && useAtt });
        ceT = tf.keep(crossEntropy(fwd.logits, y));
        if (!useAtt) return ceT;
        attT = tf.keep(this.attentionTerm(x, y, fwd, batch));
        if (opts.phase === 'attention') return attT;
        return tf.add(ceT, tf.mul(attT, opts.lambda)) as tf.Scalar;
      };
      const { value, grads } = tf.variableGrads(f, vars);
      const nums = tf.stack([value, ceT!, attT ?? tf.scalar(0)]).dataSync();
      // kept tensors outlive every tidy: release them here
      ceT!.dispose(); attT?.dispose();
      losses = { loss: nums[0], ce: nums[1], att: nums[2] };
      if (!Number.isFinite(losses.loss)) throw new NonFiniteLossError(losses);
      this.applyUpdates(grads, opts.lr);
    });
    return losses;
  }

  private applyUpdates(grads: tf.NamedTensorMap, lr: number): void {
    const oc = this.o.optimizer;
    this.step++;
    const t = this.step;
    for (const p of this.o.model.params) {
      const v = p.variable;
      let g = grads[v.name];
      if (!g) continue;
      if (oc.weightDecay) g = tf.add(g, tf.mul(v, oc.weightDecay));
      if (oc.kind === 'sgd') {
        const buf = this.slots.get(`momentum/${p.name}`)!;
        const nb = oc.momentum ? tf.add(tf.mul(buf, oc.momentum), g) : g;
        buf.assign(nb);
        v.assign(tf.sub(v, tf.mul(nb, lr)));
      } else {
        const m = this.slots.get(`adam.m/${p.name}`)!, vv = this.slots.get(`adam.v/${p.name}`)!;
        const nm = tf.add(tf.mul(m, oc.beta1), tf.mul(g, 1 - oc.beta1));
        const nv = tf.add(tf.mul(vv, oc.beta2), tf.mul(tf.square(g), 1 - oc.beta2));
        m.assign(nm); vv.assign(nv);
        const bc1 = 1 - Math.pow(oc.beta1, t), bc2 = 1 - Math.pow(oc.beta2, t);
        const denom = tf.add(tf.div(tf.sqrt(nv), Math.sqrt(bc2)), oc.eps);
        v.assign(tf.sub(v, tf.mul(tf.div(nm, denom), lr / bc1)));
      }
    }
  }

  evaluate(input: EvalInput): EvalResult {
    const { model } = this.o;
    const s = this.inputSize;
    const bs = this.o.evalBatch ?? 500;
    const n = this.grid.height * this.grid.width;
    const hw = s * s * 3;
    let correct = 0;
    let klSum = 0, shareSum = 0;
    const wantShare = !!input.penalty;
    const wantKl = !!input.targets && this.o.method === 'align' && !!this.o.attention && !!this.o.loss;
    for (let i = 0; i < input.size; i += bs) {
      const b = Math.min(bs, input.size - i);
      const res = tf.tidy(() => {
        const x = tf.tensor4d(input.images.subarray(i * hw, (i + b) * hw), [b, s, s, 3]);
        const y = tf.tensor1d(input.labels.subarray(i, i + b), 'int32');
        const fwd = model.forward(x);
        const ok = tf.sum(tf.cast(tf.equal(tf.argMax(fwd.logits, 1), y), 'int32'));
        if (!wantKl) return [ok];
        // reverse KL(p || q) with q floored at 1e-8 (q has exact zeros off the band)
        const map = this.o.attention!.map({ model, x, labels: y, forward: fwd, training: false });
        const logp = this.o.loss!.logDistribution(map);
        const q = tf.tensor2d(input.targets!.subarray(i * n, (i + b) * n), [b, n]);
        const kl = tf.sum(tf.mul(tf.exp(logp), tf.sub(logp, tf.log(tf.add(q, 1e-8)))));
        return [ok, kl];
      });
      const vals = res.map((t) => t.dataSync()[0]);
      res.forEach((t) => t.dispose());
      correct += vals[0];
      if (wantKl) klSum += vals[1];
      if (wantShare) shareSum += this.excludedShare(input, i, b);
    }
    return { correct, count: input.size, ...(wantKl ? { attKlSum: klSum } : {}), ...(wantShare ? { excludedShareSum: shareSum } : {}) };
  }

  /** Sum over images [i, i + b) of R(x) / sum_p |g_p|^2 (EvalResult.excludedShareSum). */
  private excludedShare(input: EvalInput, i: number, b: number): number {
    const s = this.inputSize;
    return tf.tidy(() => {
      const x = tf.tensor4d(input.images.subarray(i * s * s * 3, (i + b) * s * s * 3), [b, s, s, 3]);
      // the differentiable pooling (secondOrder) routes max-pool ties to the first maximum, as training and the fused
      // engine do; tf.maxPool's own gradient breaks the frame's constant-pixel ties differently
      const g = rrrInputGradient(this.o.model, x, true);
      const w = input.penalty!.spatial ? tf.tensor3d(input.rrrMask!.subarray(i * s * s, (i + b) * s * s), [b, s, s]) : undefined;
      const r = penaltyPerImage(g, input.penalty!, w);
      const tot = tf.sum(tf.square(g), [1, 2, 3]);
      return tf.sum(tf.where(tf.greater(tot, 0), tf.div(r, tf.maximum(tot, 1e-30)), tf.zerosLike(r)));
    }).dataSync()[0];
  }

  getState(): EngineState {
    const weights: EngineState['weights'] = {};
    for (const p of this.o.model.params) weights[p.name] = { shape: [...p.variable.shape], data: (p.variable.dataSync() as Float32Array).slice() };
    const slots: EngineState['slots'] = {};
    for (const [k, v] of this.slots) slots[k] = { shape: [...v.shape], data: (v.dataSync() as Float32Array).slice() };
    return { weights, slots, step: this.step };
  }

  setState(state: EngineState): void {
    for (const p of this.o.model.params) {
      const w = state.weights[p.name];
      if (!w || w.data.length !== p.variable.size) throw new Error(`checkpoint lacks weights for ${p.name} or has the wrong shape`);
      tf.tidy(() => p.variable.assign(tf.tensor(w.data, p.variable.shape)));
    }
    for (const [k, v] of this.slots) {
      const w = state.slots[k];
      if (!w || w.data.length !== v.size) throw new Error(`checkpoint lacks optimizer slot ${k} or has the wrong shape`);
      tf.tidy(() => v.assign(tf.tensor(w.data, v.shape)));
    }
    this.step = state.step;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
    this.o.attention?.dispose?.();
    this.o.model.dispose();
  }
}
