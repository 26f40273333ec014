import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FusedLeNetGap, PARAM_COUNT, unflattenParams } from '../lib/engines/fused/kernel';
import { createModel } from '../lib/models';
import { rrrPenalty, penaltyPerImage, rrrInputGradient } from '../lib/losses/rrr';
import { IDENTITY3, OFF_GREY3, type InputGradPenalty } from '../lib/engines/types';
import { createRng } from '../lib/util/rng';
import { makeWeights, blobBatch, autodiffStep, assertClose, type TestBatch } from './engines-fused-helpers';

/**
 * The fused kernel's input-gradient penalties (double backprop written out by hand) against tfjs autodiff of the
 * same penalty (lib/losses/rrr.ts) on the cpu backend: loss pieces, every parameter's gradient, the excluded
 * share in evaluation, and Adam against the tfjs engine's update.
 */

const B = 5;

const makeBatch = (seed: number, n: number) => blobBatch('fused-rrr-batch', seed, n);

/** CE * ceWeight + lambda * mean R through tfjs autodiff (the tfjs engine's own penalty code). */
const reference = (flat: Float32Array, batch: TestBatch, penalty: InputGradPenalty, lambda: number, ceWeight: number) =>
  autodiffStep(flat, batch, B, lambda, ceWeight, ({ model, x, masks }) => rrrPenalty(model, x, penalty, masks), true);

const ATTRIBUTE: number[] = [0.5, 0.2, -0.1, 0.2, 0.3, 0.05, -0.1, 0.05, 0.4]; // some symmetric PSD matrix

const CASES: Array<{ name: string; penalty: InputGradPenalty; lambda: number; ceWeight: number }> = [
  { name: 'spatial mask (RRR)', penalty: { spatial: IDENTITY3, global: null }, lambda: 10, ceWeight: 1 },
  { name: 'colour (off the grey axis)', penalty: { spatial: null, global: OFF_GREY3 }, lambda: 3, ceWeight: 1 },
  { name: 'mask + attribute matrix', penalty: { spatial: IDENTITY3, global: ATTRIBUTE }, lambda: 5, ceWeight: 1 },
  { name: 'penalty only (attention phase)', penalty: { spatial: ATTRIBUTE, global: OFF_GREY3 }, lambda: 1, ceWeight: 0 },
];

test('fused engine: input-gradient penalties (loss and every gradient) match tfjs autodiff', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const batch = makeBatch(1, B);
  for (const [seed, c] of CASES.entries()) {
    const w = makeWeights('fused-rrr', seed);
    eng.setParams(w);
    eng.setPenalty(c.penalty);
    const ref = reference(w, batch, c.penalty, c.lambda, c.ceWeight);
    assert.ok(ref.penalty > 0, `${c.name}: the reference penalty is positive`);
    const got = eng.computeGradients(B, batch.images, batch.labels, undefined, { lambda: c.lambda, ceWeight: c.ceWeight, penalty: true, masks: batch.masks });
    assert.ok(Math.abs(got.ce - ref.ce) < 1e-5 * Math.max(1, ref.ce), `${c.name}: ce ${got.ce} vs ${ref.ce}`);
    assert.ok(Math.abs(got.kl - ref.penalty) < 1e-4 * ref.penalty, `${c.name}: penalty ${got.kl} vs ${ref.penalty}`);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-4 * Math.max(1, Math.abs(ref.loss)), `${c.name}: loss ${got.loss} vs ${ref.loss}`);
    assertClose(eng.getGradients(), ref.grads, 5e-4, c.name);
    assert.deepEqual(eng.getParams(), w, 'computing gradients does not change the weights');
  }
});

test('fused engine: the excluded share R / |g|^2 in evaluation matches tfjs', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const batch = makeBatch(2, B);
  const w = makeWeights('fused-rrr', 7);
  eng.setParams(w);
  for (const c of CASES) {
    eng.setPenalty(c.penalty);
    const got = eng.evaluate(B, batch.images, batch.labels, undefined, 1, { masks: batch.masks });
    const want = tf.tidy(() => {
      const model = createModel('lenet-gap', 0, unflattenParams(w));
      const g = rrrInputGradient(model, tf.tensor4d(batch.images.subarray(0, B * 3072), [B, 32, 32, 3]), false);
      const r = penaltyPerImage(g, c.penalty, tf.tensor3d(batch.masks.subarray(0, B * 1024), [B, 32, 32]));
      const s = tf.sum(tf.div(r, tf.sum(tf.square(g), [1, 2, 3]))).dataSync()[0];
      model.dispose();
      return s;
    });
    assert.ok(want > 0 && Math.abs(got.excludedShareSum! - want) < 1e-4 * want, `${c.name}: share ${got.excludedShareSum} vs ${want}`);
  }
});

test('fused engine: the penalty gradient agrees with central finite differences of the penalty (noise images, no ties)', () => {
  const eng = FusedLeNetGap.createSync();
  const rng = createRng('fused-rrr-fd');
  const w = new Float32Array(PARAM_COUNT).map(() => (rng.next() * 2 - 1) * 0.2);
  const n = 2;
  const images = new Float32Array(n * 3072).map(() => rng.next() * 2 - 1);
  const labels = Int32Array.from([3, 5]);
  const masks = new Float32Array(n * 1024).map(() => (rng.next() < 0.5 ? 1 : 0));
  eng.setPenalty({ spatial: IDENTITY3, global: OFF_GREY3 });
  const loss = (ww: Float32Array) => {
    eng.setParams(ww);
    return eng.computeGradients(n, images, labels, undefined, { lambda: 1, ceWeight: 0, penalty: true, masks }).loss;
  };
  loss(w);
  const g = eng.getGradients();
  // indices in conv1.w, conv2.w, conv2.b, fc.w, fc.b (a conv1 bias moves all 1,568 units of its channel across ReLU
  // kinks at once; the autodiff test above covers it); float32 losses of ~0.25 leave a noise
  // floor of ~1e-4 in the differences at this step
  for (const i of [101, 300, 449, 1000, 2860, 2900, 3035]) {
    // fc weights move no ReLU or pooling mask, so a large step is exact; conv steps must stay below the kinks
    const h = i >= 2872 ? 1e-2 : i >= 456 ? 1e-3 : 1e-4;
    const a = Float32Array.from(w); a[i] += h;
    const b = Float32Array.from(w); b[i] -= h;
    const fd = (loss(a) - loss(b)) / (2 * h);
    assert.ok(Math.abs(fd - g[i]) < 0.03 * Math.abs(g[i]) + 2e-4, `parameter ${i}: kernel ${g[i]} vs finite difference ${fd}`);
  }
});

test('fused engine: grey images (three equal channels: conv1 runs once with the channel-summed filter) match tfjs', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const batch = makeBatch(3, B);
  for (let p = 0; p < B * 1024; p++) batch.images[3 * p + 1] = batch.images[3 * p + 2] = batch.images[3 * p];
  for (const [seed, c] of [CASES[0], CASES[2]].entries()) {
    const w = makeWeights('fused-rrr', 20 + seed);
    eng.setParams(w);
    eng.setPenalty(c.penalty);
    const ref = reference(w, batch, c.penalty, c.lambda, c.ceWeight);
    const got = eng.computeGradients(B, batch.images, batch.labels, undefined, { lambda: c.lambda, ceWeight: c.ceWeight, penalty: true, masks: batch.masks });
    assert.ok(Math.abs(got.ce - ref.ce) < 1e-5 * Math.max(1, ref.ce), `grey ${c.name}: ce ${got.ce} vs ${ref.ce}`);
    assert.ok(Math.abs(got.kl - ref.penalty) < 1e-4 * ref.penalty, `grey ${c.name}: penalty ${got.kl} vs ${ref.penalty}`);
    assertClose(eng.getGradients(), ref.grads, 5e-4, `grey ${c.name}`);
    const ev = eng.evaluate(B, batch.images, batch.labels);
    const logits = tf.tidy(() => {
      const model = createModel('lenet-gap', 0, unflattenParams(w));
      const l = model.forward(tf.tensor4d(batch.images.subarray(0, B * 3072), [B, 32, 32, 3])).logits.dataSync() as Float32Array;
      model.dispose();
      return l;
    });
    for (let i = 0; i < B * 10; i++) assert.ok(Math.abs(ev.logits[i] - logits[i]) < 1e-5 * Math.max(1, Math.abs(logits[i])), `grey logits ${i}: ${ev.logits[i]} vs ${logits[i]}`);
  }
});
