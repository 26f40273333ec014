import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { planEpoch, type ScheduleConfig } from '../lib/train/schedule';
import { TfjsEngine } from '../lib/engines/tfjs/engine';
import { DEFAULT_OPTIMIZER } from '../lib/engines/types';
import { createModel, initialWeights } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { createRng } from '../lib/util/rng';

before(async () => { await initBackend('wasm'); });

const paper: ScheduleConfig = { method: 'align', epochs: 30, attentionEpoch: 11, phase1: 'ce', lambda: 160, lr: 1e-3, lrStep: 7, lrGamma: 0.1 };

test('two-phase schedule: lambda ramp, optimizer reset at A, StepLR restarting at A', () => {
  const p = Array.from({ length: 30 }, (_, e) => planEpoch(paper, e));
  assert.ok(p.slice(0, 11).every((x) => x.phase === 'ce' && x.lambda === 0));
  assert.deepEqual(p.map((x) => x.resetOptimizer).flatMap((r, e) => (r ? [e] : [])), [11]);
  assert.equal(p[11].lambda, 160); assert.equal(p[12].lambda, 176); assert.ok(Math.abs(p[21].lambda - 320) < 1e-9);
  assert.ok(p.slice(11).every((x) => x.phase === 'combined'));
  const lr = (e: number) => p[e].lr;
  assert.equal(lr(0), 1e-3); assert.equal(lr(6), 1e-3); assert.ok(Math.abs(lr(7) - 1e-4) < 1e-12); assert.ok(Math.abs(lr(10) - 1e-4) < 1e-12);
  assert.equal(lr(11), 1e-3); assert.equal(lr(17), 1e-3); assert.ok(Math.abs(lr(18) - 1e-4) < 1e-12); assert.ok(Math.abs(lr(25) - 1e-5) < 1e-13);
  const att = planEpoch({ ...paper, phase1: 'attention' }, 3);
  assert.equal(att.phase, 'attention');
  const a0 = Array.from({ length: 5 }, (_, e) => planEpoch({ ...paper, attentionEpoch: 0 }, e));
  assert.ok(a0.every((x) => x.phase === 'combined' && !x.resetOptimizer));
  assert.equal(a0[2].lambda, 192);
  assert.ok(Array.from({ length: 30 }, (_, e) => planEpoch({ ...paper, method: 'vanilla' }, e)).every((x) => x.phase === 'ce' && x.lambda === 0));
});

function engine(kind: 'sgd' | 'adam') {
  return new TfjsEngine({
    model: createModel('lenet-gap', 5, initialWeights('lenet-gap', 5)), method: 'align',
    attention: createAttention('cam'), loss: createLoss('kl'), optimizer: { ...DEFAULT_OPTIMIZER, kind },
  });
}
function batch(n: number) {
  const rng = createRng('sched-batch');
  const targets = new Float32Array(n * 100);
  for (let i = 0; i < n; i++) for (let k = 0; k < 10; k++) targets[i * 100 + rng.int(100)] += 0.1;
  return {
    size: n, images: Float32Array.from({ length: n * 3072 }, () => rng.next() * 2 - 1),
    labels: Int32Array.from({ length: n }, (_, i) => i % 10), targets,
  };
}

test('SGD follows torch.optim.SGD (weight decay in the gradient, momentum buffer); reset zeroes the state; no tensor leak', () => {
  const e = engine('sgd');
  const b = batch(8);
  e.trainStep(b, { phase: 'combined', lambda: 160, lr: 1e-3 });
  const s1 = e.getState();
  const w0 = initialWeights('lenet-gap', 5);
  // first step: buf = g + wd*p0, p1 = p0 - lr*buf  =>  buf = (p0 - p1)/lr
  const k = 'fc.w';
  const buf = s1.slots[`momentum/${k}`].data;
  for (let i = 0; i < buf.length; i++) assert.ok(Math.abs((w0[k].data[i] - s1.weights[k].data[i]) / 1e-3 - buf[i]) < 1e-3 * Math.max(1, Math.abs(buf[i])));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) e.trainStep(b, { phase: i % 2 ? 'ce' : 'combined', lambda: 160, lr: 1e-3 });
  e.evaluate({ size: 8, images: b.images, labels: b.labels, targets: b.targets });
  assert.equal(tf.memory().numTensors, before, 'numTensors stays flat across steps');
  e.resetOptimizer();
  const s2 = e.getState();
  assert.equal(s2.step, 0);
  assert.ok(Object.values(s2.slots).every((v) => v.data.every((x) => x === 0)));
  assert.deepEqual(s2.weights[k].data, e.getState().weights[k].data);
  e.dispose();
});

test('Adam: state round-trips through getState/setState (identical continuation)', () => {
  const a = engine('adam'), b2 = engine('adam');
  const b = batch(8);
  a.trainStep(b, { phase: 'combined', lambda: 10, lr: 1e-3 });
  b2.setState(a.getState());
  const la = a.trainStep(b, { phase: 'combined', lambda: 10, lr: 1e-3 });
  const lb = b2.trainStep(b, { phase: 'combined', lambda: 10, lr: 1e-3 });
  assert.deepEqual(la, lb);
  assert.deepEqual(a.getState().weights['conv1.w'].data, b2.getState().weights['conv1.w'].data);
  assert.equal(a.getState().step, 2);
  a.dispose(); b2.dispose();
});
