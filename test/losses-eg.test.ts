import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { createModel, type Model } from '../lib/models';
import { drawReferences, egPenalty, expectedGradients } from '../lib/losses/expected-gradients';
import { IDENTITY3, OFF_GREY3 } from '../lib/engines/types';
import { createRng } from '../lib/util/rng';
import { gradientChecks } from './train-helpers';

before(async () => { await initBackend('wasm'); });

const rand = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

test('EG draws: seeded (same seed, same draws), references within the batch, alpha in [0, 1)', () => {
  const a = drawReferences(5, 3, createRng('eg:1')), b = drawReferences(5, 3, createRng('eg:1')), c = drawReferences(5, 3, createRng('eg:2'));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.alphas, c.alphas);
  assert.equal(a.references.length, 15);
  assert.ok(a.references.every((r) => r >= 0 && r < 5) && a.alphas.every((x) => x >= 0 && x < 1));
});

test('EG with one reference and a fixed alpha equals (x - r) * grad of the label\'s probability at r + alpha (x - r)', () => {
  const model = createModel('lenet-gap', 7);
  tf.tidy(() => {
    const x = rand([2, 32, 32, 3], 1) as tf.Tensor4D;
    const labels = tf.tensor1d([4, 9], 'int32');
    // image 0 against image 1 at alpha 0.3; image 1 against image 0 at alpha 0.8
    const a = expectedGradients(model, x, labels, { references: Int32Array.from([1, 0]), alphas: Float32Array.from([0.3, 0.8]) });
    for (const [i, r, alpha, y] of [[0, 1, 0.3, 4], [1, 0, 0.8, 9]]) {
      const xi = tf.slice(x, [i, 0, 0, 0], [1, 32, 32, 3]), xr = tf.slice(x, [r, 0, 0, 0], [1, 32, 32, 3]);
      const xp = tf.add(xr, tf.mul(alpha, tf.sub(xi, xr)));
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.slice(tf.softmax(model.forward(t as tf.Tensor4D).logits, 1), [0, y], [1, 1])) as tf.Scalar)(xp);
      const want = tf.mul(tf.sub(xi, xr), g);
      const got = tf.slice(a, [i, 0, 0, 0], [1, 32, 32, 3]);
      const scale = tf.max(tf.abs(want)).dataSync()[0];
      assert.ok(scale > 0);
      assert.ok(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] < 1e-4 * scale);
    }
  });
  model.dispose();
});

test('EG completeness: attributions over many alphas on one path sum to f(x) - f(r) (midpoint rule)', () => {
  const model = createModel('cdep', 8);
  tf.tidy(() => {
    const x = rand([2, 28, 28, 3], 2) as tf.Tensor4D;
    const labels = tf.tensor1d([1, 6], 'int32');
    const k = 64;
    const draws = { references: new Int32Array(2 * k), alphas: new Float32Array(2 * k) };
    for (let d = 0; d < k; d++) { draws.references[d] = 1; draws.alphas[d] = (d + 0.5) / k; draws.references[k + d] = 1; draws.alphas[k + d] = (d + 0.5) / k; }
    const a = expectedGradients(model, x, labels, draws);
    const total = tf.sum(tf.slice(a, [0, 0, 0, 0], [k, 28, 28, 3])).dataSync()[0] / k;
    const p = tf.softmax(model.forward(x).logits, 1).arraySync() as number[][];
    const want = p[0][1] - p[1][1];
    assert.ok(Math.abs(want) > 1e-3, `f(x) - f(r) = ${want}`);
    assert.ok(Math.abs(total - want) < 0.05 * Math.abs(want), `sum of attributions ${total} vs f(x) - f(r) ${want}`);
    // the image as its own reference: no path, attribution 0
    assert.equal(tf.max(tf.abs(tf.slice(a, [k, 0, 0, 0], [k, 28, 28, 3]))).dataSync()[0], 0);
  });
  model.dispose();
});

test('EG penalty: the per-pixel form with a full mask is the mean squared attribution per draw; the colour form its off-grey part', () => {
  const model = createModel('lenet-gap', 9);
  tf.tidy(() => {
    const x = rand([3, 32, 32, 3], 3) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2], 'int32');
    const draws = drawReferences(3, 2, createRng('eg-pen'));
    const a = expectedGradients(model, x, labels, draws);
    const spatial = egPenalty(model, x, labels, { spatial: IDENTITY3, global: null }, draws, tf.ones([3, 32, 32]) as tf.Tensor3D).dataSync()[0];
    const want = tf.sum(tf.square(a)).dataSync()[0] / 6;
    assert.ok(want > 0 && Math.abs(spatial - want) < 1e-4 * want, `${spatial} vs ${want}`);
    const colour = egPenalty(model, x, labels, { spatial: null, global: OFF_GREY3 }, draws).dataSync()[0];
    const wantCol = tf.sum(tf.square(tf.sub(a, tf.mean(a, 3, true)))).dataSync()[0] / 6;
    assert.ok(Math.abs(colour - wantCol) < 1e-4 * wantCol, `${colour} vs ${wantCol}`);
    assert.equal(egPenalty(model, x, labels, { spatial: IDENTITY3, global: null }, draws, tf.zeros([3, 32, 32]) as tf.Tensor3D).dataSync()[0], 0);
  });
  model.dispose();
});

test('EG penalty: its parameter gradient (double backprop) agrees with central finite differences (noise images)', () => {
  const model: Model = createModel('lenet-gap', 10);
  const x = rand([2, 32, 32, 3], 4) as tf.Tensor4D;
  const labels = tf.tensor1d([3, 5], 'int32');
  const w = tf.tensor3d(new Float32Array(2 * 1024).map((_, i) => ((i % 32) < 8 ? 1 : 0)), [2, 32, 32]);
  const draws = drawReferences(2, 2, createRng('eg-fd'));
  const penalty = { spatial: IDENTITY3, global: OFF_GREY3 };
  // scaled so the penalty is O(1): squared attributions of a probability are small
  const f = () => tf.mul(egPenalty(model, x, labels, penalty, draws, w), 1e6) as tf.Scalar;
  const loss = () => tf.tidy(() => f().dataSync()[0]);
  const vars = model.params.map((p) => p.variable);
  const { grads } = tf.variableGrads(f, vars);
  // steps below the ReLU and pooling kinks (a conv2 bias moves a whole channel: larger steps cross kinks and the
  // difference is off by 3x); float32 leaves a noise floor of ~1e-4 in the differences
  for (const { pi, i, g, fd } of gradientChecks(vars, grads, loss, [[0, 101, 3e-3], [2, 300, 1e-3], [3, 9, 3e-4], [4, 33, 1e-2], [5, 3, 1e-2]])) {
    assert.ok(Math.abs(g) > 1e-3, `${model.params[pi].name}[${i}]: a gradient worth testing (${g})`);
    assert.ok(Math.abs(fd - g) < 0.05 * Math.abs(g) + 3e-4, `${model.params[pi].name}[${i}]: autodiff ${g} vs finite difference ${fd}`);
  }
  model.dispose();
});
