import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { createModel, type Model } from '../lib/models';
import { maxPool2x2 } from '../lib/models/ops';
import {
  cdConv, cdDense, cdGlobalAverage, cdMaxPool, cdRelu, cdepPenalty, cdepScore, decomposeLogits, drawPixels, maskedRelevant, pixelProbabilities,
  type Decomposition,
} from '../lib/losses/cdep';
import { IDENTITY3, OFF_GREY3 } from '../lib/engines/types';
import { createRng } from '../lib/util/rng';
import { gradientChecks } from './train-helpers';

before(async () => { await initBackend('wasm'); });

const rand = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const sum = (d: Decomposition) => tf.add(d.rel, d.irr);

test('CD layers: relevant + irrelevant equals the layer output for random splits (conv, dense, ReLU, max pool, GAP)', () => {
  tf.tidy(() => {
    const x = rand([2, 9, 9, 3], 1) as tf.Tensor4D, rel = rand([2, 9, 9, 3], 2) as tf.Tensor4D;
    const d = { rel, irr: tf.sub(x, rel) as tf.Tensor4D };
    const w = rand([3, 3, 3, 4], 3), b = rand([4], 4);
    assert.ok(maxAbsDiff(sum(cdConv(d, w, b)), tf.add(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid'), b)) < 1e-5);
    assert.ok(maxAbsDiff(sum(cdRelu(d)), tf.relu(x)) < 1e-6);
    // odd size (9): the pool drops the last row and column, as the nets' pooling does
    assert.ok(maxAbsDiff(sum(cdMaxPool(d)), maxPool2x2(x)) < 1e-6);
    assert.ok(maxAbsDiff(sum(cdGlobalAverage(d)), tf.mean(x, [1, 2])) < 1e-6);
    const v = rand([3, 5], 5) as tf.Tensor2D, r2 = rand([3, 5], 6) as tf.Tensor2D;
    const wd = rand([5, 7], 7), bd = rand([7], 8);
    assert.ok(maxAbsDiff(sum(cdDense({ rel: r2, irr: tf.sub(v, r2) as tf.Tensor2D }, wd, bd)), tf.add(tf.matMul(v, wd as tf.Tensor2D), bd)) < 1e-5);
  });
});

test('CD conv: a dead window (both parts exactly 0) still gets its bias, split by the parts\' overall shares', () => {
  tf.tidy(() => {
    const rel = tf.zeros([1, 3, 3, 1]).bufferSync(), irr = tf.zeros([1, 3, 3, 1]).bufferSync();
    rel.set(1, 0, 0, 0, 0); irr.set(3, 0, 2, 2, 0); // input mass 1 relevant, 3 irrelevant
    const w = tf.zeros([1, 1, 1, 1]).bufferSync(); w.set(1, 0, 0, 0, 0);
    const out = cdConv({ rel: rel.toTensor() as tf.Tensor4D, irr: irr.toTensor() as tf.Tensor4D }, w.toTensor(), tf.tensor1d([2]));
    const r = out.rel.dataSync(), i = out.irr.dataSync();
    // pixel (0,0): all relevant -> bias to rel; (2,2): all irrelevant; (1,1): dead -> 2 * 1/4 and 2 * 3/4
    assert.deepEqual([r[0], i[0]], [3, 0]);
    assert.deepEqual([r[8], i[8]], [0, 5]);
    assert.deepEqual([r[4], i[4]], [0.5, 1.5]);
  });
});

for (const name of ['lenet-gap', 'cdep'] as const) {
  test(`CD of ${name}: the parts sum to the logits; all-relevant input gives the full logits, all-irrelevant a relevant part of exactly 0`, () => {
    const model = createModel(name, 3);
    tf.tidy(() => {
      const s = model.inputSize;
      const x = rand([3, s, s, 3], 11) as tf.Tensor4D;
      const z = model.forward(x).logits;
      const scale = tf.max(tf.abs(z)).dataSync()[0];
      const half = tf.mul(x, tf.tensor4d(new Float32Array(s * s).map((_, p) => (p % s < s / 2 ? 1 : 0)), [1, s, s, 1])) as tf.Tensor4D;
      const d = decomposeLogits(model, { rel: half, irr: tf.sub(x, half) as tf.Tensor4D });
      assert.ok(maxAbsDiff(sum(d), z) < 1e-4 * scale, `sum vs logits: ${maxAbsDiff(sum(d), z)}`);
      assert.ok(maxAbsDiff(d.rel, tf.zerosLike(d.rel)) > 1e-3 * scale, 'a half-image split has a relevant part');
      const all = decomposeLogits(model, { rel: x, irr: tf.zerosLike(x) as tf.Tensor4D });
      assert.ok(maxAbsDiff(all.rel, z) < 1e-4 * scale);
      assert.equal(maxAbsDiff(all.irr, tf.zerosLike(z)), 0);
      const none = decomposeLogits(model, { rel: tf.zerosLike(x) as tf.Tensor4D, irr: x });
      assert.equal(maxAbsDiff(none.rel, tf.zerosLike(z)), 0);
      assert.ok(maxAbsDiff(none.irr, z) < 1e-4 * scale);
      // CDEP's score: sigmoid(rel - irr) averaged; an all-irrelevant split gives mean sigmoid(-z)
      const score = cdepScore(model, x, tf.zerosLike(x) as tf.Tensor4D).dataSync()[0];
      assert.ok(Math.abs(score - tf.mean(tf.sigmoid(tf.neg(z))).dataSync()[0]) < 1e-5);
    });
    model.dispose();
  });
}

test('CDEP mask split: w x + (1 - w) x C; no per-pixel term -> x C; no C -> w x', () => {
  tf.tidy(() => {
    const x = rand([2, 4, 4, 3], 21) as tf.Tensor4D;
    const w = tf.tensor3d(new Float32Array(32).map((_, i) => (i % 3 === 0 ? 1 : 0)), [2, 4, 4]);
    const grey = tf.mean(x, 3, true);
    assert.ok(maxAbsDiff(maskedRelevant(x, { spatial: IDENTITY3, global: null }, w), tf.mul(x, tf.expandDims(w, 3))) < 1e-7);
    assert.ok(maxAbsDiff(maskedRelevant(x, { spatial: null, global: OFF_GREY3 }), tf.sub(x, grey)) < 1e-6);
    const both = maskedRelevant(x, { spatial: IDENTITY3, global: OFF_GREY3 }, w);
    const we = tf.expandDims(w, 3);
    assert.ok(maxAbsDiff(both, tf.add(tf.mul(we, x), tf.mul(tf.sub(1, we), tf.sub(x, grey)))) < 1e-6);
  });
});

test("CDEP's pixel prior: foreground frequencies, seeded draws that follow them, the sum of one score per pixel", () => {
  const size = 4;
  const imgs = new Float32Array(3 * size * size * 3).fill(-1);
  imgs[3 * 5] = 0.5; imgs[size * size * 3 + 3 * 5 + 2] = 0.1; imgs[2 * size * size * 3 + 3 * 6 + 1] = 1; // pixel 5 twice, 6 once
  const p = pixelProbabilities(imgs, 3, size);
  assert.ok(Math.abs(p[5] - 2 / 3) < 1e-6 && Math.abs(p[6] - 1 / 3) < 1e-6 && p[0] === 0);
  const a = drawPixels(p, 300, createRng('blobs')), b = drawPixels(p, 300, createRng('blobs'));
  assert.deepEqual(a, b);
  assert.ok(a.every((q) => q === 5 || q === 6));
  const fives = a.filter((q) => q === 5).length;
  assert.ok(fives > 160 && fives < 240, `${fives} of 300 draws at the 2/3 pixel`);
  const model = createModel('lenet-gap', 4);
  tf.tidy(() => {
    const x = rand([2, 32, 32, 3], 31) as tf.Tensor4D;
    const probs = new Float32Array(1024); probs[100] = 0.5; probs[700] = 0.5;
    const got = cdepPenalty(model, x, { kind: 'pixels', count: 3, probabilities: probs }, undefined, createRng('p')).dataSync()[0];
    const want = drawPixels(probs, 3, createRng('p')).reduce((acc, q) => {
      const blob = new Float32Array(1024); blob[q] = 1;
      return acc + cdepScore(model, x, tf.mul(x, tf.tensor4d(blob, [1, 32, 32, 1])) as tf.Tensor4D).dataSync()[0];
    }, 0);
    assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  });
  model.dispose();
});

test('CDEP penalty: its parameter gradient agrees with central finite differences (noise images)', () => {
  const model: Model = createModel('lenet-gap', 5);
  const x = rand([2, 32, 32, 3], 41) as tf.Tensor4D;
  const w = tf.tensor3d(new Float32Array(2 * 1024).map((_, i) => ((i % 32) < 8 ? 1 : 0)), [2, 32, 32]);
  const region = { kind: 'mask' as const, penalty: { spatial: IDENTITY3, global: OFF_GREY3 } };
  const loss = () => tf.tidy(() => cdepPenalty(model, x, region, w).dataSync()[0]);
  const vars = model.params.map((p) => p.variable);
  const { grads } = tf.variableGrads(() => cdepPenalty(model, x, region, w), vars);
  // (param index, flat index, step): conv2.w, conv2.b, fc.w, fc.b
  for (const { pi, i, g, fd } of gradientChecks(vars, grads, loss, [[2, 37, 1e-3], [2, 1200, 1e-3], [3, 4, 1e-3], [4, 17, 1e-2], [5, 3, 1e-2]])) {
    // gradients here are ~5e-4..2e-2; float32 differences of a ~0.5 penalty have a noise floor of ~2e-5 at these steps
    assert.ok(Math.abs(fd - g) < 0.05 * Math.abs(g) + 2e-5, `${model.params[pi].name}[${i}]: autodiff ${g} vs finite difference ${fd}`);
  }
  model.dispose();
});
