import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

/** The images (NHWC, [-1, 1]), labels, targets ([N, 100]) and initial weights (tfjs layouts, flat) handed to PyTorch;
 * per-pixel penalty weights [N, 32, 32]: `masks` (for --grads), `promptMasks` (the prompt method); `decoy`: the
 * DecoyMNIST set of RRR spatial with its patch masks. */
export interface TorchInputs {
  count: number;
  x: Float32Array;
  y: Int32Array;
  q: Float32Array;
  weights: Float32Array;
  masks?: Float32Array;
  promptMasks?: Float32Array;
  decoy?: { count: number; x: Float32Array; y: Int32Array; masks: Float32Array };
}

export interface TorchMeta {
  trainImages: number;
  warmupImages: number;
  evalImages: number;
  batch: number;
  lambda: number;
  /** Penalty weight of the RRR and prompt steps. */
  rrrLambda?: number;
  /** Methods to time (bench.ts METHODS keys); default vanilla and align. */
  methods?: string[];
  /** Penalty weight of the EG step (bench.ts passes `ltl train`'s default). */
  egLambda?: number;
  /** The prompt method's attribute matrix C (row-major 3x3). */
  promptC?: number[];
  /** --grads: the step whose loss and gradients are printed: align (CAM), gradcam, inputgrad or rrr (default align). */
  gradsMethod?: 'align' | 'gradcam' | 'inputgrad' | 'rrr';
  /** --grads with rrr: the penalty (S with per-pixel weights `masks`, C), as InputGradPenalty. */
  penalty?: { spatial: readonly number[] | null; global: readonly number[] | null };
}

/** bench/torch_bench.py, from the sources (tsx) or from dist/bench. */
export function torchScript(): string | undefined {
  return [path.resolve(__dirname, 'torch_bench.py'), path.resolve(__dirname, '../../bench/torch_bench.py')].find((p) => fs.existsSync(p));
}

/** Why PyTorch cannot be used (undefined: it can). */
export function torchUnavailable(python: string): string | undefined {
  if (!torchScript()) return 'bench/torch_bench.py not found';
  const probe = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${python} cannot import torch and numpy (${(probe.stderr || String(probe.error ?? '')).trim().split('\n').pop()})`;
  return undefined;
}

const bytes = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Writes the inputs to a temporary folder, runs torch_bench.py on one thread and parses its JSON line. */
export function runTorchBench(python: string, d: TorchInputs, meta: TorchMeta, extraArgs: string[] = []): { result?: any; reason?: string } {
  const why = torchUnavailable(python);
  if (why) return { reason: why };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-torch-'));
  try {
    fs.writeFileSync(path.join(dir, 'x.f32'), bytes(d.x.subarray(0, d.count * 3072)));
    fs.writeFileSync(path.join(dir, 'y.i32'), bytes(d.y.subarray(0, d.count)));
    fs.writeFileSync(path.join(dir, 'q.f32'), bytes(d.q.subarray(0, d.count * 100)));
    fs.writeFileSync(path.join(dir, 'w.f32'), bytes(d.weights));
    if (d.masks) fs.writeFileSync(path.join(dir, 'm.f32'), bytes(d.masks.subarray(0, d.count * 1024)));
    if (d.promptMasks) fs.writeFileSync(path.join(dir, 'mp.f32'), bytes(d.promptMasks.subarray(0, d.count * 1024)));
    const decoy = d.decoy ? { decoyCount: d.decoy.count } : {};
    if (d.decoy) {
      fs.writeFileSync(path.join(dir, 'xd.f32'), bytes(d.decoy.x.subarray(0, d.decoy.count * 3072)));
      fs.writeFileSync(path.join(dir, 'yd.i32'), bytes(d.decoy.y.subarray(0, d.decoy.count)));
      fs.writeFileSync(path.join(dir, 'md.f32'), bytes(d.decoy.masks.subarray(0, d.decoy.count * 1024)));
    }
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ count: d.count, threads: 1, ...decoy, ...meta }));
    const r = spawnSync(python, [torchScript()!, dir, ...extraArgs], {
      encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    });
    if (r.status !== 0) return { reason: `torch_bench.py failed: ${(r.stderr || '').trim().split('\n').pop()}` };
    return { result: JSON.parse(r.stdout.trim().split('\n').pop()!) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
