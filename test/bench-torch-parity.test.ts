import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FusedLeNetGap, PARAM_ORDER, flattenParams } from '../lib/engines/fused/kernel';
import { initialWeights } from '../lib/models';
import { createRng } from '../lib/util/rng';
import { runTorchBench, torchUnavailable } from '../bench/torch';
import { IDENTITY3, OFF_GREY3, type InputGradPenalty } from '../lib/engines/types';

/** The fused engine against PyTorch itself (bench/torch_bench.py): loss and every gradient of one step on the
 * same batch and weights: align with CAM, Grad-CAM and input-gradient maps (bench/torch_bench.py's create_graph
 * steps), and the input-gradient penalties (RRR spatial, colour, and mask + attribute matrix as the prompt
 * constraint uses). Skipped where /usr/bin/python3 has no torch (Debian: apt-get install -y python3-torch, or
 * scripts/setup.sh --with-torch). */
const python = process.env.LTL_TORCH_PYTHON ?? '/usr/bin/python3';
const why = torchUnavailable(python);

test('fused engine matches PyTorch (loss and gradients of an align step)', { skip: why }, () => {
  const n = 8, rng = createRng('torch-parity');
  const x = new Float32Array(n * 3072);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.55 ? -1 : rng.next() * 2 - 1;
  const y = Int32Array.from({ length: n }, () => rng.int(10));
  const q = sparseTargets(rng, n);
  const weights = flattenParams(initialWeights('lenet-gap', 11));
  const lambda = 160;
  const r = runTorchBench(python, { count: n, x, y, q, weights }, { trainImages: 0, warmupImages: 0, evalImages: 0, batch: n, lambda }, ['--grads']);
  assert.ok(r.result, r.reason);
  const k = FusedLeNetGap.createSync();
  k.setParams(weights);
  const got = k.computeGradients(n, x, y, q, { lambda });
  assert.ok(Math.abs(got.loss - r.result.loss) < 1e-4 * Math.abs(r.result.loss), `loss ${got.loss} vs torch ${r.result.loss}`);
  assert.ok(Math.abs(got.ce - r.result.ce) < 1e-5 * Math.max(1, r.result.ce), `ce ${got.ce} vs torch ${r.result.ce}`);
  const g = k.getGradients(), tg = Float32Array.from(r.result.grads as number[]);
  let off = 0;
  for (const p of PARAM_ORDER) {
    const m = p.shape.reduce((a, b) => a * b, 1);
    let d = 0, s = 0;
    for (let i = off; i < off + m; i++) { d = Math.max(d, Math.abs(g[i] - tg[i])); s = Math.max(s, Math.abs(tg[i])); }
    assert.ok(d / s < 2e-4, `${p.name}: relative error ${(d / s).toExponential(2)} against PyTorch`);
    off += m;
  }
});

/** Target distributions over the 10x10 grid, about 30 % of the cells non-zero, each summing to 1. */
function sparseTargets(rng: ReturnType<typeof createRng>, n: number): Float32Array {
  const q = new Float32Array(n * 100);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 100; k++) { const v = rng.next() < 0.3 ? rng.next() : 0; q[i * 100 + k] = v; s += v; }
    for (let k = 0; k < 100; k++) q[i * 100 + k] /= s;
  }
  return q;
}

/** Noise images without exact ties (half of the pixels background, as MNIST), labels, targets, penalty masks. */
function noiseBatch(n: number, seed: string) {
  const rng = createRng(seed);
  const x = new Float32Array(n * 3072);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.5 ? -1 + 1e-3 * rng.next() : rng.next() * 2 - 1;
  const y = Int32Array.from({ length: n }, () => rng.int(10));
  const q = sparseTargets(rng, n);
  const masks = new Float32Array(n * 1024).map(() => (rng.next() < 0.4 ? 1 : rng.next() < 0.5 ? rng.next() : 0));
  return { x, y, q, masks };
}

function assertParity(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  let off = 0;
  for (const p of PARAM_ORDER) {
    const m = p.shape.reduce((a, b) => a * b, 1);
    let d = 0, s = 0;
    for (let i = off; i < off + m; i++) { d = Math.max(d, Math.abs(got[i] - want[i])); s = Math.max(s, Math.abs(want[i])); }
    if (s > 0) assert.ok(d / s < tol, `${what} ${p.name}: relative error ${(d / s).toExponential(2)} against PyTorch`);
    else assert.ok(d < 1e-9, `${what} ${p.name}: PyTorch's gradient is 0, the kernel's max |g| is ${d}`);
    off += m;
  }
}

test('fused engine matches PyTorch: align with Grad-CAM and input-gradient maps (create_graph)', { skip: why }, () => {
  const n = 6, b = noiseBatch(n, 'torch-parity-att');
  const weights = flattenParams(initialWeights('lenet-gap', 12));
  for (const attention of ['gradcam', 'inputgrad'] as const) {
    const lambda = 40;
    const r = runTorchBench(python, { count: n, x: b.x, y: b.y, q: b.q, weights },
      { trainImages: 0, warmupImages: 0, evalImages: 0, batch: n, lambda, gradsMethod: attention }, ['--grads']);
    assert.ok(r.result, r.reason);
    const k = FusedLeNetGap.createSync();
    k.setParams(weights);
    const got = k.computeGradients(n, b.x, b.y, b.q, { lambda, attention });
    assert.ok(Math.abs(got.kl - r.result.kl) < 1e-4 * Math.abs(r.result.kl), `${attention}: kl ${got.kl} vs torch ${r.result.kl}`);
    assert.ok(Math.abs(got.loss - r.result.loss) < 1e-4 * Math.abs(r.result.loss), `${attention}: loss ${got.loss} vs torch ${r.result.loss}`);
    assertParity(k.getGradients(), Float32Array.from(r.result.grads as number[]), 5e-4, attention);
  }
});

test('fused engine matches PyTorch: RRR input-gradient penalties (torch.autograd.grad of the summed log-probabilities, create_graph)', { skip: why }, () => {
  const n = 6, b = noiseBatch(n, 'torch-parity-rrr');
  const weights = flattenParams(initialWeights('lenet-gap', 13));
  const cases: Array<[string, InputGradPenalty]> = [
    ['spatial', { spatial: IDENTITY3, global: null }],
    ['colour', { spatial: null, global: OFF_GREY3 }],
    ['mask + attribute matrix', { spatial: IDENTITY3, global: OFF_GREY3.map((v) => 0.5 * v) }],
  ];
  for (const [name, penalty] of cases) {
    const lambda = 10;
    const r = runTorchBench(python, { count: n, x: b.x, y: b.y, q: b.q, weights, masks: b.masks },
      { trainImages: 0, warmupImages: 0, evalImages: 0, batch: n, lambda, gradsMethod: 'rrr', penalty }, ['--grads']);
    assert.ok(r.result, r.reason);
    const k = FusedLeNetGap.createSync();
    k.setParams(weights);
    k.setPenalty(penalty);
    const got = k.computeGradients(n, b.x, b.y, undefined, { lambda, penalty: true, masks: b.masks });
    assert.ok(r.result.kl > 0, `${name}: the penalty is positive`);
    assert.ok(Math.abs(got.kl - r.result.kl) < 1e-4 * r.result.kl, `${name}: penalty ${got.kl} vs torch ${r.result.kl}`);
    assert.ok(Math.abs(got.ce - r.result.ce) < 1e-5 * Math.max(1, r.result.ce), `${name}: ce ${got.ce} vs torch ${r.result.ce}`);
    assert.ok(Math.abs(got.loss - r.result.loss) < 1e-4 * Math.abs(r.result.loss), `${name}: loss ${got.loss} vs torch ${r.result.loss}`);
    assertParity(k.getGradients(), Float32Array.from(r.result.grads as number[]), 5e-4, `rrr ${name}`);
  }
});
