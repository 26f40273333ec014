import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FusedEngine, fusedUnsupported } from '../lib/engines/fused/engine';
import { TfjsEngine } from '../lib/engines/tfjs/engine';
import { DEFAULT_OPTIMIZER, type TrainBatch } from '../lib/engines/types';
import { createModel, initialWeights } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { PAPER_DEFAULTS } from '../lib/train/config';
import { createRng } from '../lib/util/rng';
import { getEngineFactory } from '../lib/engines/registry';
import '../lib/train/trainer'; // registers the tfjs, fused and auto engines

/** The fused engine behind the trainer's TrainEngine interface, step for step against the trainer's own
 * tfjs engine (cpu backend) with the same initial weights: phases, losses, weights, evaluation, state. */

function batch(seed: number, n: number): TrainBatch {
  const rng = createRng(`adapter:${seed}`);
  const images = new Float32Array(n * 3072);
  for (let i = 0; i < images.length; i++) images[i] = rng.next() < 0.6 ? -1 : rng.next() * 2 - 1;
  const labels = new Int32Array(n).map(() => rng.int(10));
  const targets = new Float32Array(n * 100);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 100; k++) { const v = rng.next() < 0.25 ? rng.next() : 0; targets[i * 100 + k] = v; s += v; }
    for (let k = 0; k < 100; k++) targets[i * 100 + k] /= s;
  }
  return { size: n, images, labels, targets };
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / Math.max(m, 1e-12);
}

test('FusedEngine follows TfjsEngine (lenet-gap + cam + kl + sgd) through attention, ce and combined steps', async () => {
  await tf.setBackend('cpu');
  const w = initialWeights('lenet-gap', 5);
  const optimizer = { ...DEFAULT_OPTIMIZER, momentum: 0.9, weightDecay: 1e-4 };
  const ref = new TfjsEngine({ model: createModel('lenet-gap', 5, w), method: 'align', attention: createAttention('cam'), loss: createLoss('kl'), optimizer });
  const fused = new FusedEngine({ method: 'align', optimizer, initialWeights: w });
  const steps = [
    { phase: 'attention' as const, lambda: 0, lr: 0.01 },
    { phase: 'ce' as const, lambda: 0, lr: 0.01 },
    { phase: 'combined' as const, lambda: 50, lr: 0.005 },
  ];
  steps.forEach((o, i) => {
    const b = batch(i, 5);
    const lr = ref.trainStep(b, o), lf = fused.trainStep(b, o);
    for (const k of ['loss', 'ce', 'att'] as const) {
      assert.ok(Math.abs(lf[k] - lr[k]) <= 1e-4 * Math.max(1, Math.abs(lr[k])), `step ${i} (${o.phase}) ${k}: fused ${lf[k]} vs tfjs ${lr[k]}`);
    }
  });
  const sr = ref.getState(), sf = fused.getState();
  for (const name of Object.keys(sr.weights)) {
    assert.ok(maxRel(sf.weights[name].data, sr.weights[name].data) < 1e-4, `weights ${name}`);
    assert.ok(maxRel(sf.slots[`momentum/${name}`].data, sr.slots[`momentum/${name}`].data) < 2e-4, `momentum ${name}`);
  }
  const ev = batch(9, 7);
  const er = ref.evaluate(ev), ef = fused.evaluate(ev);
  assert.equal(ef.correct, er.correct);
  assert.ok(Math.abs(ef.attKlSum! - er.attKlSum!) < 1e-4 * Math.abs(er.attKlSum!), `attKlSum ${ef.attKlSum} vs ${er.attKlSum}`);
  // state round trip, and resetOptimizer zeroes momentum
  const copy = new FusedEngine({ method: 'align', optimizer, initialWeights: initialWeights('lenet-gap', 6) });
  copy.setState(sf);
  assert.deepEqual(copy.getState().weights['conv2.w'].data, sf.weights['conv2.w'].data);
  copy.resetOptimizer();
  assert.ok(copy.getState().slots['momentum/fc.w'].data.every((v) => v === 0));
  ref.dispose();
});

test('FusedEngine: batches larger than the kernel maximum give the same step as one call', () => {
  const w = initialWeights('lenet-gap', 2);
  const a = new FusedEngine({ method: 'align', optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  const b = new FusedEngine({ method: 'align', optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  (b as any).k.maxBatch = 3; // force chunking
  const x = batch(3, 8);
  const o = { phase: 'combined' as const, lambda: 160, lr: 1e-3 };
  const la = a.trainStep(x, o), lb = b.trainStep(x, o);
  assert.ok(Math.abs(la.loss - lb.loss) < 1e-4 * Math.abs(la.loss));
  assert.ok(maxRel(b.getState().weights['conv1.w'].data, a.getState().weights['conv1.w'].data) < 1e-5);
});

test('fusedUnsupported names what the fused engine cannot run', () => {
  assert.equal(fusedUnsupported(PAPER_DEFAULTS), undefined);
  assert.equal(fusedUnsupported({ ...PAPER_DEFAULTS, method: 'vanilla' }), undefined);
  assert.match(fusedUnsupported({ ...PAPER_DEFAULTS, model: 'cdep' })!, /lenet-gap/);
  assert.equal(fusedUnsupported({ ...PAPER_DEFAULTS, attention: 'gradcam' }), undefined);
  assert.equal(fusedUnsupported({ ...PAPER_DEFAULTS, attention: 'inputgrad', optimizer: 'adam' }), undefined);
  assert.equal(fusedUnsupported({ ...PAPER_DEFAULTS, method: 'rrr' }), undefined);
  assert.match(fusedUnsupported({ ...PAPER_DEFAULTS, loss: 'kl-dist' })!, /'kl' loss/);
});

test("engine registry: 'fused' refuses what it cannot run, 'auto' picks fused or tfjs", async () => {
  const args = (c: typeof PAPER_DEFAULTS) => ({ config: c, optimizer: DEFAULT_OPTIMIZER, initialWeights: initialWeights(c.model, 1) });
  const paper = { ...PAPER_DEFAULTS, engine: 'auto' };
  assert.equal(getEngineFactory('auto', paper).create(args(paper)).name, 'fused');
  const cdep = { ...PAPER_DEFAULTS, model: 'cdep' as const, attention: 'gradcam' as const, engine: 'auto' };
  await tf.setBackend('cpu');
  const e = getEngineFactory('auto', cdep).create(args(cdep));
  assert.equal(e.name, 'tfjs');
  e.dispose();
  assert.throws(() => getEngineFactory('fused', cdep), /cannot run this configuration: it implements only the lenet-gap model/);
});
