/**
 * `npm run bench`: speed of the paper recipe (LeNet-GAP, CAM + KL, SGD, batch 32) on real ColorMNIST images.
 *   - with --engine fused (default) or tfjs (the generic engine on the LTL_BACKEND backend):
 *     training images/s, align step (CE + lambda KL) and vanilla step (CE), after a warm-up;
 *   - evaluation images/s; embedded-VLM maps/s (when lib/maps/embedded provides the generator);
 *   - --tfjs: the generic tfjs engine on the selected backend (LTL_BACKEND), for before/after;
 *   - --torch: PyTorch (one thread) on the same images, targets and initial weights; prints the ratios;
 *   - --profile: per-phase time of the fused kernel and per-kernel time of one tfjs step (tf.profile).
 * With --json the last stdout line is one JSON object.
 */
import * as os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../lib/data/bases/mnist';
import { colorRule } from '../lib/data/shortcuts/color';
import { applyShortcut } from '../lib/data/build';
import { createRng } from '../lib/util/rng';
import type { ImageSplit } from '../lib/data/types';
import { prepareImages } from '../lib/train/data';
import { paperChain } from '../lib/maps/postprocess';
import { initialWeights, createModel } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { DEFAULT_OPTIMIZER, type TrainEngine, type StepOptions } from '../lib/train/engine';
import { TfjsEngine } from '../lib/train/tfjs-engine';
import { FusedEngine } from '../lib/fast/fused-engine';
import { FusedLeNetGap, flattenParams, profileFusedPhases } from '../lib/fast/lenet-gap-engine';
import { initBackend } from '../lib/backend';
import { createGenerator } from '../lib/maps/registry';
import { runTorchBench } from './torch';

interface Opts {
  engine: 'fused' | 'tfjs';
  images: number; warmup: number; evalImages: number; maps: number; batch: number; lambda: number;
  tfjs: boolean; tfjsImages: number; torch: boolean; python: string; rounds: number; profile: boolean; json: boolean;
}

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

interface Data { count: number; x: Float32Array; y: Int32Array; q: Float32Array; split: ImageSplit }

function loadData(count: number): Data {
  const split = colorMnist(count);
  const x = prepareImages(split, split.count, 32);
  const masks = { count: split.count, height: split.height, width: split.width, data: Float32Array.from(split.digitMasks) };
  const q = paperChain()(masks).data;
  return { count: split.count, x, y: Int32Array.from(split.labels), q, split };
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

/** Trains `images` images (after `warmup`) with batch B, cycling through the data. */
function timeTraining(engine: TrainEngine, d: Data, B: number, warmup: number, images: number, step: StepOptions): Rate {
  const row = 32 * 32 * 3;
  let pos = 0;
  const run = (k: number) => {
    for (let done = 0; done < k; done += B) {
      if (pos + B > d.count) pos = 0;
      engine.trainStep({ size: B, images: d.x.subarray(pos * row, (pos + B) * row), labels: d.y.subarray(pos, pos + B), targets: d.q.subarray(pos * 100, (pos + B) * 100) }, step);
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

const ALIGN: (lambda: number) => StepOptions = (lambda) => ({ phase: 'combined', lambda, lr: 1e-3 });
const VANILLA: StepOptions = { phase: 'ce', lambda: 0, lr: 1e-3 };

function fusedEngine(method: 'align' | 'vanilla'): FusedEngine {
  return new FusedEngine({ method, optimizer: DEFAULT_OPTIMIZER, initialWeights: initialWeights('lenet-gap', 37) });
}

function tfjsEngine(method: 'align' | 'vanilla'): TfjsEngine {
  return new TfjsEngine({
    model: createModel('lenet-gap', 37, initialWeights('lenet-gap', 37)), method,
    attention: method === 'align' ? createAttention('cam') : undefined, loss: method === 'align' ? createLoss('kl') : undefined,
    optimizer: DEFAULT_OPTIMIZER,
  });
}

interface Measure { align: Rate; vanilla: Rate; eval: Rate }

function measureEngine(kind: 'fused' | 'tfjs', d: Data, o: Opts): Measure {
  const make = kind === 'fused' ? fusedEngine : tfjsEngine;
  const a = make('align'), v = make('vanilla');
  try {
    return {
      align: timeTraining(a, d, o.batch, o.warmup, o.images, ALIGN(o.lambda)),
      vanilla: timeTraining(v, d, o.batch, o.warmup, o.images, VANILLA),
      eval: timeEval(a, d, o.evalImages),
    };
  } finally {
    a.dispose(); v.dispose(); // tfjs engines hold variables; --rounds would otherwise pile them up
  }
}

/** Runs bench/torch_bench.py on the same data and initial weights; a reason when PyTorch is not there. */
function runTorch(d: Data, o: Opts): { result?: Record<string, number | string>; reason?: string } {
  return runTorchBench(o.python, { ...d, weights: flattenParams(initialWeights('lenet-gap', 37)) },
    { trainImages: o.images, warmupImages: o.warmup, evalImages: o.evalImages, batch: o.batch, lambda: o.lambda });
}

async function measureMaps(d: Data, n: number): Promise<{ perSecond: number | null; reason?: string }> {
  let gen;
  try {
    gen = await createGenerator('embedded');
  } catch (e) {
    return { perSecond: null, reason: (e as Error).message };
  }
  try {
    const k = Math.min(n, d.count);
    await gen.generate({ split: d.split, indices: Array.from({ length: Math.min(k, 32) }, (_, i) => i), prompt: 'a digit', background: ['background', 'black'] });
    const t0 = performance.now();
    await gen.generate({ split: d.split, indices: Array.from({ length: k }, (_, i) => i), prompt: 'a digit', background: ['background', 'black'] });
    return { perSecond: k / ((performance.now() - t0) / 1000) };
  } catch (e) {
    return { perSecond: null, reason: `embedded generator failed: ${(e as Error).message}` };
  } finally {
    gen.dispose?.();
  }
}

/** Per-kernel time of a tfjs align step (tf.profile over 5 steps, per step), summed by kernel name, largest first. */
async function profileTfjs(d: Data, B: number, lambda: number): Promise<Array<{ kernel: string; ms: number; calls: number }>> {
  const eng = tfjsEngine('align');
  const batch = { size: B, images: d.x.subarray(0, B * 3072), labels: d.y.subarray(0, B), targets: d.q.subarray(0, B * 100) };
  for (let i = 0; i < 3; i++) eng.trainStep(batch, ALIGN(lambda));
  const steps = 5;
  const info = await tf.profile(() => { for (let i = 0; i < steps; i++) eng.trainStep(batch, ALIGN(lambda)); });
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
    .option('--maps <n>', 'images timed for embedded-VLM maps', int('--maps', 1), 256)
    .option('--batch <n>', 'batch size', int('--batch', 1), 32)
    .option('--lambda <x>', 'KL weight of the align step', (v) => { const x = Number(v); if (!Number.isFinite(x) || x < 0) throw new InvalidArgumentError('--lambda must be a number >= 0'); return x; }, 160)
    .option('--tfjs', 'also time the generic tfjs engine on the selected backend (LTL_BACKEND), as a comparison column', false)
    .option('--tfjs-images <n>', 'training images timed for the tfjs engine', int('--tfjs-images', 1), 640)
    .option('--torch', 'also time PyTorch (1 thread) on the same images and print the ratios', false)
    .option('--python <exe>', 'Python with torch for --torch', '/usr/bin/python3')
    .option('--rounds <n>', 'alternate fused and torch measurements this many times; report the best of each', int('--rounds', 1), 1)
    .option('--profile', 'per-phase time of the fused kernel and per-kernel time of a tfjs step', false)
    .option('--json', 'print one JSON object as the last line', false)
    .parse(process.argv);
  const o = program.opts<Opts>();
  const d = loadData(Math.max(o.images + o.warmup, o.evalImages, o.maps, o.batch));
  let backendInfo: { name: string; threads: number } | null = null;
  if (o.engine === 'tfjs' || o.tfjs || o.profile) {
    const info = await initBackend();
    backendInfo = { name: info.name, threads: info.threads };
  }

  const mainRounds: Measure[] = [];
  const torchRounds: Array<Record<string, number | string>> = [];
  let torchReason: string | undefined;
  for (let r = 0; r < o.rounds; r++) {
    mainRounds.push(measureEngine(o.engine, d, o));
    if (o.torch && !torchReason) {
      const t = runTorch(d, o);
      if (t.result) torchRounds.push(t.result); else torchReason = t.reason;
    }
  }
  // best of the rounds (other jobs only ever slow a run down), separately for wall and CPU rates
  const best = (xs: number[]) => Math.max(...xs);
  const bestRate = (rs: Rate[]): Rate => ({ wall: best(rs.map((r) => r.wall)), cpu: best(rs.map((r) => r.cpu)) });
  const main = { align: bestRate(mainRounds.map((m) => m.align)), vanilla: bestRate(mainRounds.map((m) => m.vanilla)), eval: bestRate(mainRounds.map((m) => m.eval)) };
  const tr = (k: string) => bestRate(torchRounds.map((t) => ({ wall: t[`${k}ImagesPerSecond`] as number, cpu: t[`${k}CpuImagesPerSecond`] as number })));
  const torch = torchRounds.length ? { align: tr('trainAlign'), vanilla: tr('trainVanilla'), eval: tr('eval'), version: torchRounds[0].torchVersion as string } : null;
  const maps = await measureMaps(d, o.maps);

  let tfjsM: (Measure & { backend: string; threads: number }) | null = null;
  if (o.tfjs && o.engine === 'fused') {
    const n = o.tfjsImages, w = Math.min(o.warmup, 4 * o.batch);
    const ea = tfjsEngine('align'), ev = tfjsEngine('vanilla'), ee = tfjsEngine('vanilla');
    try {
      tfjsM = {
        align: timeTraining(ea, d, o.batch, w, n, ALIGN(o.lambda)),
        vanilla: timeTraining(ev, d, o.batch, w, n, VANILLA),
        eval: timeEval(ee, d, Math.min(o.evalImages, 2000)),
        backend: backendInfo!.name, threads: backendInfo!.threads,
      };
    } finally {
      ea.dispose(); ev.dispose(); ee.dispose();
    }
  }
  const mainName = o.engine === 'fused' ? 'fused (wasm SIMD, 1 thread)' : `tfjs ${backendInfo!.name} (${backendInfo!.threads} thr)`;

  const rows: string[][] = [['measure (images/s: wall | cpu-time)', mainName, ...(tfjsM ? [`tfjs ${tfjsM.backend} (${tfjsM.threads} thr)`] : []), ...(torch ? [`torch ${torch.version} (1 thr)`, `${o.engine} / torch`] : [])]];
  const r2 = (r?: Rate) => (r ? `${fmt(r.wall)} | ${fmt(r.cpu)}` : 'n/a');
  const ratio = (f: Rate, t: Rate) => `${(f.wall / t.wall).toFixed(2)} | ${(f.cpu / t.cpu).toFixed(2)}`;
  const line = (name: string, f: Rate, t?: Rate, p?: Rate) => rows.push([name, r2(f), ...(tfjsM ? [r2(t)] : []), ...(torch ? [r2(p), ratio(f, p!)] : [])]);
  line('train align', main.align, tfjsM?.align, torch?.align);
  line('train vanilla', main.vanilla, tfjsM?.vanilla, torch?.vanilla);
  line('eval', main.eval, tfjsM?.eval, torch?.eval);
  rows.push(['embedded maps/s', maps.perSecond === null ? 'n/a' : fmt(maps.perSecond)]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  console.log(`paper recipe, batch ${o.batch}, ${o.images} images after ${o.warmup} warm-up, ColorMNIST (${d.count} images), best of ${o.rounds} round(s); ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
  for (const r of rows) console.log(r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  '));
  if (maps.perSecond === null) console.log(`embedded maps: n/a: ${maps.reason}`);
  if (o.torch && !torch) console.log(`torch: skipped (${torchReason})`);

  let profile: Record<string, unknown> | undefined;
  if (o.profile) {
    const k = FusedLeNetGap.createSync();
    k.setParams(flattenParams(initialWeights('lenet-gap', 37)));
    k.computeGradients(o.batch, d.x, d.y, d.q, { lambda: o.lambda });
    const phases = profileFusedPhases(k);
    console.log('\nfused kernel, microseconds per image by phase (image 0, repeated):');
    for (const p of phases) console.log(`  ${p.phase.padEnd(36)} ${p.microseconds.toFixed(2)}`);
    const kernels = await profileTfjs(d, o.batch, o.lambda);
    const total = kernels.reduce((a, k2) => a + k2.ms, 0);
    console.log(`\ntfjs ${backendInfo!.name}: align step, batch ${o.batch}, kernel time ${total.toFixed(1)} ms per step (tf.profile, mean of 5 steps), top kernels:`);
    for (const k2 of kernels.slice(0, 12)) console.log(`  ${k2.kernel.padEnd(24)} ${k2.ms.toFixed(2).padStart(8)} ms  ${(100 * k2.ms / total).toFixed(1).padStart(5)} %  ${k2.calls} calls`);
    profile = { fusedPhasesMicroseconds: phases, tfjsKernels: kernels.slice(0, 20), tfjsKernelMsPerStep: total };
  }

  if (o.json) {
    console.log(JSON.stringify({
      trainAlignImagesPerSecond: main.align.wall, trainVanillaImagesPerSecond: main.vanilla.wall, evalImagesPerSecond: main.eval.wall,
      cpuTime: { trainAlignImagesPerSecond: main.align.cpu, trainVanillaImagesPerSecond: main.vanilla.cpu, evalImagesPerSecond: main.eval.cpu },
      mapsPerSecond: maps.perSecond, ...(maps.reason ? { mapsReason: maps.reason } : {}),
      ...(o.engine === 'fused' ? { backend: 'fused-wasm-simd', engine: 'fused', threads: 1 } : { backend: backendInfo!.name, engine: 'tfjs', threads: backendInfo!.threads }), batch: o.batch, trainImages: o.images, warmupImages: o.warmup, rounds: o.rounds,
      ...(tfjsM ? { tfjs: tfjsM } : {}),
      ...(torch ? {
        torch,
        ratio: { align: main.align.wall / torch.align.wall, vanilla: main.vanilla.wall / torch.vanilla.wall, eval: main.eval.wall / torch.eval.wall },
        ratioCpuTime: { align: main.align.cpu / torch.align.cpu, vanilla: main.vanilla.cpu / torch.vanilla.cpu, eval: main.eval.cpu / torch.eval.cpu },
      } : o.torch ? { torch: null, torchReason } : {}),
      ...(profile ? { profile } : {}),
      loadAverage: os.loadavg()[0],
    }));
  }
}

main().catch((e) => {
  console.error(`bench: error: ${(e as Error).message}`);
  process.exit(1);
});
