import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

/** The images (NHWC, [-1, 1]), labels, targets ([N, 100]) and initial weights (tfjs layouts, flat) handed to PyTorch. */
export interface TorchInputs {
  count: number;
  x: Float32Array;
  y: Int32Array;
  q: Float32Array;
  weights: Float32Array;
}

export interface TorchMeta {
  trainImages: number;
  warmupImages: number;
  evalImages: number;
  batch: number;
  lambda: number;
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
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ count: d.count, threads: 1, ...meta }));
    const r = spawnSync(python, [torchScript()!, dir, ...extraArgs], {
      encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    });
    if (r.status !== 0) return { reason: `torch_bench.py failed: ${(r.stderr || '').trim().split('\n').pop()}` };
    return { result: JSON.parse(r.stdout.trim().split('\n').pop()!) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
