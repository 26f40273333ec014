import { LENET_GAP_WASM_BASE64 } from './wasm/lenet-gap-wasm';
import { MODEL_SHAPES, PARAM_SPECS, paramCount } from '../../models/specs';
import type { InputGradPenalty } from '../types';
import type { EgDraws } from '../../losses/expected-gradients';

/**
 * The fused LeNet-GAP training step (lib/engines/fused/wasm/lenet_gap.c, WebAssembly SIMD): forward, backward and the
 * optimizer step in one call, single-threaded, no tfjs, for vanilla CE, the paper's KL on a CAM, Grad-CAM or
 * input-gradient attention map, the input-gradient penalties (RRR, prompt-guided constraints; double backprop
 * written out in the kernel), the same penalty on expected-gradients attributions (method eg) and CDEP (the
 * contextual decomposition and its backward, wasm/cdep.c). Parameters use the
 * tfjs layouts of lib/models/lenet-gap.ts (conv HWIO, dense [in, out]), in PARAM_ORDER, 3,042 floats.
 *
 * Inputs per batch: images [B, 32, 32, 3] in [-1, 1] (preprocessed by the caller, as for the tfjs engine),
 * labels [B], and for the attention term the target distributions [B, 10, 10] (each sums to 1).
 */

// The kernel's fixed layout is LeNet-GAP's (lib/models/specs.ts); the C code hard-codes the same sizes.
const SHAPE = MODEL_SHAPES['lenet-gap'];
export const PARAM_ORDER = PARAM_SPECS['lenet-gap'];
export const PARAM_COUNT = paramCount('lenet-gap');
export const INPUT_FLOATS = SHAPE.inputSize * SHAPE.inputSize * 3;
export const GRID_CELLS = SHAPE.grid.height * SHAPE.grid.width;
export const INPUT_PIXELS = SHAPE.inputSize * SHAPE.inputSize;

interface WasmExports {
  memory: WebAssembly.Memory;
  train_step(B: number, lam: number, ceW: number, invT: number, mode: number): number;
  sgd_update(lr: number, momentum: number, wd: number): void;
  adam_update(lr: number, b1: number, b2: number, eps: number, wd: number, bc1: number, bc2: number): void;
  eval_batch(B: number, att: number, invT: number, wantShare: number): void;
  reset_momentum(): void;
  ptr_vel(): number;
  ptr_pmask(): number;
  ptr_pen(): number;
  set_pen_flags(f: number): void;
  max_batch(): number;
  max_eg_draws(): number;
  ptr_eg_ref(): number;
  ptr_eg_alpha(): number;
  set_eg_k(k: number): void;
  ptr_params(): number;
  ptr_grads(): number;
  ptr_mom(): number;
  ptr_x(): number;
  ptr_labels(): number;
  ptr_target(): number;
  ptr_logits(): number;
  ptr_stats(): number;
  prof_phase(which: number, reps: number): void;
  ptr_cdep_pix(): number;
  max_cdep_pixels(): number;
  set_cdep_npix(n: number): void;
  cdep_decompose(B: number): void;
  ptr_cdep_parts(): number;
}

/** Attention maps of the align step (lib/attention): the kernel's mode numbers. */
export type FusedAttention = 'cam' | 'gradcam' | 'inputgrad';
const ATTENTION_MODE: Record<FusedAttention, number> = { cam: 1, gradcam: 3, inputgrad: 4 };
const MODE_RRR = 2;
const MODE_EG = 5;
const MODE_CDEP = 6;

function attentionMode(a: FusedAttention | undefined): number {
  const m = ATTENTION_MODE[a ?? 'cam'];
  if (!m) throw new Error(`the fused kernel has no '${a}' attention (cam, gradcam or inputgrad)`);
  return m;
}

export interface FusedStepOptions {
  /** Weight of the cross-entropy term (0 for an attention-only phase). Default 1. */
  ceWeight?: number;
  /** Weight of the KL term (or of the input-gradient penalty with `penalty`); 0 skips that branch entirely. */
  lambda?: number;
  /** Use the input-gradient penalty set by setPenalty (per-pixel weights in `masks`) instead of CAM + KL. */
  penalty?: boolean;
  /** Per-pixel penalty weights [B, 32, 32] (needed when the penalty has a per-pixel term). */
  masks?: Float32Array;
  /** Softmax temperature of the paper KL (paper: 1). */
  temperature?: number;
  /** The attention map of the KL term (default 'cam'): CAM, Grad-CAM or the input-gradient saliency. */
  attention?: FusedAttention;
  /** CDEP's score instead of the KL, on the region set by setCdepPixels (the 'mask' split takes the penalty set by
   * setPenalty and, with its per-pixel term, the weights in `masks`). */
  cdep?: boolean;
}

export interface FusedStepResult {
  /** Mean loss that the gradients belong to: ceWeight * CE + lambda * KL. */
  loss: number;
  ce: number;
  /** Mean KL(q || p), the mean penalty R with `penalty`, or CDEP's penalty with `cdep` (0 when the branch was
   * skipped). */
  kl: number;
  /** Correct argmax predictions in the batch (before the update). */
  correct: number;
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
}

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Step number counted from 1 (bias correction). */
  step: number;
}

let cachedModule: WebAssembly.Module | undefined;
function wasmBytes(): Uint8Array<ArrayBuffer> {
  const b = Buffer.from(LENET_GAP_WASM_BASE64, 'base64');
  const out = new Uint8Array(new ArrayBuffer(b.length));
  out.set(b);
  return out;
}

/**
 * One fused engine instance = one wasm instance (its own memory, parameters and momentum). Create with
 * `createSync()`: Node compiles any size synchronously, and the trainer's engine factory is synchronous.
 */
export class FusedLeNetGap {
  private readonly e: WasmExports;
  /** Most images (batch rows, plus reference rows for EG) one call takes. */
  maxBatch: number;
  /** Most EG draws (images x references) one call takes. */
  maxEgDraws: number;

  private constructor(instance: WebAssembly.Instance) {
    this.e = instance.exports as unknown as WasmExports;
    this.maxBatch = this.e.max_batch();
    this.maxEgDraws = this.e.max_eg_draws();
  }

  static createSync(): FusedLeNetGap {
    if (!cachedModule) cachedModule = new WebAssembly.Module(wasmBytes());
    return new FusedLeNetGap(new WebAssembly.Instance(cachedModule, {}));
  }

  /** Views are re-made on each use: cheap, and safe should the memory ever grow. */
  private f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.e.memory.buffer, ptr, n);
  }

  /** All parameters, flat in PARAM_ORDER (a copy). */
  getParams(): Float32Array {
    return this.f32(this.e.ptr_params(), PARAM_COUNT).slice();
  }
  setParams(flat: ArrayLike<number>): void {
    if (flat.length !== PARAM_COUNT) throw new Error(`expected ${PARAM_COUNT} parameters, got ${flat.length}`);
    this.f32(this.e.ptr_params(), PARAM_COUNT).set(flat);
  }
  /** Momentum buffers, flat in PARAM_ORDER (a copy). */
  getMomentum(): Float32Array {
    return this.f32(this.e.ptr_mom(), PARAM_COUNT).slice();
  }
  setMomentum(flat: ArrayLike<number>): void {
    if (flat.length !== PARAM_COUNT) throw new Error(`expected ${PARAM_COUNT} momentum values, got ${flat.length}`);
    this.f32(this.e.ptr_mom(), PARAM_COUNT).set(flat);
  }
  /** Adam's second moments (a copy; the first moments are getMomentum()). */
  getSecondMoment(): Float32Array {
    return this.f32(this.e.ptr_vel(), PARAM_COUNT).slice();
  }
  setSecondMoment(flat: ArrayLike<number>): void {
    if (flat.length !== PARAM_COUNT) throw new Error(`expected ${PARAM_COUNT} second-moment values, got ${flat.length}`);
    this.f32(this.e.ptr_vel(), PARAM_COUNT).set(flat);
  }
  /** Zeroes momentum and Adam's moments. */
  resetMomentum(): void {
    this.e.reset_momentum();
  }

  private penaltyFlags = 0;
  /** Sets the input-gradient penalty (lib/engines/types.ts InputGradPenalty) used by `penalty` steps and shares. */
  setPenalty(p: InputGradPenalty): void {
    const pen = this.f32(this.e.ptr_pen(), 18);
    pen.fill(0);
    for (const [m, o] of [[p.spatial, 0], [p.global, 9]] as const) {
      if (!m) continue;
      if (m.length !== 9) throw new Error(`a penalty matrix has 9 entries (3x3), got ${m.length}`);
      pen.set(m, o);
    }
    this.penaltyFlags = (p.spatial ? 1 : 0) | (p.global ? 2 : 0);
    this.e.set_pen_flags(this.penaltyFlags);
  }

  private cdepPixels = false;
  /**
   * CDEP's region (lib/losses/cdep.ts CdepRegion) for `cdep` steps: null for the 'mask' split rel = w x + (1 - w) x C
   * (w and C from the penalty set by setPenalty), or the drawn pixels of the 'pixels' prior, each a split of its own
   * (the same pixels for every image of the step; the penalty is the sum of their scores).
   */
  setCdepPixels(pixels: readonly number[] | null): void {
    const n = pixels?.length ?? 0;
    if (n > this.e.max_cdep_pixels()) throw new Error(`at most ${this.e.max_cdep_pixels()} CDEP pixels per step, got ${n}`);
    if (pixels) {
      if (!n) throw new Error('the CDEP pixel region needs at least one pixel');
      const v = new Int32Array(this.e.memory.buffer, this.e.ptr_cdep_pix(), n);
      pixels.forEach((p, i) => {
        if (!(Number.isInteger(p) && p >= 0 && p < INPUT_PIXELS)) throw new Error(`CDEP pixel ${p} outside 0..${INPUT_PIXELS - 1}`);
        v[i] = p;
      });
    }
    this.e.set_cdep_npix(n);
    this.cdepPixels = !!pixels;
  }

  private loadMasks(size: number, masks: Float32Array | undefined): void {
    if (!(this.penaltyFlags & 1)) return;
    if (!masks || masks.length < size * INPUT_PIXELS) throw new Error(`the penalty's per-pixel term needs ${size * INPUT_PIXELS} mask values, got ${masks?.length ?? 0}`);
    this.f32(this.e.ptr_pmask(), size * INPUT_PIXELS).set(masks.subarray(0, size * INPUT_PIXELS));
  }
  /** Gradients of the last computeGradients call (a copy), flat in PARAM_ORDER. */
  getGradients(): Float32Array {
    return this.f32(this.e.ptr_grads(), PARAM_COUNT).slice();
  }

  /** Copies a batch (images, labels, optional targets) into wasm memory; `rows` >= size images (EG: the batch's, then
   * reference images from outside it). */
  private load(size: number, images: Float32Array, labels: Int32Array, targets?: Float32Array, rows = size): void {
    if (!(size >= 1 && size <= this.maxBatch)) throw new Error(`batch size ${size} outside 1..${this.maxBatch}`);
    if (!(rows >= size && rows <= this.maxBatch)) throw new Error(`image rows ${rows} outside ${size}..${this.maxBatch}`);
    if (images.length < rows * INPUT_FLOATS) throw new Error(`images: need ${rows * INPUT_FLOATS} floats, got ${images.length}`);
    if (labels.length < size) throw new Error(`labels: need ${size}, got ${labels.length}`);
    this.f32(this.e.ptr_x(), rows * INPUT_FLOATS).set(images.subarray(0, rows * INPUT_FLOATS));
    const lab = new Int32Array(this.e.memory.buffer, this.e.ptr_labels(), size);
    for (let i = 0; i < size; i++) {
      const y = labels[i];
      if (!(y >= 0 && y < 10)) throw new Error(`label ${y} at ${i} outside 0..9`);
      lab[i] = y;
    }
    if (targets) {
      if (targets.length < size * GRID_CELLS) throw new Error(`targets: need ${size * GRID_CELLS} floats, got ${targets.length}`);
      this.f32(this.e.ptr_target(), size * GRID_CELLS).set(targets.subarray(0, size * GRID_CELLS));
    }
  }

  /** Gradients of the batch loss (no parameter change); read them with getGradients(). */
  computeGradients(size: number, images: Float32Array, labels: Int32Array, targets: Float32Array | undefined, o: FusedStepOptions = {}): FusedStepResult {
    const lambda = o.lambda ?? 0;
    const rrr = lambda !== 0 && !!o.penalty;
    const cdep = !rrr && lambda !== 0 && !!o.cdep;
    const align = !rrr && !cdep && lambda !== 0 && !!targets;
    const T = o.temperature ?? 1;
    this.load(size, images, labels, align ? targets : undefined);
    if (rrr || (cdep && !this.cdepPixels)) this.loadMasks(size, o.masks);
    this.e.train_step(size, align || rrr || cdep ? lambda : 0, o.ceWeight ?? 1, 1 / T, rrr ? MODE_RRR : cdep ? MODE_CDEP : align ? attentionMode(o.attention) : 0);
    const st = this.f32(this.e.ptr_stats(), 4);
    return { loss: st[0], ce: st[1], kl: st[2], correct: st[3] };
  }

  /**
   * CDEP's contextual decomposition of the logits alone (no gradients): per image, the relevant and the irrelevant
   * part [size, 10] each, of the region set by setCdepPixels (the mask split, with its weights in `masks`, or the
   * first pixel's split). rel + irr is the forward's logits up to rounding.
   */
  decompose(size: number, images: Float32Array, masks?: Float32Array): { rel: Float32Array; irr: Float32Array } {
    this.load(size, images, new Int32Array(size));
    if (!this.cdepPixels) this.loadMasks(size, masks);
    this.e.cdep_decompose(size);
    const parts = this.f32(this.e.ptr_cdep_parts(), size * 20);
    const rel = new Float32Array(size * 10), irr = new Float32Array(size * 10);
    for (let n = 0; n < size; n++) {
      rel.set(parts.subarray(n * 20, n * 20 + 10), n * 10);
      irr.set(parts.subarray(n * 20 + 10, n * 20 + 20), n * 10);
    }
    return { rel, irr };
  }

  /**
   * Gradients of ceWeight * CE + lambda * the expected-gradients penalty (lib/losses/expected-gradients.ts egPenalty
   * with the penalty set by setPenalty, per-pixel weights in `masks`): k = draws.references.length / size draws per
   * image, draw d of image i at i * k + d, each reference a row of `images` (rows >= size of them: the batch, then
   * any reference images from outside it). `kl` of the result is the mean penalty. Read the gradients with
   * getGradients().
   */
  computeEgGradients(size: number, images: Float32Array, labels: Int32Array, draws: EgDraws, o: { ceWeight?: number; lambda: number; masks?: Float32Array; rows?: number }): FusedStepResult {
    const n = draws.references.length, k = n / size, rows = o.rows ?? size;
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`EG draws: ${n} references for ${size} images (need k per image, k >= 1)`);
    if (draws.alphas.length !== n) throw new Error(`EG draws: ${n} references but ${draws.alphas.length} alphas`);
    if (n > this.maxEgDraws) throw new Error(`EG draws: ${n} exceed the kernel's ${this.maxEgDraws} per call`);
    for (let i = 0; i < n; i++) {
      const r = draws.references[i];
      if (!(r >= 0 && r < rows)) throw new Error(`EG draws: reference ${r} at ${i} outside the ${rows} image rows`);
    }
    this.load(size, images, labels, undefined, rows);
    this.loadMasks(size, o.masks);
    new Int32Array(this.e.memory.buffer, this.e.ptr_eg_ref(), n).set(draws.references);
    this.f32(this.e.ptr_eg_alpha(), n).set(draws.alphas);
    this.e.set_eg_k(k);
    this.e.train_step(size, o.lambda, o.ceWeight ?? 1, 1, MODE_EG);
    const st = this.f32(this.e.ptr_stats(), 4);
    return { loss: st[0], ce: st[1], kl: st[2], correct: st[3] };
  }

  /** Replaces the gradients that applySgd will use (e.g. a sum over chunks of an oversized batch). */
  setGradientsForUpdate(flat: ArrayLike<number>): void {
    if (flat.length !== PARAM_COUNT) throw new Error(`expected ${PARAM_COUNT} gradients, got ${flat.length}`);
    this.f32(this.e.ptr_grads(), PARAM_COUNT).set(flat);
  }

  /** Applies the gradients of the last computeGradients call (torch.optim.SGD semantics). After an attention-only
   * align step (ceWeight 0) the output bias has no gradient and is left alone (no weight decay or momentum), as the
   * tfjs engine leaves a parameter without a gradient. */
  applySgd(o: SgdOptions): void {
    this.e.sgd_update(o.lr, o.momentum, o.weightDecay);
  }

  /** Applies the gradients of the last computeGradients call (torch.optim.Adam semantics; parameters without a
   * gradient are left alone, as for applySgd). */
  applyAdam(o: AdamOptions): void {
    const bc1 = 1 - Math.pow(o.beta1, o.step), bc2 = 1 - Math.pow(o.beta2, o.step);
    this.e.adam_update(o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, bc1, bc2);
  }

  /**
   * Forward pass: logits [size, 10] (a copy) and the number of correct predictions; with targets also the
   * summed reverse KL(p || q + 1e-8) of the paper's distribution p of the `attention` map (default CAM; as the
   * tfjs engine's evaluate); with `share` the summed share R / sum |g|^2 of the input-gradient energy that the
   * penalty set by setPenalty excludes (per-pixel weights in `masks`).
   */
  evaluate(size: number, images: Float32Array, labels: Int32Array, targets?: Float32Array, temperature = 1,
    share?: { masks?: Float32Array }, attention?: FusedAttention): { logits: Float32Array; correct: number; klSum?: number; excludedShareSum?: number } {
    this.load(size, images, labels, targets);
    if (share) this.loadMasks(size, share.masks);
    this.e.eval_batch(size, targets ? attentionMode(attention) : 0, 1 / temperature, share ? 1 : 0);
    const st = this.f32(this.e.ptr_stats(), 3);
    return {
      logits: this.f32(this.e.ptr_logits(), size * 10).slice(), correct: st[0],
      ...(targets ? { klSum: st[1] } : {}), ...(share ? { excludedShareSum: st[2] } : {}),
    };
  }
}

/** Phases of the fused step, in the kernel's numbering (prof_phase). */
const PHASES = ['conv1 forward (+pool)', 'conv2 forward', 'head (pool, GAP, dense)', 'conv2 backward, pooling path',
  'conv1 backward (+pool)', 'whole image: CE + CAM KL', 'conv2 backward, CAM path (rank one)', 'col2im (CAM path: dcol -> dh1)',
  'whole image: CE + RRR penalty', 'whole image: CE + Grad-CAM KL', 'whole image: CE + input-gradient KL',
  'input gradient (2 transposed convs)', 'penalty value + dR/dg (per pixel 3x3)', 'penalty backward (double backprop)',
  'saliency map + its adjoint (area pool)'] as const;

/**
 * CPU microseconds per image of each phase of the fused step, measured on the first image of a batch
 * (run after a computeGradients call on that batch so the backward phases see real gradients). Each phase is timed
 * `rounds` times, phases taking turns, and the fastest round is kept (other jobs on the machine only slow it down).
 */
export function profileFusedPhases(k: FusedLeNetGap, reps = 1000, rounds = 5): Array<{ phase: string; microseconds: number }> {
  const e = (k as unknown as { e: WasmExports }).e;
  const best = PHASES.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    PHASES.forEach((_, i) => {
      if (r === 0) e.prof_phase(i, Math.max(1, reps >> 3));
      // process CPU time, not wall time: on a shared machine it is far less noisy
      const c0 = process.cpuUsage();
      e.prof_phase(i, reps);
      const c = process.cpuUsage(c0);
      best[i] = Math.min(best[i], (c.user + c.system) / reps);
    });
  }
  return PHASES.map((phase, i) => ({ phase, microseconds: best[i] }));
}

/** Flattens named weights (tfjs layouts) into PARAM_ORDER. */
export function flattenParams(weights: Record<string, { data: ArrayLike<number> }>): Float32Array {
  const out = new Float32Array(PARAM_COUNT);
  let o = 0;
  for (const p of PARAM_ORDER) {
    const w = weights[p.name];
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (!w || w.data.length !== n) throw new Error(`weights for ${p.name}: expected ${n} values${w ? `, got ${w.data.length}` : ', missing'}`);
    out.set(w.data as ArrayLike<number>, o);
    o += n;
  }
  return out;
}

/** Splits a flat PARAM_ORDER array into named arrays with shapes. */
export function unflattenParams(flat: Float32Array): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  let o = 0;
  for (const p of PARAM_ORDER) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    out[p.name] = { shape: [...p.shape], data: flat.slice(o, o + n) };
    o += n;
  }
  return out;
}
