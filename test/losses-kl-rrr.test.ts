import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { PaperKlLoss, DistKlLoss, klDivBatchmean, rrrPenalty, rrrModePenalty } from '../lib/losses';
import { createModel } from '../lib/models';

before(async () => { await initBackend('wasm'); });
const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('klDivBatchmean: known values, 0 log 0 = 0, batch mean', () => {
  const logp = tf.log(tf.tensor2d([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]));
  const q = tf.tensor2d([[1, 0, 0], [0, 0.5, 0.5]]);
  // row 1: log(1/0.5) = ln 2; row 2: 0.5 ln(0.5/0.25) * 2 = ln 2
  close(klDivBatchmean(logp as tf.Tensor2D, q).dataSync()[0], Math.log(2));
});

test("paper KL: constant map -> uniform p; one-hot target on n cells -> log n; the flat softmax can't reach the target", () => {
  const loss = new PaperKlLoss();
  const q = tf.tensor2d([[1, 0, 0, 0]]);
  close(loss.loss(tf.fill([1, 2, 2], 0.7) as tf.Tensor3D, q).dataSync()[0], Math.log(4));
  // the best case (map equal to the target): s = q, p = softmax(q), KL = -log p_0 = log(e + 3) - 1
  close(loss.loss(tf.tensor3d([[[1, 0], [0, 0]]]), q).dataSync()[0], Math.log(Math.E + 3) - 1);
  // a low temperature lets it approach 0
  assert.ok(new PaperKlLoss(0.05).loss(tf.tensor3d([[[1, 0], [0, 0]]]), q).dataSync()[0] < 1e-6);
  // min-max makes it scale invariant
  close(loss.loss(tf.tensor3d([[[3, 1], [2, 0]]]), q).dataSync()[0], loss.loss(tf.tensor3d([[[30, 10], [20, 0]]]), q).dataSync()[0]);
});

test('kl-dist: a map proportional to the target gives ~0; known value otherwise', () => {
  const loss = new DistKlLoss();
  const q = tf.tensor2d([[0.5, 0.5, 0, 0]]);
  assert.ok(loss.loss(tf.tensor3d([[[2, 2], [0, 0]]]), q).dataSync()[0] < 1e-3);
  // map [1,1,1,1] -> p uniform -> KL = ln(0.5/0.25) = ln 2
  close(loss.loss(tf.tensor3d([[[1, 1], [1, 1]]]), q).dataSync()[0], Math.log(2), 1e-4);
});

test('RRR: zero mask -> 0 penalty; full mask -> sum of squared input gradients; colour mode ignores grey-direction gradients', () => {
  const model = createModel('lenet-gap', 2);
  const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
  close(rrrPenalty(model, x, rrrModePenalty('spatial'), tf.zeros([2, 32, 32]) as tf.Tensor3D).dataSync()[0], 0);
  const f = (xx: tf.Tensor) => tf.sum(tf.logSoftmax(model.forward(xx as tf.Tensor4D).logits, 1)) as tf.Scalar;
  const g = tf.grad(f)(x);
  const want = tf.sum(tf.square(g)).dataSync()[0] / 2;
  close(rrrPenalty(model, x, rrrModePenalty('spatial'), tf.ones([2, 32, 32]) as tf.Tensor3D).dataSync()[0], want, 1e-4 * Math.max(1, want));
  const col = rrrPenalty(model, x, rrrModePenalty('colour')).dataSync()[0];
  const wantCol = tf.sum(tf.square(tf.sub(g, tf.mean(g, 3, true)))).dataSync()[0] / 2;
  close(col, wantCol, 1e-4 * Math.max(1, wantCol));
  assert.ok(col < want, 'the colour part is a fraction of the whole gradient');
  model.dispose();
});
