/**
 * `npm run bench`: training speed of every method on LeNet-GAP (SGD, batch 32) on real MNIST-based images.
 *   - with --engine fused (default) or tfjs (the generic engine on the LTL_BACKEND backend): training images/s
 *     after a warm-up, per method (METHODS below): vanilla (CE), align with CAM, Grad-CAM and input-gradient
 *     attention (CE + lambda * paper KL), RRR spatial (DecoyMNIST patch masks), RRR colour (OFF_GREY3) and the
 *     prompt-guided constraint (per-pixel weights 1 - dilated digit mask plus an attribute matrix);
 *   - CDEP and Expected Gradients (1 reference) on DecoyMNIST with the decoy masks on the generic tfjs engine, on
 *     fewer images (--tfjs-only-images), at the trainer's default lambdas; PyTorch times EG's twin
 *     (bench/torch_bench.py) and shows n/a for CDEP (no twin of its decomposition);
 *   - the same CDEP and EG steps on the fused kernel (their rows beside the tfjs ones; PyTorch's column repeats EG's
 *     twin);
 *   - vanilla steps on counterfactual batches (lib/counterfactual: each batch gathered, every image's region off the
 *     digit redrawn from another image of the batch and the image recoloured, as `ltl train --augment prompt` makes
 *     them), beside the plain vanilla step: the augmentation's cost, as the ratio of the two;
 *   - evaluation images/s;
 *   - embedded-VLM maps/s (measureMaps; when data/vlm holds a checkpoint), one row per way maps are made, each on
 *     --maps ColorMNIST images after a warm-up on others: new images with the default generator (encoder worker
 *     threads; JSON mapsPerSecond), new images on one thread, the plain promptMaps path, 3 prompts in one pass,
 *     and a new prompt on images already encoded (patch embeddings in memory, or in the on-disk patch cache);
 *   - --tfjs: the generic tfjs engine on the selected backend (LTL_BACKEND), for before/after;
 *   - --torch: PyTorch (one thread) on the same images, targets and initial weights; prints the ratios;
 *   - --profile: per-phase time of the fused kernel and per-kernel time of one tfjs step (tf.profile).
 * With --json the last stdout line is one JSON object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../lib/data/bases/mnist';
import { colorRule } from '../lib/data/shortcuts/color';
import { applyShortcut } from '../lib/data/build';
import { createRng } from '../lib/util/rng';
import type { ImageSplit } from '../lib/data/types';
import { prepareImages } from '../lib/train/data';
import { compose, dilate, paperChain, resizeBilinear, threshold } from '../lib/maps/postprocess';
import { decoyRule } from '../lib/data/shortcuts/decoy';
import { prepareRrrMasks } from '../lib/train/data';
import { initialWeights, createModel } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { CDEP_COLOUR_PIXELS, pixelProbabilities } from '../lib/losses/cdep';
import { DEFAULT_OPTIMIZER, IDENTITY3, OFF_GREY3, type InputGradPenalty, type TrainEngine, type StepOptions } from '../lib/engines/types';
import { TfjsEngine } from '../lib/engines/tfjs/engine';
import { CDEP_DEFAULT_LAMBDA, EG_DEFAULT_LAMBDA } from '../lib/train/options';
import { FusedEngine } from '../lib/engines/fused/engine';
import { FusedLeNetGap, flattenParams, profileFusedPhases, type FusedAttention } from '../lib/engines/fused/kernel';
import { initBackend } from '../lib/backend';
import { createGenerator } from '../lib/maps/registry';
import { EmbeddedGenerator, promptMaps } from '../lib/vlm/embedded/generator';
import '../lib/vlm/register';
import { runTorchBench } from './torch';
import { CounterfactualBatcher } from '../lib/counterfactual/kernel';
import { namedColours } from '../lib/counterfactual';
import { spanCandidates } from '../lib/vlm/embedded/attribute-span';

interface Opts {
  engine: 'fused' | 'tfjs';
  images: number; warmup: number; evalImages: number; maps: number; batch: number; lambda: number; rrrLambda: number;
  methods: MethodKey[];
  tfjs: boolean; tfjsImages: number; tfjsOnlyImages: number; tfjsOnlyWarmup: number; torch: boolean; python: string; rounds: number; profile: boolean; json: boolean;
}

/** The prompt-guided constraint's attribute matrix in the bench: OFF_GREY3 scaled (any 3x3 matrix costs the same). */
const PROMPT_C: readonly number[] = OFF_GREY3.map((v) => 0.5 * v);

/**
 * The methods timed, in table order. data: ColorMNIST ('color') or DecoyMNIST ('decoy'); masks: the per-pixel
 * weights of an input-gradient penalty (the decoy patch, or 1 - the dilated digit mask for the prompt constraint).
 * tfjsOnly: a method timed on the generic tfjs engine whatever --engine says (CDEP's and EG's tfjs rows), on
 * --tfjs-only-images images (it runs at tens of images/s, ~100x slower than the fused methods), and left out of the
 * --tfjs comparison column (which would time the same engine twice). fusedOnly: timed on the fused engine whatever
 * --engine says (fused CDEP and EG, beside their tfjs rows), also left out of the --tfjs column. noTorch:
 * torch_bench.py has no twin (CDEP: its contextual decomposition of every layer is a port of its own, not worth it
 * for a speed row). torchTwin: the torch_bench.py method a row is compared with (default: its own key).
 */
const METHODS = [
  { key: 'vanilla', label: 'train vanilla (CE)', json: 'trainVanillaImagesPerSecond', method: 'vanilla' },
  { key: 'align', label: 'train align, CAM + KL', json: 'trainAlignImagesPerSecond', method: 'align', attention: 'cam' },
  { key: 'gradcam', label: 'train align, Grad-CAM + KL', json: 'trainGradcamImagesPerSecond', method: 'align', attention: 'gradcam' },
  { key: 'inputgrad', label: 'train align, input-grad + KL', json: 'trainInputgradImagesPerSecond', method: 'align', attention: 'inputgrad' },
  { key: 'rrr', label: 'train RRR spatial (decoy mask)', json: 'trainRrrImagesPerSecond', method: 'rrr', penalty: { spatial: IDENTITY3, global: null }, data: 'decoy', masks: 'decoy' },
  { key: 'rrrColour', label: 'train RRR colour (OFF_GREY3)', json: 'trainRrrColourImagesPerSecond', method: 'rrr', penalty: { spatial: null, global: OFF_GREY3 } },
  { key: 'prompt', label: 'train prompt (1-digit mask + C)', json: 'trainPromptImagesPerSecond', method: 'rrr', penalty: { spatial: IDENTITY3, global: PROMPT_C }, masks: 'prompt' },
  // the decoy region as CDEP's irrelevant part (`ltl train --method cdep --rrr-mode spatial`), and as EG's per-pixel weights
  { key: 'cdep', label: 'train CDEP (decoy mask, tfjs)', json: 'trainCdepImagesPerSecond', method: 'cdep', penalty: { spatial: IDENTITY3, global: null }, data: 'decoy', masks: 'decoy', tfjsOnly: true, noTorch: true },
  { key: 'cdepFused', label: 'train CDEP (decoy mask, fused)', json: 'trainCdepFusedImagesPerSecond', method: 'cdep', penalty: { spatial: IDENTITY3, global: null }, data: 'decoy', masks: 'decoy', fusedOnly: true, noTorch: true },
  // CDEP's ColorMNIST prior (`--method cdep --rrr-mode colour`): 8 single pixels per image and step, each its own split
  { key: 'cdepColourFused', label: 'train CDEP (colour prior, 8 pixels, fused)', json: 'trainCdepColourFusedImagesPerSecond', method: 'cdep', pixels: true, fusedOnly: true, noTorch: true },
  { key: 'eg', label: 'train EG, 1 reference (decoy mask, tfjs)', json: 'trainEgImagesPerSecond', method: 'eg', penalty: { spatial: IDENTITY3, global: null }, data: 'decoy', masks: 'decoy', tfjsOnly: true },
  { key: 'egFused', label: 'train EG, 1 reference (decoy mask, fused)', json: 'trainEgFusedImagesPerSecond', method: 'eg', penalty: { spatial: IDENTITY3, global: null }, data: 'decoy', masks: 'decoy', fusedOnly: true, torchTwin: 'eg' },
  // the language recipe's step: vanilla on counterfactual batches (off-digit region redrawn, image recoloured)
  { key: 'counterfactual', label: 'train vanilla, counterfactual batches', json: 'trainCounterfactualImagesPerSecond', method: 'vanilla', counterfactual: true, fusedOnly: true, noTorch: true },
] as const satisfies ReadonlyArray<{
  key: string; label: string; json: string; method: 'vanilla' | 'align' | 'rrr' | 'cdep' | 'eg';
  attention?: FusedAttention; penalty?: InputGradPenalty; data?: 'decoy'; masks?: 'decoy' | 'prompt'; pixels?: true; tfjsOnly?: true; fusedOnly?: true; noTorch?: true; torchTwin?: string; counterfactual?: true;
}>;
type MethodSpec = (typeof METHODS)[number];
type MethodKey = MethodSpec['key'];
const METHOD_KEYS: readonly MethodKey[] = METHODS.map((m) => m.key);
const isTfjsOnly = (m: MethodSpec): boolean => 'tfjsOnly' in m && m.tfjsOnly;
const isFusedOnly = (m: MethodSpec): boolean => 'fusedOnly' in m && m.fusedOnly;
const hasTorch = (m: MethodSpec): boolean => !('noTorch' in m && m.noTorch);
const torchTwin = (m: MethodSpec): string => ('torchTwin' in m ? m.torchTwin : m.key);

const nonNegative = (name: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`${name} must be a number >= 0`);
  return x;
};

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};

/** The first `count` MNIST training digits as ColorMNIST (training colour rule), with digit masks. */
function colorMnist(count: number): ImageSplit {
  const base = loadMnist().train;
  const n = Math.min(count, base.count);
  return applyShortcut('train', base, Int32Array.from({ length: n }, (_, i) => i), colorRule, false, createRng(0));
}

/** The first `count` MNIST training digits as DecoyMNIST (training rule: grey, a 5x5 patch in a corner). */
function decoyMnist(count: number): ImageSplit {
  const base = loadMnist().train;
  const n = Math.min(count, base.count);
  return applyShortcut('train', base, Int32Array.from({ length: n }, (_, i) => i), decoyRule, false, createRng(0));
}

/** Images, labels, the paper's oracle targets, and the prompt constraint's per-pixel weights (1 - the digit mask
 * dilated by one pixel, on the input grid: what a positive prompt 'a digit' gives with a perfect map). */
interface Data { count: number; x: Float32Array; y: Int32Array; q: Float32Array; promptMasks: Float32Array; split: ImageSplit }
/** DecoyMNIST images, labels and RRR's annotation masks (the patch on the input grid). */
interface DecoyData { count: number; x: Float32Array; y: Int32Array; masks: Float32Array }

function loadData(count: number): Data {
  const split = colorMnist(count);
  const x = prepareImages(split, split.count, 32);
  const masks = { count: split.count, height: split.height, width: split.width, data: Float32Array.from(split.digitMasks) };
  const q = paperChain()(masks).data;
  const region = compose(threshold(0.5), dilate(3), resizeBilinear(32, 32))(masks).data;
  const promptMasks = region.map((v) => (v > 0 ? 0 : 1));
  return { count: split.count, x, y: Int32Array.from(split.labels), q, promptMasks, split };
}

function loadDecoy(count: number): DecoyData {
  const split = decoyMnist(count);
  return { count: split.count, x: prepareImages(split, split.count, 32), y: Int32Array.from(split.labels), masks: prepareRrrMasks(split, split.count, 32)! };
}

/** Images per second by wall clock and by this process's CPU time (user + system): on a machine shared
 * with other jobs the CPU-time rate is the steadier one; both are reported. */
interface Rate { wall: number; cpu: number }
function timed(images: number, f: () => void): Rate {
  const c0 = process.cpuUsage(), t0 = performance.now();
  f();
  const c = process.cpuUsage(c0), wall = (performance.now() - t0) / 1000;
  return { wall: images / wall, cpu: images / ((c.user + c.system) / 1e6) };
}

/** A method's training data: images, labels, targets (align), per-pixel penalty weights (masks). */
interface TrainData { count: number; x: Float32Array; y: Int32Array; q?: Float32Array; masks?: Float32Array }

function methodData(m: MethodSpec, d: Data, decoy: DecoyData | undefined): TrainData {
  const mm = m as { data?: 'decoy'; masks?: 'decoy' | 'prompt' };
  if (mm.data === 'decoy') return { count: decoy!.count, x: decoy!.x, y: decoy!.y, masks: decoy!.masks };
  return { count: d.count, x: d.x, y: d.y, q: d.q, masks: mm.masks === 'prompt' ? d.promptMasks : undefined };
}

/** Trains `images` images (after `warmup`) with batch B, cycling through the data. */
function timeTraining(engine: TrainEngine, d: TrainData, B: number, warmup: number, images: number, step: StepOptions): Rate {
  const row = 32 * 32 * 3, px = 32 * 32;
  let pos = 0;
  const run = (k: number) => {
    for (let done = 0; done < k; done += B) {
      if (pos + B > d.count) pos = 0;
      engine.trainStep({
        size: B, images: d.x.subarray(pos * row, (pos + B) * row), labels: d.y.subarray(pos, pos + B),
        targets: d.q?.subarray(pos * 100, (pos + B) * 100), rrrMask: d.masks?.subarray(pos * px, (pos + B) * px),
      }, step);
      pos += B;
    }
  };
  run(warmup);
  return timed(Math.ceil(images / B) * B, () => run(images));
}

/**
 * As timeTraining for vanilla, but each batch is made as `ltl train --augment prompt` makes it: the rows gathered
 * from the split, every image's region off the digit (the prompt constraint's weights of a perfect "a digit" map)
 * redrawn from another image of the batch, and the image recoloured with a colour drawn as the recipe draws them (the
 * colour grid the VLM's span is read from, as one word); the gathering is counted, which the plain vanilla step does
 * not pay.
 */
function timeCounterfactual(engine: TrainEngine, d: Data, B: number, warmup: number, images: number, step: StepOptions): Rate {
  const regions = Uint8Array.from(d.promptMasks, (w) => (w > 0 ? 1 : 0));
  const batcher = new CounterfactualBatcher(d.x, d.count, 32, regions, B);
  // the recipe's kind of colour source: a value word, then one of its colours (here the whole candidate grid as one word)
  const colours = namedColours({ values: ['colour'], colours: [spanCandidates()] });
  const rows = new Int32Array(B);
  let pos = 0, key = 0;
  const run = (k: number) => {
    for (let done = 0; done < k; done += B) {
      if (pos + B > d.count) pos = 0;
      for (let i = 0; i < B; i++) rows[i] = pos + i;
      const images = batcher.batchView(rows, B, 1, colours, createRng(`37:augment:${key++}`));
      engine.trainStep({ size: B, images, labels: d.y.subarray(pos, pos + B) }, step);
      pos += B;
    }
  };
  run(warmup);
  return timed(Math.ceil(images / B) * B, () => run(images));
}

function timeEval(engine: TrainEngine, d: Data, n: number): Rate {
  const k = Math.min(n, d.count);
  engine.evaluate({ size: Math.min(k, 500), images: d.x, labels: d.y }); // warm-up
  return timed(n, () => {
    for (let done = 0; done < n; done += k) engine.evaluate({ size: Math.min(k, n - done), images: d.x, labels: d.y });
  });
}

/** The step of a method: CE + lambda * (KL or R); vanilla: CE only. CDEP and EG take `ltl train`'s default
 * weights (the lambda changes no work done, only what the numbers are). */
function stepOptions(m: MethodSpec, o: Opts): StepOptions {
  if (m.method === 'vanilla') return { phase: 'ce', lambda: 0, lr: 1e-3 };
  const lambda = m.method === 'rrr' ? o.rrrLambda : m.method === 'cdep' ? CDEP_DEFAULT_LAMBDA : m.method === 'eg' ? EG_DEFAULT_LAMBDA : o.lambda;
  return { phase: 'combined', lambda, lr: 1e-3 };
}

/** An engine for a method; `d`: the bench's colour data, which CDEP's pixel prior draws its pixels by. */
function makeEngine(kind: 'fused' | 'tfjs', m: MethodSpec, d?: Data): TrainEngine {
  const mm = m as { attention?: FusedAttention; penalty?: InputGradPenalty; pixels?: true };
  const w = initialWeights('lenet-gap', 37);
  if (m.method === 'cdep' && mm.pixels) {
    // the pixels drawn as `ltl train` draws them: from how often each pixel is foreground in the (bench's) training images
    const probabilities = pixelProbabilities(d!.x, d!.count, 32);
    return new FusedEngine({ method: 'cdep', cdep: { kind: 'pixels', count: CDEP_COLOUR_PIXELS, probabilities }, drawSeed: 37, optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  }
  if (m.method === 'cdep' && isFusedOnly(m)) {
    return new FusedEngine({ method: 'cdep', cdep: { kind: 'mask', penalty: mm.penalty! }, drawSeed: 37, optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  }
  if (m.method === 'eg' && isFusedOnly(m)) {
    return new FusedEngine({ method: 'eg', penalty: mm.penalty, egReferences: 1, drawSeed: 37, optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  }
  if (m.method === 'cdep' || m.method === 'eg') {
    // as lib/engines/tfjs/register.ts builds them for `ltl train` (seed 37: the draws of EG's references follow it)
    return new TfjsEngine({
      model: createModel('lenet-gap', 37, w), method: m.method, penalty: mm.penalty,
      cdep: m.method === 'cdep' ? { kind: 'mask', penalty: mm.penalty! } : undefined,
      egReferences: 1, drawSeed: 37, optimizer: DEFAULT_OPTIMIZER,
    });
  }
  if (kind === 'fused') return new FusedEngine({ method: m.method as 'vanilla' | 'align' | 'rrr', attention: mm.attention, penalty: mm.penalty, optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  return new TfjsEngine({
    model: createModel('lenet-gap', 37, w), method: m.method, penalty: mm.penalty,
    attention: mm.attention ? createAttention(mm.attention) : undefined, loss: m.method === 'align' ? createLoss('kl') : undefined,
    optimizer: DEFAULT_OPTIMIZER,
  });
}

type Measure = Partial<Record<MethodKey, Rate>> & { eval: Rate };

/** Times the selected methods and evaluation on one engine; `comparison`: the --tfjs column, which leaves out the
 * tfjs-only and fused-only methods (the main column already timed them on their engine). */
function measureEngine(kind: 'fused' | 'tfjs', d: Data, decoy: DecoyData | undefined, o: Opts, comparison = false, images = o.images, warmup = o.warmup, evalImages = o.evalImages): Measure {
  const out: Partial<Record<MethodKey, Rate>> = {};
  for (const m of METHODS) {
    if (!o.methods.includes(m.key) || (comparison && (isTfjsOnly(m) || isFusedOnly(m)))) continue;
    const e = makeEngine(kind, m, d);
    try {
      out[m.key] = isTfjsOnly(m)
        ? timeTraining(e, methodData(m, d, decoy), o.batch, o.tfjsOnlyWarmup, o.tfjsOnlyImages, stepOptions(m, o))
        : 'counterfactual' in m ? timeCounterfactual(e, d, o.batch, warmup, images, stepOptions(m, o))
        : timeTraining(e, methodData(m, d, decoy), o.batch, warmup, images, stepOptions(m, o));
    } finally {
      e.dispose(); // tfjs engines hold variables; --rounds would otherwise pile them up
    }
  }
  const ev = makeEngine(kind, METHODS[0]);
  try {
    return { ...out, eval: timeEval(ev, d, evalImages) };
  } finally {
    ev.dispose();
  }
}

/** Runs bench/torch_bench.py on the same data and initial weights; a reason when PyTorch is not there. */
function runTorch(d: Data, decoy: DecoyData | undefined, o: Opts): { result?: Record<string, number | string>; reason?: string } {
  return runTorchBench(o.python, {
    ...d, weights: flattenParams(initialWeights('lenet-gap', 37)), promptMasks: d.promptMasks,
    ...(decoy ? { decoy } : {}),
  }, {
    trainImages: o.images, warmupImages: o.warmup, evalImages: o.evalImages, batch: o.batch, lambda: o.lambda,
    rrrLambda: o.rrrLambda, methods: [...new Set(METHODS.filter((m) => o.methods.includes(m.key) && hasTorch(m)).map(torchTwin))], promptC: [...PROMPT_C], egLambda: EG_DEFAULT_LAMBDA,
  });
}

/** The embedded-VLM map rates (maps per second of wall time), one per way maps are made; null with a reason when unavailable. */
interface MapsMeasure {
  /** New images, one prompt, default generator (encoder workers on the wasm backend): `mapsPerSecond`. */
  perSecond: number | null;
  /** New images, one prompt, encoder on the calling thread only (workers: 0). */
  inThread?: number;
  /** The plain path (promptMaps: one tfjs pass per batch, no engine), as maps were made before the engine. */
  plain?: number;
  /** New images, MAP_PROMPTS prompts in one generatePrompts pass, maps (images x prompts) per second. */
  prompts?: number;
  /** A new prompt on images whose patch embeddings are in memory (the generator's memory tier). */
  encodedMemory?: number;
  /** A new prompt on images whose patch embeddings are in the on-disk patch cache (files in the OS page cache). */
  encodedDisk?: number;
  /**
   * The same rows per second of the process's CPU time (all its threads: the workers' too), steadier than wall
   * time while other jobs run; for the worker rows it is the work per map, not the speed.
   */
  cpu?: Record<'perSecond' | 'inThread' | 'plain' | 'prompts' | 'encodedMemory' | 'encodedDisk', number>;
  workers?: number;
  images?: number;
  reason?: string;
}

/** Prompts of the several-prompt row (ColorMNIST's objects and rule). */
const MAP_PROMPTS = ['a digit', 'a square', 'red'];
const MAP_BACKGROUND = ['background', 'black'];

/**
 * Times the embedded generator on k ColorMNIST images, each row on images whose embeddings no cache holds
 * unless the row is about the cache. Every generator is warmed first on other images (a full batch: wasm
 * memory growth, kernel set-up, the workers' start), so the rows are steady-state rates.
 */
async function measureMaps(d: Data, n: number): Promise<MapsMeasure> {
  let gen: EmbeddedGenerator;
  try {
    gen = (await createGenerator('embedded')) as EmbeddedGenerator;
    gen.load();
  } catch (e) {
    return { perSecond: null, reason: (e as Error).message };
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-bench-patches-'));
  const made: EmbeddedGenerator[] = [gen];
  try {
    const k = Math.min(n, d.count);
    const timed = Array.from({ length: k }, (_, i) => i);
    // warm-up images: after the timed ones when the data has them (else the same ones, the caches then emptied)
    const w = Math.min(256, d.count);
    const warm = Array.from({ length: w }, (_, i) => (d.count - w + i) % d.count);
    const req = (indices: number[]) => ({ split: d.split, indices });
    const cpu: Partial<Record<keyof NonNullable<MapsMeasure['cpu']>, number>> = {};
    const rate = async (row: keyof NonNullable<MapsMeasure['cpu']>, f: () => Promise<unknown> | unknown, maps: number) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await f();
      const c = process.cpuUsage(c0);
      cpu[row] = maps / ((c.user + c.system) / 1e6);
      return maps / ((performance.now() - t0) / 1000);
    };
    const ready = async (g: EmbeddedGenerator) => {
      await g.startWorkers();
      await g.generatePrompts(req(warm), [{ prompt: 'a shape', background: MAP_BACKGROUND }]);
      g.engine.cache.clearMemory();
    };
    await ready(gen);
    const byWorkers = gen.engine.stats.encodedByWorkers;
    const perSecond = await rate('perSecond', () => gen.generate({ ...req(timed), prompt: 'a digit', background: MAP_BACKGROUND }), k);
    // the row's label names the workers only when they encoded every timed image
    const workers = gen.engine.stats.encodedByWorkers - byWorkers === k ? gen.engine.workers : 0;
    // the same images' embeddings are now in memory: a new prompt costs its projection only
    const encodedMemory = await rate('encodedMemory', () => gen.generate({ ...req(timed), prompt: 'a square', background: MAP_BACKGROUND }), k);
    gen.engine.cache.clearMemory();
    const prompts = await rate('prompts', () => gen.generatePrompts(req(timed), MAP_PROMPTS.map((p) => ({ prompt: p, background: MAP_BACKGROUND }))), k * MAP_PROMPTS.length);
    gen.engine.cache.clearMemory();

    const one = new EmbeddedGenerator({ workers: 0 });
    made.push(one);
    await ready(one);
    const inThread = await rate('inThread', () => one.generate({ ...req(timed), prompt: 'a digit', background: MAP_BACKGROUND }), k);
    const { model, vocab } = one.load();
    const temperature = one.defaults.temperature;
    const plain = await rate('plain', () => promptMaps(model, vocab, d.split, timed, { prompt: 'a digit', background: MAP_BACKGROUND, temperature }), k);

    const disk = new EmbeddedGenerator({ patchCacheDir: tmp, patchMemoryBytes: 0 });
    made.push(disk);
    await ready(disk);
    await disk.generate({ ...req(timed), prompt: 'a digit', background: MAP_BACKGROUND }); // fills the disk cache
    const encodedDisk = await rate('encodedDisk', () => disk.generate({ ...req(timed), prompt: 'a square', background: MAP_BACKGROUND }), k);
    return { perSecond, inThread, plain, prompts, encodedMemory, encodedDisk, cpu: cpu as NonNullable<MapsMeasure['cpu']>, workers, images: k };
  } catch (e) {
    return { perSecond: null, reason: `embedded generator failed: ${(e as Error).message}` };
  } finally {
    for (const g of made) g.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Per-kernel time of a tfjs align step (tf.profile over 5 steps, per step), summed by kernel name, largest first. */
async function profileTfjs(d: Data, B: number, lambda: number): Promise<Array<{ kernel: string; ms: number; calls: number }>> {
  const eng = makeEngine('tfjs', METHODS[1]);
  const batch = { size: B, images: d.x.subarray(0, B * 3072), labels: d.y.subarray(0, B), targets: d.q.subarray(0, B * 100) };
  const step: StepOptions = { phase: 'combined', lambda, lr: 1e-3 };
  for (let i = 0; i < 3; i++) eng.trainStep(batch, step);
  const steps = 5;
  const info = await tf.profile(() => { for (let i = 0; i < steps; i++) eng.trainStep(batch, step); });
  const by = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    by.set(k.name, e);
  }
  eng.dispose();
  return [...by.entries()].map(([kernel, v]) => ({ kernel, ms: v.ms / steps, calls: v.calls / steps })).sort((a, b) => b.ms - a.ms);
}

const fmt = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(2));

async function main(): Promise<void> {
  const program = new Command('bench')
    .description('Training / evaluation / map speed of the paper recipe (see BENCHMARKS.md)')
    .option('--engine <e>', "engine of the main measurement: fused | tfjs (the generic engine on the selected backend, LTL_BACKEND)", (v) => {
      if (v !== 'fused' && v !== 'tfjs') throw new InvalidArgumentError('--engine must be fused or tfjs');
      return v;
    }, 'fused')
    .option('--images <n>', 'training images timed per step kind, after warm-up', int('--images', 1), 6400)
    .option('--warmup <n>', 'training images before timing', int('--warmup', 0), 640)
    .option('--eval-images <n>', 'images timed for evaluation', int('--eval-images', 1), 10000)
    .option('--maps <n>', 'images timed per embedded-VLM map row', int('--maps', 1), 2048)
    .option('--batch <n>', 'batch size', int('--batch', 1), 32)
    .option('--lambda <x>', 'KL weight of the align steps', nonNegative('--lambda'), 160)
    .option('--rrr-lambda <x>', 'penalty weight of the RRR and prompt steps', nonNegative('--rrr-lambda'), 10)
    .option('--methods <list>', `comma-separated methods to time: ${METHOD_KEYS.join(', ')}`, (v) => {
      const xs = v.split(',').map((x) => x.trim()).filter((x) => x);
      const bad = xs.filter((x) => !METHOD_KEYS.includes(x as MethodKey));
      if (bad.length || !xs.length) throw new InvalidArgumentError(`--methods takes a comma-separated list of ${METHOD_KEYS.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`);
      return xs as MethodKey[];
    }, [...METHOD_KEYS])
    .option('--tfjs', 'also time the generic tfjs engine on the selected backend (LTL_BACKEND), as a comparison column', false)
    .option('--tfjs-images <n>', 'training images timed per method for the tfjs engine', int('--tfjs-images', 1), 640)
    .option('--tfjs-only-images <n>', 'training images timed for the methods timed on the tfjs engine (cdep, eg)', int('--tfjs-only-images', 1), 128)
    .option('--tfjs-only-warmup <n>', 'training images before timing cdep and eg', int('--tfjs-only-warmup', 0), 32)
    .option('--torch', 'also time PyTorch (1 thread) on the same images and print the ratios', false)
    .option('--python <exe>', 'Python with torch for --torch', '/usr/bin/python3')
    .option('--rounds <n>', 'alternate fused and torch measurements this many times; report the best of each', int('--rounds', 1), 1)
    .option('--profile', 'per-phase time of the fused kernel and per-kernel time of a tfjs step', false)
    .option('--json', 'print one JSON object as the last line', false)
    .parse(process.argv);
  const o = program.opts<Opts>();
  const d = loadData(Math.max(o.images + o.warmup, o.evalImages, o.maps, o.batch));
  const selected = METHODS.filter((m) => o.methods.includes(m.key));
  const decoy = selected.some((m) => 'data' in m && m.data === 'decoy') ? loadDecoy(Math.max(o.images + o.warmup, o.batch)) : undefined;
  let backendInfo: { name: string; threads: number } | null = null;
  if (o.engine === 'tfjs' || o.tfjs || o.profile || selected.some(isTfjsOnly)) {
    const info = await initBackend();
    backendInfo = { name: info.name, threads: info.threads };
  }

  // one untimed pass over every method first: V8 compiles wasm lazily (Liftoff, then TurboFan in a background
  // thread whose CPU time process.cpuUsage() counts), so the first method timed would otherwise pay for it
  for (const m of METHODS) {
    if (!o.methods.includes(m.key)) continue;
    const e = makeEngine(o.engine, m, d);
    const first = isTfjsOnly(m) ? Math.min(o.tfjsOnlyWarmup, o.batch) : Math.min(o.warmup, 8 * o.batch);
    try { timeTraining(e, methodData(m, d, decoy), o.batch, 0, first, stepOptions(m, o)); } finally { e.dispose(); }
  }
  const mainRounds: Measure[] = [];
  const torchRounds: Array<Record<string, number | string>> = [];
  let torchReason: string | undefined;
  for (let r = 0; r < o.rounds; r++) {
    mainRounds.push(measureEngine(o.engine, d, decoy, o));
    if (o.torch && !torchReason) {
      const t = runTorch(d, decoy, o);
      if (t.result) torchRounds.push(t.result); else torchReason = t.reason;
    }
  }
  // best of the rounds (other jobs only ever slow a run down), separately for wall and CPU rates
  const best = (xs: number[]) => Math.max(...xs);
  const bestRate = (rs: Rate[]): Rate => ({ wall: best(rs.map((r) => r.wall)), cpu: best(rs.map((r) => r.cpu)) });
  const timed = METHODS.filter((m) => o.methods.includes(m.key));
  const main: Measure = { eval: bestRate(mainRounds.map((m) => m.eval)) };
  for (const m of timed) main[m.key] = bestRate(mainRounds.map((r) => r[m.key]!));
  // torch_bench.py names its fields train<Key>ImagesPerSecond / train<Key>CpuImagesPerSecond
  const torchField = (k: string) => (k === 'eval' ? 'eval' : `train${k[0].toUpperCase()}${k.slice(1)}`);
  const tr = (k: string) => bestRate(torchRounds.map((t) => ({ wall: t[`${torchField(k)}ImagesPerSecond`] as number, cpu: t[`${torchField(k)}CpuImagesPerSecond`] as number })));
  let torch: (Measure & { version: string }) | null = null;
  if (torchRounds.length) {
    torch = { eval: tr('eval'), version: torchRounds[0].torchVersion as string };
    for (const m of timed) if (hasTorch(m)) torch[m.key] = tr(torchTwin(m));
  }
  const maps = await measureMaps(d, o.maps);

  let tfjsM: (Measure & { backend: string; threads: number }) | null = null;
  if (o.tfjs && o.engine === 'fused') {
    const w = Math.min(o.warmup, 4 * o.batch);
    tfjsM = { ...measureEngine('tfjs', d, decoy, o, true, o.tfjsImages, w, Math.min(o.evalImages, 2000)), backend: backendInfo!.name, threads: backendInfo!.threads };
  }
  const mainName = o.engine === 'fused' ? 'fused (wasm SIMD, 1 thread)' : `tfjs ${backendInfo!.name} (${backendInfo!.threads} thr)`;

  const rows: string[][] = [['measure (images/s: wall | cpu-time)', mainName, ...(tfjsM ? [`tfjs ${tfjsM.backend} (${tfjsM.threads} thr)`] : []), ...(torch ? [`torch ${torch.version} (1 thr)`, `${o.engine} / torch`] : [])]];
  const r2 = (r?: Rate) => (r ? `${fmt(r.wall)} | ${fmt(r.cpu)}` : 'n/a');
  const ratio = (f: Rate, t: Rate) => `${(f.wall / t.wall).toFixed(2)} | ${(f.cpu / t.cpu).toFixed(2)}`;
  const line = (name: string, f: Rate, t?: Rate, p?: Rate) => rows.push([name, r2(f), ...(tfjsM ? [r2(t)] : []), ...(torch ? [r2(p), p ? ratio(f, p) : 'n/a'] : [])]);
  for (const m of timed) line(m.label, main[m.key]!, tfjsM?.[m.key], torch?.[m.key]);
  line('eval', main.eval, tfjsM?.eval, torch?.eval);
  // the augmentation's cost: a counterfactual step's rate over a plain vanilla step's (the goal: >= 0.9)
  const cfRatio = main.counterfactual && main.vanilla ? { wall: main.counterfactual.wall / main.vanilla.wall, cpu: main.counterfactual.cpu / main.vanilla.cpu } : undefined;
  if (cfRatio) rows.push(['counterfactual / vanilla step', `${cfRatio.wall.toFixed(2)} | ${cfRatio.cpu.toFixed(2)}`]);
  if (maps.perSecond === null) {
    rows.push(['embedded maps/s', 'n/a']);
  } else {
    const w = maps.workers ? `${maps.workers} encoder workers` : 'encoder on the main thread';
    const m = (wall: number | undefined, c: number | undefined) => `${fmt(wall)} | ${fmt(c)}`;
    rows.push([`embedded maps/s, new images (${w})`, m(maps.perSecond, maps.cpu?.perSecond)]);
    rows.push(['embedded maps/s, new images, 1 thread', m(maps.inThread, maps.cpu?.inThread)]);
    rows.push(['embedded maps/s, new images, plain promptMaps', m(maps.plain, maps.cpu?.plain)]);
    rows.push([`embedded maps/s, ${MAP_PROMPTS.length} prompts in one pass`, m(maps.prompts, maps.cpu?.prompts)]);
    rows.push(['embedded maps/s, new prompt, encoded (memory)', m(maps.encodedMemory, maps.cpu?.encodedMemory)]);
    rows.push(['embedded maps/s, new prompt, encoded (disk)', m(maps.encodedDisk, maps.cpu?.encodedDisk)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const tfjsOnlyNote = selected.some(isTfjsOnly) ? `; CDEP / EG: tfjs ${backendInfo!.name} (${backendInfo!.threads} thr), ${o.tfjsOnlyImages} images after ${o.tfjsOnlyWarmup}, lambda ${CDEP_DEFAULT_LAMBDA} / ${EG_DEFAULT_LAMBDA}` : '';
  const fusedOnlyNote = selected.some(isFusedOnly) ? `; fused CDEP / EG: lambda ${CDEP_DEFAULT_LAMBDA} / ${EG_DEFAULT_LAMBDA}, ${o.images} images` : '';
  console.log(`LeNet-GAP, SGD, batch ${o.batch}, ${o.images} images per method after ${o.warmup} warm-up, ColorMNIST (${d.count} images${decoy ? `; RRR spatial, CDEP and EG on DecoyMNIST, ${decoy.count}` : ''}), lambda ${o.lambda} (align) / ${o.rrrLambda} (RRR, prompt)${tfjsOnlyNote}${fusedOnlyNote}, best of ${o.rounds} round(s); ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
  for (const r of rows) console.log(r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  '));
  if (maps.perSecond === null) console.log(`embedded maps: n/a: ${maps.reason}`);
  if (o.torch && !torch) console.log(`torch: skipped (${torchReason})`);
  if (torch && selected.some((m) => !hasTorch(m))) console.log('torch: n/a for CDEP (bench/torch_bench.py has no twin of its contextual decomposition)');

  let profile: Record<string, unknown> | undefined;
  if (o.profile) {
    const k = FusedLeNetGap.createSync();
    k.setParams(flattenParams(initialWeights('lenet-gap', 37)));
    // the RRR phases run with the prompt constraint's penalty (per-pixel term and attribute matrix) on image 0
    k.setPenalty({ spatial: IDENTITY3, global: PROMPT_C });
    k.computeGradients(o.batch, d.x, d.y, d.q, { lambda: o.rrrLambda, penalty: true, masks: d.promptMasks });
    k.computeGradients(o.batch, d.x, d.y, d.q, { lambda: o.lambda });
    const phases = profileFusedPhases(k);
    console.log('\nfused kernel, microseconds per image by phase (image 0, repeated; CPU time):');
    for (const p of phases) console.log(`  ${p.phase.padEnd(40)} ${p.microseconds.toFixed(2)}`);
    const kernels = await profileTfjs(d, o.batch, o.lambda);
    const total = kernels.reduce((a, k2) => a + k2.ms, 0);
    console.log(`\ntfjs ${backendInfo!.name}: align step, batch ${o.batch}, kernel time ${total.toFixed(1)} ms per step (tf.profile, mean of 5 steps), top kernels:`);
    for (const k2 of kernels.slice(0, 12)) console.log(`  ${k2.kernel.padEnd(24)} ${k2.ms.toFixed(2).padStart(8)} ms  ${(100 * k2.ms / total).toFixed(1).padStart(5)} %  ${k2.calls} calls`);
    profile = { fusedPhasesMicroseconds: phases, tfjsKernels: kernels.slice(0, 20), tfjsKernelMsPerStep: total };
  }

  if (o.json) {
    const perMethod = (f: (r: Rate) => number, src: Measure) => Object.fromEntries([
      ...timed.map((m) => [m.json, f(src[m.key]!)] as const), ['evalImagesPerSecond', f(src.eval)] as const]);
    const ratios = (f: (r: Rate) => number) => Object.fromEntries([...timed.filter(hasTorch).map((m) => m.key), 'eval' as const].map((k) => [k, f(main[k]!) / f(torch![k]!)]));
    console.log(JSON.stringify({
      ...perMethod((r) => r.wall, main),
      cpuTime: perMethod((r) => r.cpu, main),
      ...(cfRatio ? { counterfactualOverVanilla: cfRatio.wall, counterfactualOverVanillaCpuTime: cfRatio.cpu } : {}),
      mapsPerSecond: maps.perSecond, ...(maps.reason ? { mapsReason: maps.reason } : {}),
      ...(maps.perSecond !== null ? {
        mapsInThreadPerSecond: maps.inThread, mapsPlainPerSecond: maps.plain, mapsPromptsPerSecond: maps.prompts,
        mapsEncodedMemoryPerSecond: maps.encodedMemory, mapsEncodedDiskPerSecond: maps.encodedDisk,
        mapsCpuTime: maps.cpu, mapsWorkers: maps.workers, mapsImages: maps.images, mapsPrompts: MAP_PROMPTS.length,
      } : {}),
      ...(o.engine === 'fused' ? { backend: 'fused-wasm-simd', engine: 'fused', threads: 1 } : { backend: backendInfo!.name, engine: 'tfjs', threads: backendInfo!.threads }),
      batch: o.batch, trainImages: o.images, warmupImages: o.warmup, rounds: o.rounds, methods: o.methods, lambda: o.lambda, rrrLambda: o.rrrLambda,
      ...(tfjsM ? { tfjs: tfjsM } : {}),
      ...(torch ? { torch, ratio: ratios((r) => r.wall), ratioCpuTime: ratios((r) => r.cpu) } : o.torch ? { torch: null, torchReason } : {}),
      ...(profile ? { profile } : {}),
      loadAverage: os.loadavg()[0],
    }));
  }
}

main().catch((e) => {
  console.error(`bench: error: ${(e as Error).message}`);
  process.exit(1);
});
