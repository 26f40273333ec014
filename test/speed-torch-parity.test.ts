import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FusedLeNetGap, PARAM_ORDER, flattenParams } from '../lib/fast/lenet-gap-engine';
import { initialWeights } from '../lib/models';
import { createRng } from '../lib/util/rng';
import { runTorchBench, torchUnavailable } from '../bench/torch';

/** The fused engine against PyTorch itself (the anchor's semantics): loss and every gradient of one align
 * step on the same batch and weights. Skipped where /usr/bin/python3 has no torch. */
const python = process.env.LTL_TORCH_PYTHON ?? '/usr/bin/python3';
const why = torchUnavailable(python);

test('fused engine matches PyTorch (loss and gradients of an align step)', { skip: why }, () => {
  const n = 8, rng = createRng('torch-parity');
  const x = new Float32Array(n * 3072);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.55 ? -1 : rng.next() * 2 - 1;
  const y = Int32Array.from({ length: n }, () => rng.int(10));
  const q = new Float32Array(n * 100);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 100; k++) { const v = rng.next() < 0.3 ? rng.next() : 0; q[i * 100 + k] = v; s += v; }
    for (let k = 0; k < 100; k++) q[i * 100 + k] /= s;
  }
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
