import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FusedLeNetGap, PARAM_ORDER, PARAM_COUNT, unflattenParams, type FusedAttention } from '../lib/engines/fused/kernel';
import { FusedEngine, fusedUnsupported } from '../lib/engines/fused/engine';
import { TfjsEngine } from '../lib/engines/tfjs/engine';
import { DEFAULT_OPTIMIZER, type OptimizerConfig, type StepOptions, type TrainBatch } from '../lib/engines/types';
import { PAPER_DEFAULTS } from '../lib/train/config';
import { createModel, initialWeights } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { createRng } from '../lib/util/rng';
import { makeWeights, drawBlob } from './engines-fused-helpers';

/**
 * The fused kernel's align step with Grad-CAM and input-gradient attention (paper KL) against the tfjs engine's own
 * attention code (lib/attention/gradcam.ts, inputgrad.ts, lib/losses/kl.ts) on the cpu backend: loss pieces and every
 * parameter's gradient, finite differences, evaluation's reverse KL, whole engine steps with Adam and SGD, and the
 * optimizer state's round trip through getState/setState.
 */

const B = 5;
const ATTENTIONS: FusedAttention[] = ['gradcam', 'inputgrad'];

/** Coloured blobs on a -1 background (MNIST-like), labels, and target distributions on the 10x10 grid. */
function makeBatch(seed: number, n: number): TrainBatch & { targets: Float32Array } {
  const rng = createRng(`fused-att-batch:${seed}`);
  const images = new Float32Array(n * 3072).fill(-1);
  const labels = new Int32Array(n);
  const targets = new Float32Array(n * 100);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(10);
    drawBlob(rng, images, i, 6);
    let s = 0;
    for (let k = 0; k < 100; k++) { const v = rng.next() < 0.3 ? rng.next() : 0; targets[i * 100 + k] = v; s += v; }
    for (let k = 0; k < 100; k++) targets[i * 100 + k] /= s;
  }
  return { size: n, images, labels, targets };
}

/** ceWeight * CE + lambda * paper KL of the attention map, by tfjs autodiff through lib/attention (as TfjsEngine). */
function reference(flat: Float32Array, batch: ReturnType<typeof makeBatch>, attention: FusedAttention, lambda: number, ceWeight: number, temperature: number) {
  const att = createAttention(attention);
  const out = tf.tidy(() => {
    const model = createModel('lenet-gap', 0, unflattenParams(flat));
    const vars = model.params.map((p) => p.variable);
    const x = tf.tensor4d(batch.images.subarray(0, B * 3072), [B, 32, 32, 3]);
    const y = tf.tensor1d(batch.labels.subarray(0, B), 'int32');
    const q = tf.tensor2d(batch.targets.subarray(0, B * 100), [B, 100]);
    const loss = createLoss('kl', { temperature });
    let ce!: tf.Scalar, kl!: tf.Scalar;
    const { value, grads } = tf.variableGrads(() => {
      const fwd = model.forward(x, { secondOrder: true });
      ce = tf.keep(tf.neg(tf.div(tf.sum(tf.mul(tf.oneHot(y, 10).asType('float32'), tf.logSoftmax(fwd.logits, 1))), B))) as tf.Scalar;
      kl = tf.keep(loss.loss(att.map({ model, x, labels: y, forward: fwd, training: true }), q));
      return tf.add(tf.mul(ce, ceWeight), tf.mul(kl, lambda)) as tf.Scalar;
    }, vars);
    const g = new Float32Array(PARAM_COUNT);
    let off = 0;
    for (const v of vars) { g.set(grads[v.name].dataSync(), off); off += v.size; }
    const r = { loss: value.dataSync()[0], ce: ce.dataSync()[0], kl: kl.dataSync()[0], grads: g };
    model.dispose();
    return r;
  });
  att.dispose?.();
  return out;
}

function maxRel(a: Float32Array, b: Float32Array, from = 0, to = a.length): number {
  let d = 0, m = 0;
  for (let i = from; i < to; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / Math.max(m, 1e-12);
}

function assertClose(got: Float32Array, ref: Float32Array, tol: number, what: string): void {
  let off = 0;
  for (const p of PARAM_ORDER) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const e = maxRel(got, ref, off, off + n);
    assert.ok(e < tol, `${what} ${p.name}: relative error ${e.toExponential(2)} >= ${tol}`);
    off += n;
  }
}

const CASES = [
  { name: 'combined', lambda: 160, ceWeight: 1, temperature: 1 },
  { name: 'attention only', lambda: 1, ceWeight: 0, temperature: 1 },
  { name: 'T = 0.25', lambda: 5, ceWeight: 1, temperature: 0.25 },
];

for (const attention of ATTENTIONS) {
  test(`fused engine: align with ${attention} (paper KL): loss and every gradient match tfjs autodiff`, async () => {
    await tf.setBackend('cpu');
    const eng = FusedLeNetGap.createSync();
    const batch = makeBatch(1, B);
    for (const [seed, c] of CASES.entries()) {
      const w = makeWeights('fused-att', seed);
      eng.setParams(w);
      const ref = reference(w, batch, attention, c.lambda, c.ceWeight, c.temperature);
      const got = eng.computeGradients(B, batch.images, batch.labels, batch.targets, { ...c, attention });
      const what = `${attention} ${c.name}`;
      assert.ok(Math.abs(got.ce - ref.ce) < 1e-5 * Math.max(1, ref.ce), `${what}: ce ${got.ce} vs ${ref.ce}`);
      assert.ok(Math.abs(got.kl - ref.kl) < 1e-4 * Math.max(1e-3, ref.kl), `${what}: kl ${got.kl} vs ${ref.kl}`);
      assert.ok(Math.abs(got.loss - ref.loss) < 1e-4 * Math.max(1, Math.abs(ref.loss)), `${what}: loss ${got.loss} vs ${ref.loss}`);
      assertClose(eng.getGradients(), ref.grads, 5e-4, what);
      assert.deepEqual(eng.getParams(), w, 'computing gradients does not change the weights');
    }
  });
}

test('fused engine: Grad-CAM and input-gradient KL gradients agree with central finite differences (noise images)', () => {
  const eng = FusedLeNetGap.createSync();
  const rng = createRng('fused-att-fd');
  const w = new Float32Array(PARAM_COUNT).map(() => (rng.next() * 2 - 1) * 0.2);
  const n = 2;
  const images = new Float32Array(n * 3072).map(() => rng.next() * 2 - 1);
  const labels = Int32Array.from([3, 5]);
  const targets = new Float32Array(n * 100).map(() => rng.next());
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 100; k++) s += targets[i * 100 + k];
    for (let k = 0; k < 100; k++) targets[i * 100 + k] /= s;
  }
  for (const attention of ATTENTIONS) {
    const loss = (ww: Float32Array) => {
      eng.setParams(ww);
      return eng.computeGradients(n, images, labels, targets, { lambda: 10, ceWeight: 0, attention, temperature: 0.5 }).loss;
    };
    loss(w);
    const g = eng.getGradients();
    let checked = 0;
    const misses: string[] = [];
    // conv1, conv2 and fc weights of the two labels' columns; two step sizes (float32 noise below, ReLU, pooling,
    // min/max and |g| kinks above: |g| has a kink wherever an input-gradient entry crosses 0, and noise images have
    // many): the gradient must match the difference at one of them, for all indices but at most one (a kink at both
    // step sizes is possible; a wrong gradient fails nearly all of them)
    for (const i of [101, 300, 449, 1000, 2000, 2875, 2885, 2897, 2917, 2945, 3010]) {
      const fds = [1e-3, 3e-4].map((h) => {
        const a = Float32Array.from(w); a[i] += h;
        const b = Float32Array.from(w); b[i] -= h;
        return (loss(a) - loss(b)) / (2 * h);
      });
      if (!fds.some((fd) => Math.abs(fd - g[i]) < 0.03 * Math.abs(g[i]) + 2e-3)) misses.push(`parameter ${i}: kernel ${g[i]} vs finite differences ${fds.join(', ')}`);
      else if (Math.abs(g[i]) > 1e-2) checked++;
    }
    assert.ok(misses.length <= 1, `${attention}: ${misses.join('; ')}`);
    assert.ok(checked >= 4, `${attention}: too few gradients large enough to check (${checked})`);
  }
});

test('fused engine: evaluation reverse KL of Grad-CAM and input-gradient maps matches tfjs', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const w = makeWeights('fused-att', 3);
  eng.setParams(w);
  const n = B, batch = makeBatch(5, n);
  for (const attention of ATTENTIONS) {
    const r = eng.evaluate(n, batch.images, batch.labels, batch.targets, 0.5, undefined, attention);
    const att = createAttention(attention);
    const want = tf.tidy(() => {
      const model = createModel('lenet-gap', 0, unflattenParams(w));
      const x = tf.tensor4d(batch.images.subarray(0, n * 3072), [n, 32, 32, 3]);
      const y = tf.tensor1d(batch.labels.subarray(0, n), 'int32');
      const lp = createLoss('kl', { temperature: 0.5 }).logDistribution(att.map({ model, x, labels: y, forward: model.forward(x), training: false }));
      const q = tf.tensor2d(batch.targets.subarray(0, n * 100), [n, 100]);
      const kl = tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, tf.log(tf.add(q, 1e-8))))).dataSync()[0];
      model.dispose();
      return kl;
    });
    att.dispose?.();
    assert.ok(Math.abs(r.klSum! - want) < 1e-4 * Math.abs(want), `${attention}: klSum ${r.klSum} vs ${want}`);
  }
});

const ADAM: OptimizerConfig = { ...DEFAULT_OPTIMIZER, kind: 'adam', weightDecay: 1e-3 };
const STEPS: StepOptions[] = [
  { phase: 'attention', lambda: 0, lr: 0.01 },
  { phase: 'combined', lambda: 50, lr: 0.005 },
  { phase: 'ce', lambda: 0, lr: 0.005 },
  { phase: 'combined', lambda: 20, lr: 0.002 },
];

for (const attention of ATTENTIONS) {
  test(`FusedEngine follows TfjsEngine with Adam (align + ${attention}): losses, weights, both moments, evaluation`, async () => {
    await tf.setBackend('cpu');
    const w = initialWeights('lenet-gap', 8);
    const ref = new TfjsEngine({ model: createModel('lenet-gap', 8, w), method: 'align', attention: createAttention(attention), loss: createLoss('kl'), optimizer: ADAM });
    const fused = new FusedEngine({ method: 'align', attention, optimizer: ADAM, initialWeights: w });
    STEPS.forEach((o, i) => {
      const b = makeBatch(20 + i, 4);
      const lr = ref.trainStep(b, o), lf = fused.trainStep(b, o);
      for (const k of ['loss', 'ce', 'att'] as const) {
        assert.ok(Math.abs(lf[k] - lr[k]) <= 1e-4 * Math.max(1, Math.abs(lr[k])), `step ${i} (${o.phase}) ${k}: fused ${lf[k]} vs tfjs ${lr[k]}`);
      }
      const sr = ref.getState(), sf = fused.getState();
      assert.equal(sf.step, sr.step);
      for (const name of Object.keys(sr.weights)) {
        // Adam normalises each coordinate: a weight whose gradient is float-rounding noise moves by up to lr either way
        let d = 0;
        for (let j = 0; j < sr.weights[name].data.length; j++) d = Math.max(d, Math.abs(sf.weights[name].data[j] - sr.weights[name].data[j]));
        assert.ok(d < 1e-4, `step ${i}: weights ${name}: max difference ${d}`);
        assert.ok(maxRel(sf.slots[`adam.m/${name}`].data, sr.slots[`adam.m/${name}`].data) < 1e-4, `step ${i}: adam.m ${name}`);
        assert.ok(maxRel(sf.slots[`adam.v/${name}`].data, sr.slots[`adam.v/${name}`].data) < 1e-4, `step ${i}: adam.v ${name}`);
      }
      // both continue from the fused engine's state (weights, moments, step count: checkpoints move between the
      // engines): a 1e-6 weight difference can move an input-gradient entry across 0 (a kink of |g|) and change the
      // next gradient by a finite amount, which is not what this test is about
      ref.setState(sf);
    });
    const ev = makeBatch(9, 6);
    const er = ref.evaluate(ev), ef = fused.evaluate(ev);
    assert.equal(ef.correct, er.correct);
    assert.ok(Math.abs(ef.attKlSum! - er.attKlSum!) < 1e-3 * Math.abs(er.attKlSum!), `attKlSum ${ef.attKlSum} vs ${er.attKlSum}`);
    ref.dispose();
  });
}

test('FusedEngine: SGD and Adam state round trip through getState/setState continues bit-identically', () => {
  for (const [optimizer, attention] of [[{ ...DEFAULT_OPTIMIZER }, 'gradcam'], [ADAM, 'inputgrad'], [ADAM, 'gradcam']] as const) {
    const a = new FusedEngine({ method: 'align', attention, optimizer, initialWeights: initialWeights('lenet-gap', 3) });
    for (let i = 0; i < 2; i++) a.trainStep(makeBatch(40 + i, 4), STEPS[1]);
    const state = a.getState();
    assert.equal(state.step, 2);
    const b = new FusedEngine({ method: 'align', attention, optimizer, initialWeights: initialWeights('lenet-gap', 4) });
    b.setState(state);
    const next = makeBatch(50, 4);
    const la = a.trainStep(next, STEPS[3]), lb = b.trainStep(next, STEPS[3]);
    assert.equal(lb.loss, la.loss);
    const sa = a.getState(), sb = b.getState();
    assert.equal(sb.step, 3);
    for (const name of Object.keys(sa.weights)) assert.deepEqual(sb.weights[name].data, sa.weights[name].data, `${optimizer.kind} weights ${name}`);
    for (const k of Object.keys(sa.slots)) assert.deepEqual(sb.slots[k].data, sa.slots[k].data, `${optimizer.kind} slot ${k}`);
    // the slots are the ones the tfjs engine names (checkpoints move between engines)
    assert.ok(Object.keys(sa.slots).every((k) => k.startsWith(optimizer.kind === 'adam' ? 'adam.' : 'momentum/')));
  }
});

test('fusedUnsupported: align with gradcam and inputgrad runs fused (engine auto picks it)', () => {
  for (const attention of ['cam', 'gradcam', 'inputgrad'] as const) {
    assert.equal(fusedUnsupported({ ...PAPER_DEFAULTS, attention }), undefined);
    assert.equal(fusedUnsupported({ ...PAPER_DEFAULTS, attention, optimizer: 'adam' }), undefined);
  }
  assert.match(fusedUnsupported({ ...PAPER_DEFAULTS, attention: 'gradcam', loss: 'kl-dist' })!, /'kl' loss/);
});
