import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { createModel } from '../lib/models';
import type { Model } from '../lib/models/types';
import { ATTENTION_NAMES, CamAttention, GradCamAttention, createAttention } from '../lib/attention';
import { createRng } from '../lib/util/rng';

before(async () => { await initBackend('wasm'); });

/** A tiny hand-made GAP "net": features A = x itself (2x2 grid, 2 channels), logits = mean(A) W. */
function tinyNet(W: number[][]): Model {
  const w = tf.variable(tf.tensor2d(W));
  return {
    name: 'lenet-gap', inputSize: 2, grid: { height: 2, width: 2 }, featureChannels: 2, params: [{ name: 'w', variable: w }],
    forward: (x) => ({ features: x, logits: tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, w as unknown as tf.Tensor2D) as tf.Tensor2D }),
    head: (a) => tf.matMul(tf.mean(a, [1, 2]) as tf.Tensor2D, w as unknown as tf.Tensor2D) as tf.Tensor2D,
    camWeights: () => w as unknown as tf.Tensor2D,
    dispose: () => w.dispose(),
  };
}

test('CAM on a tiny net equals the hand computation ReLU(sum_c W[c,y] A_c)', () => {
  const W = [[1, -2, 0.5], [3, 1, -1]]; // 2 channels x 3 classes
  const A = [[[1, 2], [0, -1]], [[-1, 0.5], [2, 1]]]; // channel-first for readability: A[c][y][x]
  const net = tinyNet(W);
  const x = tf.tensor4d([0, 1].flatMap((yy) => [0, 1].flatMap((xx) => [A[0][yy][xx], A[1][yy][xx]])), [1, 2, 2, 2]);
  for (const label of [0, 1, 2]) {
    const y = tf.tensor1d([label], 'int32');
    const fwd = net.forward(x);
    const got = new CamAttention().map({ model: net, x, labels: y, forward: fwd, training: false }).arraySync()[0];
    for (let yy = 0; yy < 2; yy++) for (let xx = 0; xx < 2; xx++) {
      const want = Math.max(0, W[0][label] * A[0][yy][xx] + W[1][label] * A[1][yy][xx]);
      assert.ok(Math.abs(got[yy][xx] - want) < 1e-6, `label ${label} cell ${yy},${xx}: ${got[yy][xx]} vs ${want}`);
    }
  }
  // Grad-CAM on a linear GAP head: d logit_y / dA_c = W[c,y] / (h w), so Grad-CAM = CAM / 4
  const y = tf.tensor1d([1], 'int32');
  const fwd = net.forward(x);
  const cam = new CamAttention().map({ model: net, x, labels: y, forward: fwd, training: false }).dataSync();
  const gc = new GradCamAttention().map({ model: net, x, labels: y, forward: fwd, training: false }).dataSync();
  cam.forEach((v, i) => assert.ok(Math.abs(gc[i] - v / 4) < 1e-6));
  net.dispose();
});

function batch(n: number, size: number) {
  const rng = createRng('att-batch');
  return {
    x: tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => rng.next() * 2 - 1), [n, size, size, 3]),
    y: tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i % 10), 'int32'),
  };
}

for (const [modelName, methods] of [['lenet-gap', ['cam', 'gradcam', 'inputgrad']], ['cdep', ['gradcam', 'inputgrad']]] as const) {
  for (const name of methods) {
    test(`${name} on ${modelName}: map shape, non-negative, trainable (finite non-zero parameter gradients)`, () => {
      const model = createModel(modelName, 1);
      const att = createAttention(name);
      const { x, y } = batch(3, model.inputSize);
      const map = tf.tidy(() => {
        const fwd = model.forward(x, { secondOrder: att.needsSecondOrder });
        return att.map({ model, x, labels: y, forward: fwd, training: true });
      });
      assert.deepEqual(map.shape, [3, model.grid.height, model.grid.width]);
      assert.ok(map.dataSync().every((v) => v >= 0 && Number.isFinite(v)));
      map.dispose();
      const before = tf.memory().numTensors; // after the first call: inputgrad caches its pooling matrix once
      const { value, grads } = tf.variableGrads(() => {
        const fwd = model.forward(x, { secondOrder: att.needsSecondOrder });
        return tf.sum(tf.square(att.map({ model, x, labels: y, forward: fwd, training: true }))) as tf.Scalar;
      }, model.params.map((p) => p.variable));
      const conv1 = grads[model.params[0].variable.name].dataSync();
      assert.ok(conv1.every(Number.isFinite) && conv1.some((v) => v !== 0), 'gradient reaches the first conv layer');
      value.dispose(); Object.values(grads).forEach((g) => g.dispose());
      assert.equal(tf.memory().numTensors, before, 'no tensors leak');
      x.dispose(); y.dispose(); model.dispose();
    });
  }
}

test('CAM refuses a model without global average pooling', () => {
  const model = createModel('cdep', 1);
  const { x, y } = batch(1, 28);
  assert.throws(() => new CamAttention().map({ model, x, labels: y, forward: model.forward(x), training: false }), /global-average-pooling/);
  model.dispose();
});

test('Grad-CAM gradient matches a finite difference (double backprop through max pooling)', () => {
  const model = createModel('lenet-gap', 3);
  const { x, y } = batch(2, 32);
  const att = new GradCamAttention();
  const f = () => tf.tidy(() => {
    const fwd = model.forward(x, { secondOrder: true });
    return tf.sum(tf.square(att.map({ model, x, labels: y, forward: fwd, training: true }))) as tf.Scalar;
  });
  const fcw = model.params[4].variable;
  const { grads } = tf.variableGrads(f, [fcw]);
  const g = grads[fcw.name].dataSync()[5];
  const base = fcw.dataSync().slice();
  const eps = 1e-2;
  const plus = base.slice(); plus[5] += eps;
  const minus = base.slice(); minus[5] -= eps;
  fcw.assign(tf.tensor(plus, fcw.shape)); const fp = f().dataSync()[0];
  fcw.assign(tf.tensor(minus, fcw.shape)); const fm = f().dataSync()[0];
  const fd = (fp - fm) / (2 * eps);
  assert.ok(Math.abs(fd - g) <= 1e-2 * Math.max(1, Math.abs(g)), `analytic ${g} vs finite difference ${fd}`);
  model.dispose();
});

test('needsSecondOrder is true exactly for the maps that cannot be trained through plain max pooling', () => {
  // The trainer builds the forward pass with second-order-safe pooling only when the flag asks (TfjsEngine): a map made
  // of gradients (Grad-CAM, input gradients) differentiated again through tf.maxPool needs MaxPoolGrad's gradient,
  // which tfjs lacks; CAM is not made of gradients and trains the same through either pooling.
  const model = createModel('lenet-gap', 3);
  const { x, y } = batch(2, model.inputSize);
  const conv1 = model.params[0].variable;
  const conv1Grad = (att: ReturnType<typeof createAttention>, secondOrder: boolean) => {
    const { value, grads } = tf.variableGrads(() => {
      const fwd = model.forward(x, { secondOrder });
      return tf.sum(tf.square(att.map({ model, x, labels: y, forward: fwd, training: secondOrder }))) as tf.Scalar;
    }, [conv1]);
    value.dispose();
    return grads[conv1.name].dataSync();
  };
  for (const name of ATTENTION_NAMES) {
    const att = createAttention(name);
    let firstOrder: Float32Array | Int32Array | Uint8Array | undefined;
    try {
      firstOrder = conv1Grad(att, false);
    } catch (e) {
      assert.match((e as Error).message, /MaxPoolGrad/, name);
    }
    assert.equal(att.needsSecondOrder, firstOrder === undefined, `${name}: needsSecondOrder`);
    if (firstOrder) {
      const second = conv1Grad(att, true);
      firstOrder.forEach((v, i) => assert.ok(Math.abs(v - second[i]) <= 1e-5 * Math.max(1, Math.abs(second[i])), `${name}: both poolings give the same gradient`));
    }
    att.dispose?.();
  }
  x.dispose(); y.dispose(); model.dispose();
});
